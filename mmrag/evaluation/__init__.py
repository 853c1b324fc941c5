"""Evaluation: the runners that measure the jobs (caption, ask/VQA, poem, search, the VLM) and compare
generators; the scores themselves are in ``mmrag/metrics``."""

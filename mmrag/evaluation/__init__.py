"""Evaluation: caption metrics (BLEU-4, CIDEr) and the runners that compare generators."""

"""Our own LLaVA-style vision-language model: a frozen vision encoder, a trainable MLP projector into a
small LM's embedding space, and the LM (frozen in stage 1, LoRA / QLoRA in stage 2).

    vision.py    frozen vision backbones (EfficientNet-Lite0 offline, CLIP vision towers) + feature cache
    model.py     Projector and VisionLanguageModel (forward, greedy generation, save/load as one dir)
    data.py      training samples from easy-VQA, VQAv2, COCO captions or captions.json
    generate.py  batched answers and captions from a trained model

What to build and how to train it is ``mmrag.config.VLMTrainSettings`` (``Settings.vlm.train``); training
(the two stages with the Hugging Face Trainer) is ``mmrag/finetune/vlm.py``; measuring a trained
model (VQA accuracy, BLEU-4/CIDEr) is ``mmrag/evaluation/vlm_eval.py``.
"""

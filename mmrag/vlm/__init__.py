"""Our own LLaVA-style vision-language model: a frozen vision encoder, a trainable MLP projector into a
small LM's embedding space, and the LM (frozen in stage 1, LoRA / QLoRA in stage 2).

    settings.py  VLMSettings (what to build and how to train it)
    vision.py    frozen vision backbones (EfficientNet-Lite0 offline, CLIP vision towers) + feature cache
    model.py     Projector and VisionLanguageModel (forward, greedy generation, save/load as one dir)
    data.py      training samples from easy-VQA, VQAv2, COCO captions or captions.json
    train.py     the two training stages with the Hugging Face Trainer
    generate.py  batched answers and captions from a trained model
    evaluate.py  VQA accuracy and BLEU-4/CIDEr of a trained model
"""

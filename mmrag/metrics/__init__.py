"""Pure scoring, no models and no stores: caption (BLEU-4, CIDEr-D), VQA accuracy, ranking (IR).

    caption.py  corpus BLEU-4 and CIDEr-D (pycocoevalcap)
    vqa.py      the official VQAv2 accuracy and exact match
    ir.py       NDCG / MAP / Recall / P / MRR over judged queries (ranx)
"""

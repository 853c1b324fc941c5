"""Tiny random-init models, saved the way real ones are published, so tests load them back through
the same code users run (no hub). Sizes follow transformers' ``*ModelTester.get_config``: hidden 32,
2 layers. Every helper is deterministic (``torch.manual_seed``) and returns the path to load.

Tokenizers are built offline with the ``tokenizers`` library: a word-level vocabulary over
``CORPUS`` plus special tokens, wrapped in ``PreTrainedTokenizerFast``.
"""

from __future__ import annotations

import json
from pathlib import Path

CORPUS = (
    "a photo of a cat sitting on a red sofa",
    "a dog runs across the green grass in the park",
    "two people ride bicycles along the river at sunset",
    "a bowl of fruit and a cup of coffee on a wooden table",
    "describe the image in one sentence",
    "the moon rises over the quiet mountain temple",
    "question answer caption context poem title author",
)
HIDDEN = 32
LAYERS = 2
HEADS = 4
INTERMEDIATE = 37

# Built-in style chat template for the tiny causal model.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
TINY_OPEN_CLIP_CFG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": LAYERS, "width": HIDDEN, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": HIDDEN, "heads": 2, "layers": LAYERS},
}
OPEN_CLIP_PREPROCESS = {
    "mean": [0.48145466, 0.4578275, 0.40821073],
    "std": [0.26862954, 0.26130258, 0.27577711],
    "interpolation": "bicubic",
    "resize_mode": "shortest",
}


def _vocab_words() -> list[str]:
    words: list[str] = []
    for sentence in CORPUS:
        for w in sentence.split():
            if w not in words:
                words.append(w)
    return words


def build_word_tokenizer(specials: list[str], *, bos: str | None, eos: str, pad: str, unk: str,
                         extra_specials: tuple[str, ...] = (), model_max_length: int = 128):
    """A word-level fast tokenizer over ``CORPUS``; appends ``eos`` (and prepends ``bos``) to inputs."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([*specials, *extra_specials, *_vocab_words()])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    single = (f"{bos} " if bos else "") + f"$A {eos}"
    tok.post_processor = processors.TemplateProcessing(
        single=single, special_tokens=[(t, vocab[t]) for t in (bos, eos) if t]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad, unk_token=unk,
        additional_special_tokens=list(extra_specials) or None, model_max_length=model_max_length,
    )


def save_tiny_hf_clip(directory: str | Path) -> str:
    """A transformers ``CLIPModel`` directory: config, weights, image processor, tokenizer."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    out = Path(directory)
    tokenizer = build_word_tokenizer(["[PAD]", "[UNK]", "[BOS]", "[EOS]"], bos="[BOS]", eos="[EOS]",
                                     pad="[PAD]", unk="[UNK]", model_max_length=32)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=INTERMEDIATE,
            num_hidden_layers=LAYERS, num_attention_heads=HEADS, max_position_embeddings=32,
            pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        ),
        vision_config=dict(
            hidden_size=HIDDEN, intermediate_size=INTERMEDIATE, num_hidden_layers=LAYERS,
            num_attention_heads=HEADS, image_size=32, patch_size=8,
        ),
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(out)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def _tiny_open_clip_model():
    import open_clip
    import torch

    torch.manual_seed(0)
    return open_clip.CLIP(**json.loads(json.dumps(TINY_OPEN_CLIP_CFG)))


def save_tiny_open_clip(directory: str | Path) -> str:
    """An open_clip model directory (``open_clip_config.json`` + ``open_clip_model.safetensors``), the
    layout ``push_to_hf_hub`` writes and ``create_model("local-dir:...")`` reads."""
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    model = _tiny_open_clip_model()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "open_clip_model.safetensors"))
    config = {"model_cfg": TINY_OPEN_CLIP_CFG, "preprocess_cfg": OPEN_CLIP_PREPROCESS}
    (out / "open_clip_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return str(out)


def save_tiny_open_clip_checkpoint(directory: str | Path, arch: str = "mmrag-tiny-clip") -> tuple[str, str]:
    """Register a tiny architecture with ``open_clip.add_model_config`` and save a ``.pt`` checkpoint
    for it: the ``model=arch, pretrained=ckpt`` path. Returns (arch, checkpoint path)."""
    import open_clip
    import torch

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{arch}.json").write_text(json.dumps(TINY_OPEN_CLIP_CFG), encoding="utf-8")
    open_clip.add_model_config(out / f"{arch}.json")
    ckpt = out / "tiny_clip.pt"
    torch.save({"state_dict": _tiny_open_clip_model().state_dict()}, ckpt)
    return arch, str(ckpt)


def save_tiny_sentence_transformer(directory: str | Path) -> str:
    """A tiny BERT (word-piece vocab written here) + mean pooling, saved as a sentence-transformers model."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Pooling, Transformer
    from sentence_transformers import SentenceTransformer

    out = Path(directory)
    bert_dir = out.parent / f"{out.name}-bert"
    bert_dir.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_vocab_words(), "query", ":", "passage"]
    (bert_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # transformers 5 ignores ``vocab_file=`` in the constructor (it wants ``vocab=``); from_pretrained
    # reads vocab.txt in both 4 and 5.
    tokenizer = BertTokenizerFast.from_pretrained(str(bert_dir), do_lower_case=True, model_max_length=64)
    if tokenizer.convert_tokens_to_ids("cat") == tokenizer.unk_token_id:
        raise RuntimeError(f"tiny BERT tokenizer did not pick up {bert_dir / 'vocab.txt'}")
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE, max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(bert_dir)
    tokenizer.save_pretrained(bert_dir)
    transformer = Transformer(str(bert_dir), max_seq_length=64)
    SentenceTransformer(modules=[transformer, Pooling(HIDDEN, "mean")], device="cpu").save(str(out))
    return str(out)


def save_tiny_t5(directory: str | Path) -> str:
    """A tiny ``T5ForConditionalGeneration`` with an offline word-level tokenizer."""
    import torch
    from transformers import GenerationConfig, T5Config, T5ForConditionalGeneration

    out = Path(directory)
    tokenizer = build_word_tokenizer(["<pad>", "</s>", "<unk>"], bos=None, eos="</s>", pad="<pad>", unk="<unk>")
    config = T5Config(
        vocab_size=len(tokenizer), d_model=HIDDEN, d_kv=8, d_ff=INTERMEDIATE, num_layers=LAYERS,
        num_decoder_layers=LAYERS, num_heads=HEADS, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(config)
    model.generation_config = GenerationConfig(pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def save_tiny_causal_lm(directory: str | Path, chat_template: bool = True) -> str:
    """A tiny ``LlamaForCausalLM`` with an offline tokenizer and (optionally) a chat template."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out = Path(directory)
    roles = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
    tokenizer = build_word_tokenizer(["<pad>", "<unk>", "<s>", "</s>"], bos="<s>", eos="</s>", pad="<pad>",
                                     unk="<unk>", extra_specials=roles)
    if chat_template:
        tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=INTERMEDIATE, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=2, max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def save_tiny_lora_adapter(base_dir: str | Path, directory: str | Path) -> str:
    """A PEFT LoRA adapter (random, non-zero B) for the tiny causal LM in ``base_dir``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(base_dir))
    config = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(str(directory))
    return str(directory)

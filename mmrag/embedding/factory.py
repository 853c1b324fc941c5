"""Build encoders from settings. Imports are lazy so the CLI starts fast."""

from __future__ import annotations

from pathlib import Path

from mmrag.config import ImageEncoderSettings, TextEncoderSettings
from mmrag.embedding.protocols import ImageEncoder, TextEncoder
from mmrag.errors import ConfigError


def build_text_encoder(s: TextEncoderSettings) -> TextEncoder:
    if s.kind == "use":
        from mmrag.embedding.text_offline import USETextEncoder

        return USETextEncoder(threads=s.threads, batch_size=s.batch_size)
    if s.kind == "e5":
        from mmrag.embedding.text_offline import E5TextEncoder

        return E5TextEncoder(batch_size=s.batch_size)
    if s.kind == "sentence_transformers":
        from mmrag.embedding.st_text import SentenceTransformerTextEncoder

        return SentenceTransformerTextEncoder(s.model, device=s.device, batch_size=s.batch_size)
    raise ConfigError(f"unknown text_encoder.kind {s.kind!r}")


def build_image_encoder(s: ImageEncoderSettings, text_encoder: TextEncoder, cache_dir: Path | None = None) -> ImageEncoder:
    if s.kind == "efficientnet_conse":
        from mmrag.embedding.efficientnet_conse import EfficientNetConSEEncoder

        return EfficientNetConSEEncoder(
            text_encoder, conse_top_k=s.conse_top_k, tags_top_k=s.tags_top_k, batch_size=s.batch_size, device=s.device, cache_dir=cache_dir
        )
    if s.kind == "open_clip":
        from mmrag.embedding.open_clip_encoder import OpenClipImageEncoder

        return OpenClipImageEncoder(s.model, pretrained=s.pretrained, device=s.device, batch_size=s.batch_size, tags_top_k=s.tags_top_k)
    if s.kind == "hf_clip":
        from mmrag.embedding.hf_clip import HFClipImageEncoder

        return HFClipImageEncoder(s.model, device=s.device, batch_size=s.batch_size, tags_top_k=s.tags_top_k)
    raise ConfigError(f"unknown image_encoder.kind {s.kind!r}")

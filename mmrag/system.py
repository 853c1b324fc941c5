"""The application object: settings in, lazily built components out.

    from mmrag import MMRag
    app = MMRag.from_config()          # or MMRag.from_config("mmrag.yaml", profile="hub")
    result = app.caption("photo.jpg")  # caption, neighbours, tags, prompt, timings
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

from mmrag.config import Settings, load_settings
from mmrag.schema import CAPTION, SEMANTIC, VISUAL, CaptionResult, SourceItem

log = logging.getLogger(__name__)


class MMRag:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()  # a bad value is a ConfigError naming key, value and source

    @classmethod
    def from_config(cls, config_file: str | Path | None = None, **overrides: Any) -> "MMRag":
        return cls(load_settings(config_file, **overrides))

    # -- components (built on first use) ---------------------------------------------------
    @cached_property
    def text_encoder(self):
        from mmrag.embedding.factory import build_text_encoder

        return build_text_encoder(self.settings.text_encoder)

    @cached_property
    def poem_text_encoder(self):
        """The encoder of the poem collection: ``poem.text_encoder`` if set (e.g. a tuned one), else ``text_encoder``."""
        if self.settings.poem.text_encoder is None:
            return self.text_encoder
        from mmrag.embedding.factory import build_text_encoder

        return build_text_encoder(self.settings.poem.text_encoder)

    @cached_property
    def image_encoder(self):
        from mmrag.embedding.factory import build_image_encoder

        return build_image_encoder(self.settings.image_encoder, self.text_encoder, cache_dir=self.settings.home / "cache")

    @cached_property
    def store(self):
        from mmrag.retrieval.store import QdrantStore

        return QdrantStore(self.settings.qdrant, home=self.settings.home)

    @cached_property
    def llm(self):
        from mmrag.generation.factory import build_llm

        return build_llm(self.settings.generator, self.settings.models_dir)

    @cached_property
    def retriever(self):
        from mmrag.retrieval.image_retriever import ImageRetriever

        return ImageRetriever(
            self.image_encoder, self.store, self.settings.qdrant.collection, self.settings.retrieval, tag_min_confidence=self.settings.grounding.tag_min_confidence
        )

    @cached_property
    def caption_engine(self):
        from mmrag.jobs.caption import CaptionQueryEngine

        return CaptionQueryEngine(self.retriever, self.llm, grounding=self.settings.grounding)

    @cached_property
    def ask_engine(self):
        """The trained VLM when ``vlm.path`` is set, else the zero-shot retrieval-augmented engine."""
        if self.settings.vlm.path:
            from mmrag.jobs.vlm_ask import VLMAskQueryEngine
            from mmrag.vlm.generate import VLMGenerator

            v = self.settings.vlm
            return VLMAskQueryEngine(VLMGenerator(v.path, home=self.settings.home, batch_size=v.batch_size, threads=v.threads))
        from mmrag.jobs.ask import AskQueryEngine

        return AskQueryEngine(self.retriever, self.llm, grounding=self.settings.grounding)

    def images_spec(self):
        """The images collection as the configured models would build it (no model is loaded)."""
        from mmrag.retrieval.store import CollectionSpec

        ie, te = self.image_encoder, self.text_encoder
        return CollectionSpec(
            name=self.settings.qdrant.collection,
            vectors={VISUAL: ie.visual_dim, SEMANTIC: ie.semantic_dim, CAPTION: te.dim},
            models={VISUAL: ie.name, SEMANTIC: ie.name, CAPTION: te.name},
        )

    # -- jobs ------------------------------------------------------------------------------
    def ingest(self, items: Sequence[SourceItem], batch_size: int | None = None, progress: bool = True):
        from mmrag.ingestion.pipeline import IngestionPipeline

        bs = batch_size or self.settings.image_encoder.batch_size
        return IngestionPipeline(
            self.image_encoder, self.text_encoder, self.store, self.images_spec(), batch_size=bs, home=self.settings.home
        ).run(items, progress)

    def ensure_knowledge_base(self, progress: bool = True):
        """Ingest the bundled photos unless the collection already holds them (ids make it idempotent)."""
        from mmrag.ingestion.sources import bundled_kb

        items = bundled_kb()
        spec = self.images_spec()
        if self.store.exists(spec.name):
            self.store.check_collection(spec)
            if self.store.count(spec.name) >= len(items):
                return None
        return self.ingest(items, progress=progress)

    def caption(self, image, top_k: int | None = None) -> CaptionResult:
        if self.store.exists(self.settings.qdrant.collection):
            self.store.check_collection(self.images_spec())
        return self.caption_engine.caption(image, top_k=top_k)

    def ask(self, image, question: str, top_k: int | None = None):
        """VQA: an ``AskResult`` (answer, neighbours, tags, prompt, timings); the trained VLM answers when
        ``vlm.path`` is set, else the zero-shot retrieval-augmented engine."""
        if self.settings.vlm.path:
            return self.ask_engine.ask(image, question)
        if self.store.exists(self.settings.qdrant.collection):
            self.store.check_collection(self.images_spec())
        return self.ask_engine.ask(image, question, top_k=top_k)

    def poem(self, image, words: str = "", top_k: int | None = None):
        """A classical Chinese poem for an image (``PoemResult``). The first call fetches the chinese-poetry
        data and ingests the default set when there is no poem collection (``poem.prepare``)."""
        if "_poem_engine" not in self.__dict__:
            from mmrag.jobs.poem import poem_engine

            self._poem_engine = poem_engine(self)
        return self._poem_engine.poem(image, words=words, top_k=top_k)

    def info(self) -> dict[str, Any]:
        s = self.settings
        return {
            "profile": s.profile,
            "home": str(s.home),
            "qdrant": s.qdrant_location,
            "collection": s.qdrant.collection,
            "models": {
                "image_encoder": s.image_encoder.model_dump(),
                "text_encoder": s.text_encoder.model_dump(),
                "generator": s.generator.model_dump(),
            },
            "collections": self.store.collections(),
        }

    # Built components, in the order close() lets go of them: the engines that hold the rest first,
    # then the generator, the encoders, and the store last.
    _ENGINES = ("caption_engine", "ask_engine", "retriever")
    _ENCODERS = ("image_encoder", "poem_text_encoder", "text_encoder")

    def close(self) -> None:
        """Release what this app built: the generator (llama.cpp frees its model here, not in ``__del__`` at
        interpreter exit, which printed a TypeError), then the encoders, then the store (a local Qdrant
        folder is locked by one client at a time). Idempotent; a later call builds components again."""
        d = self.__dict__
        for name in self._ENGINES:
            d.pop(name, None)
        llm = d.pop("llm", None)
        if llm is not None and hasattr(llm, "close"):
            llm.close()
        # No encoder holds a native handle that outlives its object, and one may be shared with another
        # app (tests, the UI): dropping this app's references is the release.
        for name in self._ENCODERS:
            d.pop(name, None)
        store = d.pop("store", None)
        if store is not None:
            store.close()

    def __enter__(self) -> "MMRag":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

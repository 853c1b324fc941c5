"""The application object: settings in, lazily built components out, and one method per job.

    from mmrag import MMRag
    app = MMRag.from_config()                    # or MMRag.from_config("mmrag.yaml", profile="hub")
    app.caption("photo.jpg")                     # CaptionResult: caption, neighbours, tags, prompt, timings
    app.ask("photo.jpg", "what colour is it?")   # AskResult (the trained VLM when vlm.path is set)
    app.poem("photo.jpg", words="春天")           # PoemResult
    turn = app.search("a dog on a blanket")      # SearchTurn: hits, question, session
    app.search("it is brown", session=turn.session)
    app.ingest(items)                            # IngestReport

Every job checks its collection the same way (``check_collection``): one that exists must have been
built by the configured models, else ``CollectionMismatchError`` names what differs. The engines behind
the jobs are LlamaIndex query engines, built on first use and shared: ``caption_engine``,
``ask_engine``, ``vlm_engine``, ``poem_engine``, ``search_engine``.

Components can be passed in already built (``MMRag(settings, image_encoder=..., store=...)``), so that
tests and the UI share loaded models. What is passed in belongs to the caller: ``close()`` releases only
what the app built itself.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from mmrag.config import Settings, load_settings
from mmrag.errors import EmptyCollectionError
from mmrag.schema import CAPTION, SEMANTIC, VISUAL, CaptionResult, SourceItem

log = logging.getLogger(__name__)


class MMRag:
    # Components a caller may pass in; every other part is built from them.
    GIVEN = ("image_encoder", "text_encoder", "store", "llm")
    # Built parts in the order close() lets go of them: the engines that hold the rest first, then the
    # generator, the encoders, and the store last.
    _ENGINES = ("caption_engine", "ask_engine", "vlm_engine", "poem_engine", "search_engine", "retriever", "text_retriever")
    _ENCODERS = ("image_encoder", "poem_text_encoder", "text_encoder")

    def __init__(self, settings: Settings | None = None, *, image_encoder: Any = None, text_encoder: Any = None,
                 store: Any = None, llm: Any = None) -> None:
        """``settings`` default to ``load_settings()`` (YAML file, MMRAG_* environment). The keyword
        arguments are already-built components used instead of building them from the settings; they stay
        the caller's: ``close()`` neither closes nor drops them."""
        self.settings = settings or load_settings()  # a bad value is a ConfigError naming key, value and source
        given = dict(zip(self.GIVEN, (image_encoder, text_encoder, store, llm)))
        self._given: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        self._built: dict[str, Any] = {}
        self._locks: dict[str, threading.RLock] = {}
        self._locks_lock = threading.Lock()

    @classmethod
    def from_config(cls, config_file: str | Path | None = None, **overrides: Any) -> "MMRag":
        return cls(load_settings(config_file, **overrides))

    # -- components (built on first use, once, by one thread) -----------------------------------------
    def _part(self, name: str, build: Callable[[], Any]) -> Any:
        """The part ``name``: given, already built, or built now. Each part has its own lock, so building
        a slow one (the poem engine's first use ingests for minutes) holds up no other; two threads asking
        for the same part build it once. Parts depend on each other without cycles, so locks nest safely."""
        if name in self._given:
            return self._given[name]
        part = self._built.get(name)
        if part is not None:
            return part
        with self._lock(name):
            if name not in self._built:
                self._built[name] = build()
            return self._built[name]

    def _lock(self, name: str) -> threading.RLock:
        with self._locks_lock:
            return self._locks.setdefault(name, threading.RLock())

    @property
    def built(self) -> frozenset[str]:
        """The parts this app built itself (what ``close()`` releases); given parts are not among them."""
        return frozenset(self._built)

    @property
    def text_encoder(self):
        def build():
            from mmrag.embedding.factory import build_text_encoder

            return build_text_encoder(self.settings.text_encoder)

        return self._part("text_encoder", build)

    @property
    def poem_text_encoder(self):
        """The encoder of the poem collection: ``poem.text_encoder`` if set (e.g. a tuned one), else ``text_encoder``."""
        if self.settings.poem.text_encoder is None:
            return self.text_encoder

        def build():
            from mmrag.embedding.factory import build_text_encoder

            return build_text_encoder(self.settings.poem.text_encoder)

        return self._part("poem_text_encoder", build)

    @property
    def image_encoder(self):
        def build():
            from mmrag.embedding.factory import build_image_encoder

            return build_image_encoder(self.settings.image_encoder, self.text_encoder, cache_dir=self.settings.home / "cache")

        return self._part("image_encoder", build)

    @property
    def store(self):
        def build():
            from mmrag.retrieval.store import QdrantStore

            return QdrantStore(self.settings.qdrant, home=self.settings.home)

        return self._part("store", build)

    @property
    def llm(self):
        def build():
            from mmrag.generation.factory import build_llm

            return build_llm(self.settings.generator, self.settings.models_dir)

        return self._part("llm", build)

    @property
    def retriever(self):
        """Image -> knowledge-base images (the caption, ask and poem jobs' retriever)."""
        def build():
            from mmrag.retrieval.image_retriever import ImageRetriever

            s = self.settings
            return ImageRetriever(self.image_encoder, self.store, s.qdrant.collection, s.retrieval,
                                  tag_min_confidence=s.grounding.tag_min_confidence)

        return self._part("retriever", build)

    @property
    def text_retriever(self):
        """Text -> knowledge-base images (the search job's retriever)."""
        def build():
            from mmrag.retrieval.text_retriever import TextRetriever

            s = self.settings
            return TextRetriever(self.image_encoder, self.text_encoder, self.store, s.qdrant.collection, s.retrieval)

        return self._part("text_retriever", build)

    # -- the engines (LlamaIndex query engines) ------------------------------------------------------
    @property
    def caption_engine(self):
        def build():
            from mmrag.jobs.caption import CaptionQueryEngine

            return CaptionQueryEngine(self.retriever, self.llm, grounding=self.settings.grounding)

        return self._part("caption_engine", build)

    @property
    def ask_engine(self):
        """The trained VLM (``vlm_engine``) when ``vlm.path`` is set, else the zero-shot retrieval-augmented engine."""
        if self.settings.vlm.path:
            return self.vlm_engine

        def build():
            from mmrag.jobs.ask import AskQueryEngine

            return AskQueryEngine(self.retriever, self.llm, grounding=self.settings.grounding)

        return self._part("ask_engine", build)

    @property
    def vlm_path(self) -> Path:
        """The trained VLM's directory: ``vlm.path``, else ``<home>/vlm/default`` (where ``mmrag vlm train`` writes)."""
        return Path(self.settings.vlm.path) if self.settings.vlm.path else self.settings.home / "vlm" / "default"

    @property
    def vlm_engine(self):
        """The trained VLM (``mmrag vlm train``) at ``vlm_path`` as an ask engine; ``vlm_engine.generator``
        captions and answers in batches (``vlm.batch_size``, ``vlm.threads``). Loads on first use."""
        def build():
            from mmrag.jobs.vlm_ask import VLMAskQueryEngine
            from mmrag.vlm.generate import VLMGenerator

            v = self.settings.vlm
            return VLMAskQueryEngine(VLMGenerator(self.vlm_path, home=self.settings.home, batch_size=v.batch_size, threads=v.threads))

        return self._part("vlm_engine", build)

    @property
    def poem_engine(self):
        """The poem job's engine over this app's parts (caption retriever, generator, poem encoder, store,
        the ``rerank`` reranker). Building it prepares the poem collection on first use (``ensure_poems``)."""
        def build():
            from mmrag.jobs.poem import PoemQueryEngine
            from mmrag.reranking import build_reranker

            self.ensure_poems()
            s = self.settings
            return PoemQueryEngine(self.retriever, self.llm, self.poem_text_encoder, self.store, s.poem,
                                   build_reranker(s.rerank, self.llm), rerank_candidates=s.rerank.max_candidates,
                                   generator_name=s.generator.model, index_cache_dir=s.home / "cache")

        return self._part("poem_engine", build)

    @property
    def search_engine(self):
        """The search job's engine: ``step(text, session)`` per turn (what ``search`` calls), or one kept
        session (``start`` / ``answer``); one-shot ``query(text)`` for LlamaIndex."""
        def build():
            from mmrag.search.engine import SearchEngine

            return SearchEngine(self.text_retriever, self.llm)

        return self._part("search_engine", build)

    # -- collections -----------------------------------------------------------------------------------
    def images_spec(self):
        """The images collection as the configured models would build it (no model is loaded)."""
        from mmrag.retrieval.store import CollectionSpec

        ie, te = self.image_encoder, self.text_encoder
        return CollectionSpec(
            name=self.settings.qdrant.collection,
            vectors={VISUAL: ie.visual_dim, SEMANTIC: ie.semantic_dim, CAPTION: te.dim},
            models={VISUAL: ie.name, SEMANTIC: ie.name, CAPTION: te.name},
        )

    def poems_spec(self):
        """The poem collection as the configured poem encoder would build it."""
        from mmrag.ingestion.poem_pipeline import poem_spec

        return poem_spec(self.poem_text_encoder, self.settings.poem.collection)

    def check_collection(self, spec) -> None:
        """The check every job runs before it reads: a collection that exists must have been built by the
        configured models (else ``CollectionMismatchError`` naming what differs). A missing one is left to
        the job, whose retrieval names the command that fills it (``EmptyCollectionError``)."""
        if self.store.exists(spec.name):
            self.store.check_collection(spec)

    def ensure_knowledge_base(self, progress: bool = True):
        """Ingest the bundled photos unless the collection already holds them (ids make it idempotent)."""
        from mmrag.ingestion.sources import bundled_kb

        items = bundled_kb()
        spec = self.images_spec()
        self.check_collection(spec)
        if self.store.exists(spec.name) and self.store.count(spec.name) >= len(items):
            return None
        return self.ingest(items, progress=progress)

    def ensure_poems(self, progress: bool = True):
        """The poem collection, prepared on first use: with ``poem.prepare`` a missing or empty one is
        filled (the chinese-poetry data fetched if needed, the default set ingested, and the bundled photos
        whose captions feed the description), as ``mmrag demo`` does for the images; without it, or where
        that cannot be done, one error names the commands. Returns the ingestion report, or None."""
        s, spec = self.settings, self.poems_spec()
        if self.store.exists(spec.name) and self.store.count(spec.name) > 0:
            # poems ingested by `mmrag ingest poems` alone: the description still needs the photos' captions
            # (without them every photo is described from its tags only)
            if s.poem.prepare and not self._has_images():
                with self._lock("prepare_poems"):
                    return self.ensure_knowledge_base(progress=progress)
            return None
        if not s.poem.prepare:
            raise EmptyCollectionError(f"poem collection {spec.name!r} does not exist at {self.store.location}; "
                                       "run `mmrag data poems` and `mmrag ingest poems`")
        with self._lock("prepare_poems"):  # two first uses at once prepare once
            if self.store.exists(spec.name) and self.store.count(spec.name) > 0:
                return None
            from mmrag.ingestion.poem_prepare import prepare_poems

            report = prepare_poems(self.poem_text_encoder, self.store, spec, s.home, s.poem.data_dir, s.poem.ingest_batch, progress=progress)
            self.ensure_knowledge_base(progress=progress)
            return report

    def _has_images(self) -> bool:
        name = self.settings.qdrant.collection
        return self.store.exists(name) and self.store.count(name) > 0

    # -- jobs ------------------------------------------------------------------------------------------
    def ingest(self, items: Sequence[SourceItem], batch_size: int | None = None, progress: bool = True):
        """Images with captions into the images collection (idempotent, resumable): an ``IngestReport``."""
        from mmrag.ingestion.pipeline import IngestionPipeline

        spec = self.images_spec()
        self.check_collection(spec)
        bs = batch_size or self.settings.image_encoder.batch_size
        return IngestionPipeline(self.image_encoder, self.text_encoder, self.store, spec, batch_size=bs, home=self.settings.home).run(items, progress)

    def caption(self, image, top_k: int | None = None) -> CaptionResult:
        """A caption from the captions of the image's nearest knowledge-base images (``CaptionResult``)."""
        self.check_collection(self.images_spec())
        return self.caption_engine.caption(image, top_k=top_k)

    def ask(self, image, question: str, top_k: int | None = None):
        """VQA: an ``AskResult`` (answer, neighbours, tags, prompt, timings); the trained VLM answers when
        ``vlm.path`` is set (it reads no collection), else the zero-shot retrieval-augmented engine."""
        if self.settings.vlm.path:
            return self.vlm_engine.ask(image, question)
        self.check_collection(self.images_spec())
        return self.ask_engine.ask(image, question, top_k=top_k)

    def poem(self, image, words: str = "", top_k: int | None = None):
        """A classical Chinese poem for an image (``PoemResult``). The first call fetches the chinese-poetry
        data and ingests the default set when there is no poem collection (``poem.prepare``)."""
        self.ensure_poems()
        self.check_collection(self.poems_spec())
        self.check_collection(self.images_spec())
        return self.poem_engine.poem(image, words=words, top_k=top_k)

    def search(self, text: str, session=None, *, top_k: int | None = None, ask: bool = True, strategy: str | None = None):
        """One turn of text-to-image search: a ``SearchTurn`` (``hits``, ``question``, ``session``).

        Without ``session`` ``text`` is the description and round 0 is searched; pass ``turn.session``
        back with the user's answer to continue (the session is updated in place; it is plain data,
        ``SearchSession.to_dict()`` / ``save()`` keep it). ``ask``: ask a question after the round (uses
        the generator). ``strategy``: ``rewrite`` (the LLM rewrites the dialogue into one query, default)
        or ``concat``. Safe to call from many threads: every turn's state is in its session."""
        self.check_collection(self.images_spec())
        return self.search_engine.step(text, session, ask=ask, top_k=top_k, strategy=strategy)  # type: ignore[arg-type]

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

    def close(self) -> None:
        """Release what this app built: the engines, the generator (llama.cpp frees its model here, not in
        ``__del__`` at interpreter exit, which printed a TypeError), the encoders, then the store (a local
        Qdrant folder is locked by one client at a time). Parts passed to the constructor belong to the
        caller and stay open. Idempotent; a later call builds components again."""
        built = self._built
        for name in self._ENGINES:
            built.pop(name, None)
        llm = built.pop("llm", None)
        if llm is not None and hasattr(llm, "close"):
            llm.close()
        # No encoder holds a native handle that outlives its object: dropping the reference is the release.
        for name in self._ENCODERS:
            built.pop(name, None)
        store = built.pop("store", None)
        if store is not None:
            store.close()
        built.clear()

    def __enter__(self) -> "MMRag":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

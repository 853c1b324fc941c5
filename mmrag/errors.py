"""Named errors. Each carries the bad value in its message so a user can act on it."""

from __future__ import annotations


class MMRagError(Exception):
    """Base class of every error mmrag raises on purpose."""


class ConfigError(MMRagError):
    """A setting has a value mmrag cannot use."""


class MissingDependencyError(MMRagError):
    """An optional dependency is needed for the configured component."""

    def __init__(self, package: str, extra: str | None = None, why: str = "") -> None:
        hint = f'pip install "mmrag[{extra}]"' if extra else f"pip install {package}"
        super().__init__(f"{package} is not installed{(' (' + why + ')') if why else ''}; run: {hint}")
        self.package = package


class ModelLoadError(MMRagError):
    """Model weights could not be found or loaded."""


class ImageLoadError(MMRagError):
    """An image file is missing, unreadable, or unsafe to decode."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class SourceFormatError(MMRagError):
    """An ingestion source (COCO json, Flickr csv, ...) does not have the expected schema."""


class StoreError(MMRagError):
    """The vector store cannot be reached or is in an unexpected state."""


class CollectionMismatchError(StoreError):
    """An existing collection was built by other models/dimensions than the configured ones."""


class EmptyCollectionError(StoreError):
    """A query ran against a collection that does not exist or holds no points."""


class GeneratorServerError(MMRagError):
    """An HTTP generator server (vLLM, llama.cpp server, any OpenAI-compatible API) failed to answer."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"generator server {url}: {reason}")
        self.url = url
        self.reason = reason

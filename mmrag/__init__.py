"""mmrag: multimodal retrieval-augmented generation over Qdrant and LlamaIndex."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["MMRag", "Settings", "load_settings", "__version__"]

if TYPE_CHECKING:
    from mmrag.system import MMRag
    from mmrag.config import Settings, load_settings


def __getattr__(name: str):
    # Lazy: `import mmrag` must not import torch (the CLI's --help stays instant).
    if name == "MMRag":
        from mmrag.system import MMRag

        return MMRag
    if name in ("Settings", "load_settings"):
        from mmrag import config

        return getattr(config, name)
    raise AttributeError(name)

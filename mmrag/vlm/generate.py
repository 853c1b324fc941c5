"""A trained VLM as a callable: answers and captions for image files or PIL images, batched and greedy."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

from mmrag.generation.ask_prompts import clean_answer
from mmrag.generation.postprocess import clean_caption
from mmrag.vlm.data import question_prompt

log = logging.getLogger(__name__)

ImageLike = str | Path | Image.Image


class VLMGenerator:
    """Cheap to build; the model loads on first use (``warm_up``)."""

    def __init__(self, path: str | Path, home: Path | None = None, batch_size: int = 16, threads: int | None = None) -> None:
        self.path = Path(path)
        self.home = home
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None
        self._cache: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_model(cls, model: Any, vision: Any, home: Path | None = None, batch_size: int = 16) -> "VLMGenerator":
        """Wrap an in-memory model (right after training, or in tests)."""
        from mmrag.vlm.vision import FeatureCache

        g = cls(Path("."), home, batch_size)
        g._model, g._cache = model, FeatureCache(vision, Path(home) / "cache" if home else None)
        return g

    @property
    def model(self) -> Any:
        self.warm_up()
        return self._model

    @property
    def config(self) -> dict[str, Any]:
        return self.model.config_dict

    def warm_up(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            import torch

            from mmrag.config import default_home
            from mmrag.vlm.model import load_vlm
            from mmrag.vlm.vision import FeatureCache, build_vision

            if self.threads:
                torch.set_num_threads(self.threads)
            home = Path(self.home or default_home())
            model = load_vlm(self.path, home)
            self._cache = FeatureCache(build_vision(model.config_dict["vision_model"]), home / "cache")
            self._model = model

    def _maps(self, images: Sequence[ImageLike]) -> Any:
        import torch

        files = [im for im in images if not isinstance(im, Image.Image)]
        if len(files) == len(images):
            return self._cache.maps([str(p) for p in images], batch_size=self.batch_size)
        maps = self._cache.vision.maps([im if isinstance(im, Image.Image) else _load(im) for im in images])
        return maps.half().float() if isinstance(maps, torch.Tensor) else maps  # same rounding as cached maps

    def _run(self, images: Sequence[ImageLike], prompts: list[str], max_new_tokens: int, progress: bool = False) -> list[str]:
        from tqdm.auto import tqdm

        self.warm_up()
        out: list[str] = []
        for i in tqdm(range(0, len(prompts), self.batch_size), desc="vlm", unit="batch", disable=not progress):
            maps = self._maps(images[i : i + self.batch_size])
            out += self._model.generate(maps, prompts[i : i + self.batch_size], max_new_tokens)
        return out

    def answer(self, images: Sequence[ImageLike], questions: Sequence[str], progress: bool = False,
               template: str | None = None) -> list[tuple[str, str]]:
        """(clean answer, raw output) per question, with the ask job's prompt and answer cleaning;
        ``template`` replaces the trained ``question_template`` ({question}, {instruction})."""
        cfg = self.config
        prompts = [question_prompt(q, template or cfg["question_template"]) for q in questions]
        raw = self._run(images, prompts, int(cfg.get("answer_max_new_tokens", 6)), progress)
        return [(clean_answer(r, q), r) for r, q in zip(raw, questions)]

    def caption(self, images: Sequence[ImageLike], prompt: str | None = None, progress: bool = False) -> list[str]:
        cfg = self.config
        raw = self._run(images, [prompt or cfg["caption_prompt"]] * len(images), int(cfg.get("caption_max_new_tokens", 24)), progress)
        return [clean_caption(r) for r in raw]


def _load(path: ImageLike) -> Image.Image:
    from mmrag.images import load_image

    return load_image(Path(path))

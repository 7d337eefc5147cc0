#!/usr/bin/env bash
# Entry point of the Llama 2 image. The weights are mounted, never baked in:
#   docker run --gpus all -v /data/Llama-2-7b-chat-hf:/models/llama-2-7b-chat-hf:ro -p 8000:8000 IMAGE
#   docker run ... IMAGE bash /usr/bin/start.sh --prompt "What is openEuler?"   (one answer, then exit)
# On Ascend, pass the NPU devices and mount the host driver (/usr/local/Ascend/driver) instead of
# --gpus. MODEL_PATH, HOST, PORT and DEVICE (npu:N, cuda:N or cpu) may be overridden with -e.
set -euo pipefail

if [[ ! -f "${MODEL_PATH:?set MODEL_PATH to the mounted model folder}/config.json" ]]; then
    echo "no model at MODEL_PATH=${MODEL_PATH}: mount the Llama 2 weights there (-v HOST_DIR:${MODEL_PATH}:ro)" >&2
    exit 2
fi
if [[ -f /usr/local/Ascend/ascend-toolkit/set_env.sh ]]; then
    # shellcheck disable=SC1091
    source /usr/local/Ascend/ascend-toolkit/set_env.sh
fi
exec python3 /opt/app/serve.py "$@"

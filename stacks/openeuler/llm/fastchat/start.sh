#!/usr/bin/env bash
# FastChat's controller, one model worker on MODEL_PATH (DEVICE npu by default) and the Gradio web
# UI on port 7860. Mount the weights: -v HOST_DIR:/models/model:ro, and the Ascend driver and
# devices as stacks/openeuler/README.md shows.
set -euo pipefail
if [[ ! -f "${MODEL_PATH:?set MODEL_PATH to the mounted model folder}/config.json" ]]; then
    echo "no model at MODEL_PATH=${MODEL_PATH}: mount one there (-v HOST_DIR:${MODEL_PATH}:ro)" >&2
    exit 2
fi
python -m fastchat.serve.controller --host 0.0.0.0 --port 21001 &
python -m fastchat.serve.model_worker --host 0.0.0.0 --port 21002 \
    --controller-address http://127.0.0.1:21001 --worker-address http://127.0.0.1:21002 \
    --model-path "${MODEL_PATH}" --device "${DEVICE}" &
exec python -m fastchat.serve.gradio_web_server --host 0.0.0.0 --port 7860 \
    --controller-url http://127.0.0.1:21001

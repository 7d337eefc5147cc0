#!/usr/bin/env bash
# ChatGLM2-6B on FastChat: the edited model code from /opt/chatglm2-6b plus the mounted weights
# (-v HOST_DIR:/models/chatglm2-6b:ro, the *.bin or *.safetensors shards of THUDM/chatglm2-6b).
set -euo pipefail
weights="${MODEL_WEIGHTS:?set MODEL_WEIGHTS to the mounted weights folder}"
if ! compgen -G "${weights}/*.bin" >/dev/null && ! compgen -G "${weights}/*.safetensors" >/dev/null; then
    echo "no ChatGLM2-6B weights in MODEL_WEIGHTS=${weights} (-v HOST_DIR:${weights}:ro)" >&2
    exit 2
fi
mkdir -p "${MODEL_PATH}"
cp -n /opt/chatglm2-6b/* "${MODEL_PATH}/"
for f in "${weights}"/*; do
    ln -sf "${f}" "${MODEL_PATH}/$(basename "${f}")"
done
# The edited code wins over any copy that came with the weights.
cp -f /opt/chatglm2-6b/*.py "${MODEL_PATH}/"
exec bash /usr/bin/start-fastchat.sh

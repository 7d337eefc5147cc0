#!/usr/bin/env bash
# Entry point of the Qwen-7B image; QWEN_FRAMEWORK (set when the image was built) picks the runtime.
# The weights are mounted at MODEL_PATH, never baked in:
#   pytorch:   a Hugging Face-format Qwen-7B-Chat folder (config.json, *.safetensors, qwen.tiktoken,
#              modeling_qwen.py); serves HTTP on PORT, or answers once with --prompt "...".
#     docker run --gpus all -v /data/Qwen-7B-Chat:/models/qwen-7b-chat:ro -p 8000:8000 IMAGE
#   mindspore: a MindFormers checkpoint folder (a converted *.ckpt and qwen.tiktoken); runs MindFormers'
#              Qwen prediction for --prompt "..." (default: a greeting) on Ascend device DEVICE_ID.
#     docker run --device /dev/davinci0 --device /dev/davinci_manager --device /dev/devmm_svm \
#       --device /dev/hisi_hdc -v /usr/local/Ascend/driver:/usr/local/Ascend/driver:ro \
#       -v /data/qwen-7b-ms:/models/qwen-7b-chat:ro IMAGE bash /usr/bin/start.sh --prompt "你好"
set -euo pipefail

: "${MODEL_PATH:?set MODEL_PATH to the mounted model folder}"
if [[ ! -d "${MODEL_PATH}" ]]; then
    echo "no model at MODEL_PATH=${MODEL_PATH}: mount the Qwen-7B weights there (-v HOST_DIR:${MODEL_PATH}:ro)" >&2
    exit 2
fi
if [[ -f /usr/local/Ascend/ascend-toolkit/set_env.sh ]]; then
    # shellcheck disable=SC1091
    source /usr/local/Ascend/ascend-toolkit/set_env.sh
fi

case "${QWEN_FRAMEWORK:-pytorch}" in
pytorch)
    if [[ ! -f "${MODEL_PATH}/config.json" ]]; then
        echo "${MODEL_PATH} has no config.json: it is not a Hugging Face-format Qwen-7B folder" >&2
        exit 2
    fi
    exec python3 /opt/app/serve.py "$@"
    ;;
mindspore)
    prompt="你好"
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --prompt) prompt="${2:?--prompt needs a text}"; shift 2 ;;
            *) echo "unknown option $1 (the mindspore image takes --prompt TEXT)" >&2; exit 2 ;;
        esac
    done
    research=/opt/mindformers/research/qwen
    checkpoint="${QWEN_CHECKPOINT:-$(compgen -G "${MODEL_PATH}/*.ckpt" | head -n 1 || true)}"
    config="${QWEN_CONFIG:-}"
    for candidate in "${MODEL_PATH}/run_qwen_7b.yaml" "${research}/run_qwen_7b.yaml" \
                     "${research}/qwen_7b/predict_qwen_7b.yaml" "${research}/predict_qwen_7b.yaml"; do
        if [[ -z "${config}" && -f "${candidate}" ]]; then config="${candidate}"; fi
    done
    if [[ -z "${checkpoint}" || ! -f "${MODEL_PATH}/qwen.tiktoken" || -z "${config}" ]]; then
        echo "need a *.ckpt (or QWEN_CHECKPOINT) and qwen.tiktoken in ${MODEL_PATH}, and a run_qwen_7b.yaml (or QWEN_CONFIG)" >&2
        exit 2
    fi
    # MindFormers writes its logs and strategy files below the working directory.
    mkdir -p /tmp/qwen && cd /tmp/qwen
    export PYTHONPATH="${research}${PYTHONPATH:+:${PYTHONPATH}}"
    exec python3 "${research}/run_qwen.py" --config "${config}" --run_mode predict \
        --use_parallel False --device_id "${DEVICE_ID:-0}" --load_checkpoint "${checkpoint}" \
        --vocab_file "${MODEL_PATH}/qwen.tiktoken" --predict_data "${prompt}"
    ;;
*)
    echo "unknown QWEN_FRAMEWORK '${QWEN_FRAMEWORK}' (pytorch or mindspore)" >&2
    exit 2
    ;;
esac

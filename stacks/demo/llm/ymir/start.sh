#!/usr/bin/env bash
# ymir executor entry point: reads /in/env.yaml (task kind) when present, writes progress and results to /out.
set -euo pipefail
task=training
if [ -f /in/env.yaml ] && grep -q "run_mining: *true" /in/env.yaml; then task=mining; fi
if [ -f /in/env.yaml ] && grep -q "run_infer: *true" /in/env.yaml; then task=infer; fi
out=${YMIR_OUT:-/out}
mkdir -p "$out"
exec python3 /opt/ymir/train.py --task "$task" --out "$out"

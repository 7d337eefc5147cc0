#!/usr/bin/env bash
# Entry point of the chat application image.
set -euo pipefail
exec python3 /opt/app/app.py "$@"

#!/usr/bin/env bash
# Entry point of every CANN image: load the toolkit's environment (and NNAL's, where installed)
# the way Ascend's set_env.sh scripts define it, then run the command.
set -e
# shellcheck disable=SC1091
source /usr/local/Ascend/ascend-toolkit/set_env.sh
if [[ -f /usr/local/Ascend/nnal/atb/set_env.sh ]]; then
    # shellcheck disable=SC1091
    source /usr/local/Ascend/nnal/atb/set_env.sh
fi
if [[ $# -eq 0 ]]; then
    set -- bash
fi
exec "$@"

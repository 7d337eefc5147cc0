#!/usr/bin/env bash
# Stops the registry and dockerd that setup-engine.sh started (by their pid files).
# Images, registry data and installed packages are kept. Usage: teardown-engine.sh STATE_DIR
set -uo pipefail
STATE_DIR=${1:?state dir}
stop() {
    local pidfile=$1 what=$2 pid
    [ -f "$pidfile" ] || { echo "teardown: $what was not started by setup"; return; }
    pid=$(cat "$pidfile")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        echo "teardown: stopped $what (pid $pid)"
    else
        echo "teardown: $what (pid $pid) was not running"
    fi
    rm -f "$pidfile"
}
stop "$STATE_DIR/registry/registry.pid" registry
stop "$STATE_DIR/dockerd.pid" dockerd

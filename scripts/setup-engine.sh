#!/usr/bin/env bash
# Idempotent bring-up of a real build engine on Debian 12: Docker 26 (containerd image store),
# buildx, QEMU binfmt for arm64 and Debian's docker-registry. Prints what it did; a second run
# only checks. Run as root. Usage: setup-engine.sh STATE_DIR REGISTRY_ADDR
set -euo pipefail

STATE_DIR=${1:?state dir}
REGISTRY_ADDR=${2:-127.0.0.1:5000}
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)

say() { printf 'setup: %s\n' "$*"; }

have_engine_packages() {
    command -v dockerd >/dev/null && command -v containerd >/dev/null \
        && docker buildx version >/dev/null 2>&1
}

add_trixie_source() {
    local uris
    uris=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    if [ ! -f /etc/apt/sources.list.d/trixie.sources ]; then
        printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$uris" >/etc/apt/sources.list.d/trixie.sources
        say "added apt source trixie ($uris)"
    fi
    if [ ! -f /etc/apt/preferences.d/trixie ]; then
        printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' >/etc/apt/preferences.d/trixie
        say "pinned trixie at priority 100"
    fi
}

missing_debs() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "${pkg%%/*}" 2>/dev/null | grep -q 'ok installed' || echo "$pkg"
    done
}

install_packages() {
    local wanted=(qemu-user-static binfmt-support docker-registry debootstrap busybox-static graphviz curl chromium iproute2 tmux)
    if ! have_engine_packages; then
        add_trixie_source
        wanted+=(docker.io/trixie docker-cli/trixie containerd/trixie docker-buildx/trixie)
    fi
    # cosign signs and verifies images by digest (stackbuild sign/verify); Debian 13 ships it
    if ! command -v cosign >/dev/null; then
        add_trixie_source
        wanted+=(cosign/trixie)
    fi
    local missing
    missing=$(missing_debs "${wanted[@]}")
    if [ -z "$missing" ]; then
        say "packages present"
        return
    fi
    say "installing: $(echo $missing)"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    say "installed packages"
}

start_dockerd() {
    local want='{"features": {"containerd-snapshotter": true}}'
    mkdir -p /etc/docker
    if [ ! -f /etc/docker/daemon.json ] || ! grep -q containerd-snapshotter /etc/docker/daemon.json; then
        echo "$want" >/etc/docker/daemon.json
        say "wrote /etc/docker/daemon.json (containerd image store)"
    fi
    if docker info >/dev/null 2>&1; then
        say "docker daemon running"
        return
    fi
    nohup dockerd >"$STATE_DIR/dockerd.log" 2>&1 &
    echo $! >"$STATE_DIR/dockerd.pid"
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && { say "started dockerd (log $STATE_DIR/dockerd.log)"; return; }
        sleep 1
    done
    say "dockerd did not answer within 60 s; see $STATE_DIR/dockerd.log" >&2
    exit 1
}

enable_binfmt() {
    if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
        say "mounted binfmt_misc"
    fi
    if [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
        say "qemu-aarch64 binfmt registered"
    else
        update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || update-binfmts --enable
        say "registered qemu binfmt handlers"
    fi
}

start_registry() {
    local dir="$STATE_DIR/registry"
    if curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; then
        say "registry answering on $REGISTRY_ADDR"
        return
    fi
    mkdir -p "$dir/data"
    cat >"$dir/config.yml" <<CFG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
CFG
    nohup docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
    echo $! >"$dir/registry.pid"
    for _ in $(seq 1 30); do
        curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1 && { say "started registry on $REGISTRY_ADDR (data $dir/data)"; return; }
        sleep 0.5
    done
    say "registry did not answer; see $dir/registry.log" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || { say "must run as root (installs packages, starts daemons)" >&2; exit 1; }
install_packages
start_dockerd
enable_binfmt
start_registry

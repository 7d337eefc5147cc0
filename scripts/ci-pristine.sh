#!/usr/bin/env bash
# Runs the project's CI (.ci/run) the way a never-used Debian 12 machine would (docs: host-engine.md
# section 8): a fresh clone inside a privileged container of a plain debootstrapped bookworm, whose
# own `make setup` installs and starts Docker, buildx, QEMU and the registry from nothing.
# Usage: scripts/ci-pristine.sh [REPO_URL_OR_PATH] [RUNS]   (defaults: this repository, 1 run)
# Logs: /var/tmp/stackbuild-pristine/run-N.log. Run as root on a host with a working docker.
set -euo pipefail

REPO=${1:-$(cd "$(dirname "$0")/.." && pwd)}
RUNS=${2:-1}
CACHE=/var/tmp/stackbuild-pristine
IMAGE=stackbuild-pristine:bookworm
SOURCES=/etc/apt/sources.list.d/debian.sources
# What a fresh CI machine of this kind has; never what `make setup` must install itself.
MACHINE_DEBS=(python3 python3-venv python3-pip git make curl ca-certificates procps iproute2)
TAG=ci-pristine-$$
CLEANUP=()   # "container NAME" / "volume NAME" / "dir PATH", undone by cleanup()

log() { printf '[ci-pristine %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

cleanup() {
    local item
    for item in "${CLEANUP[@]}"; do
        case $item in
            container\ *) docker rm -f "${item#* }" >/dev/null 2>&1 || true ;;
            volume\ *) docker volume rm -f "${item#* }" >/dev/null 2>&1 || true ;;
            dir\ *) rm -rf --one-file-system "${item#* }" ;;
        esac
    done
    CLEANUP=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Bare minbase rootfs plus this kind of machine's own apt, CA and pip configuration, as a tarball.
make_rootfs_tar() {
    local tar=$1 root mirror
    [ -s "$tar" ] && { log "reusing rootfs $tar"; return; }
    mirror=$(awk '/^URIs:/ {print $2; exit}' "$SOURCES")
    root=$(mktemp -d "$CACHE/rootfs.XXXXXX"); CLEANUP+=("dir $root")
    log "debootstrap --variant=minbase bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
        || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
    # The project reads the archive from debian.sources (deb822), as on the real machines.
    rm -f "$root/etc/apt/sources.list"
    cp "$SOURCES" "$root/etc/apt/sources.list.d/"
    # TLS to PyPI goes through an inspecting proxy: its CA (installed into the system bundle when
    # ca-certificates is) and /etc/pip.conf pointing pip at that bundle. The other pip config files
    # of the host only point at on-disk wheel mirrors (/opt) a fresh machine does not have.
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    [ -f /etc/pip.conf ] && cp /etc/pip.conf "$root/etc/pip.conf"
    rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
    tar --numeric-owner -C "$root" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
    rm -rf --one-file-system "$root"
}

# The image: rootfs + MACHINE_DEBS, installed through the same bridge network the runs use.
ensure_image() {
    docker image inspect "$IMAGE" >/dev/null 2>&1 && { log "reusing image $IMAGE"; return; }
    local tar=$CACHE/bookworm-minbase.tar start=$SECONDS
    make_rootfs_tar "$tar"
    docker import "$tar" "$IMAGE-bare" >/dev/null
    CLEANUP+=("container $TAG-img")
    docker run --name "$TAG-img" "$IMAGE-bare" bash -euc "
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends ${MACHINE_DEBS[*]} >/dev/null
        rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb" </dev/null
    docker commit -c 'ENV LANG=C.UTF-8' -c 'CMD ["bash"]' "$TAG-img" "$IMAGE" >/dev/null
    docker rmi -f "$IMAGE-bare" >/dev/null
    log "made image $IMAGE in $((SECONDS - start)) s"
}

# One CI run; its status is the container's. Lines get the seconds since the start of the run,
# which is how the phases (packages, rootfs, tests) are timed from the log.
run_ci() {
    local n=$1 src vol name="$TAG-run$1" t0=$SECONDS logs=$CACHE/run-$1-logs
    src=$(mktemp -d "${TMPDIR:-/tmp}/ci-pristine.XXXXXX"); CLEANUP+=("dir $src")
    git clone -q "$REPO" "$src/repo"
    log "run $n: $(git -C "$src/repo" log -1 --format='%h %s')"
    CLEANUP+=("container $name")
    # Fresh volumes (on the host's ext4, so the inner overlayfs is not overlay-on-overlay) for the
    # inner engine's state. Default bridge network: its own loopback, so the inner registry on
    # 127.0.0.1:5000 does not meet the host's, and the host's NAT still reaches the archives.
    # --init: a real machine reaps orphans (dockerd, registry) with its init; make would not.
    for vol in docker containerd; do
        docker volume create "$name-$vol" >/dev/null; CLEANUP+=("volume $name-$vol")
    done
    docker create -q --name "$name" --privileged --init --hostname ci-pristine \
        --mount "type=volume,src=$name-docker,dst=/var/lib/docker" \
        --mount "type=volume,src=$name-containerd,dst=/var/lib/containerd" \
        -w /src -e CI=true -e PIP_DEFAULT_TIMEOUT=180 "$IMAGE" bash .ci/run >/dev/null
    # Copied, not bind-mounted: as on a real machine the checkout and /tmp share one file system
    # (the tests hard-link the demo rootfs into tmp_path; across mounts that is EXDEV).
    docker cp "$src/repo/." "$name:/src"
    set +e
    docker start -a "$name" </dev/null 2>&1 | while IFS= read -r line || [ -n "$line" ]; do
        printf '[%5ds] %s\n' $((SECONDS - t0)) "$line"
    done | tee "$CACHE/run-$n.log"
    set -e
    RC=$(docker inspect -f '{{.State.ExitCode}}' "$name")
    ELAPSED=$((SECONDS - t0))
    # Keep the inner logs (per-node build logs, dockerd, registry) that failures point to.
    rm -rf "$logs"; mkdir -p "$logs"
    docker cp "$name:/tmp/pytest-of-root" - 2>/dev/null | tar -x -C "$logs" --wildcards '*.log' 2>/dev/null || true
    docker cp "$name:/src/.state" - 2>/dev/null | tar -x -C "$logs" --wildcards '*.log' 2>/dev/null || true
    cleanup
}

main() {
    [ "$(id -u)" = 0 ] || { log "run as root (debootstrap, privileged containers)"; exit 1; }
    [[ $RUNS =~ ^[1-9][0-9]*$ ]] || { log "RUNS must be a positive number"; exit 2; }
    [ -d "$REPO" ] && REPO=$(cd "$REPO" && pwd)
    mkdir -p "$CACHE"
    ensure_image
    local n summary=() failed=0
    for n in $(seq 1 "$RUNS"); do
        run_ci "$n"
        summary+=("run $n: exit $RC in $((ELAPSED / 60))m$((ELAPSED % 60))s (log $CACHE/run-$n.log)")
        [ "$RC" = 0 ] || failed=1
    done
    printf '%s\n' "${summary[@]}" | while IFS= read -r line; do log "$line"; done
    exit "$failed"
}

main

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
CHECKOUT=/root/stackbuild   # inside the container
# What a fresh CI machine of this kind has; never what `make setup` must install itself.
MACHINE_DEBS=(python3 python3-venv python3-pip git make curl ca-certificates procps iproute2)
TAG=ci-pristine-$$
NET=$TAG      # own bridge network, see make_network
CLEANUP=()   # "container NAME" / "volume NAME" / "network NAME" / "dir PATH", undone last first

log() { printf '[ci-pristine %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

cleanup() {   # [FROM]: undo only the items from index FROM on
    local i item from=${1:-0}
    for ((i = ${#CLEANUP[@]} - 1; i >= from; i--)); do
        item=${CLEANUP[i]}
        case $item in
            container\ *) docker rm -f "${item#* }" >/dev/null 2>&1 || true ;;
            volume\ *) docker volume rm -f "${item#* }" >/dev/null 2>&1 || true ;;
            network\ *) docker network rm "${item#* }" >/dev/null 2>&1 || true ;;
            dir\ *) rm -rf --one-file-system "${item#* }" ;;
        esac
    done
    CLEANUP=("${CLEANUP[@]:0:from}")
}
trap 'cleanup 0' EXIT
trap 'log "interrupted (INT): cleaning up"; exit 130' INT
trap 'log "terminated (TERM): cleaning up"; exit 143' TERM

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

# Not the default bridge: any dockerd started with --bridge=none in the host's network namespace
# (this project's test_bases does it) deletes docker0, cutting off every container on it. A bridge
# of our own name survives that; NAT to the archives is the same. Its embedded DNS (127.0.0.11)
# would make the inner dockerd fall back to 8.8.8.8, so the host's resolvers are mounted instead.
make_network() {
    docker network create -o "com.docker.network.bridge.name=sbp$$" "$NET" >/dev/null
    CLEANUP+=("network $NET")
    grep -v '^nameserver 127\.' /etc/resolv.conf >"$CACHE/resolv.conf"
}

# The image: rootfs + MACHINE_DEBS, installed through the same bridge network the runs use.
ensure_image() {
    docker image inspect "$IMAGE" >/dev/null 2>&1 && { log "reusing image $IMAGE"; return; }
    local tar=$CACHE/bookworm-minbase.tar start=$SECONDS
    make_rootfs_tar "$tar"
    docker import "$tar" "$IMAGE-bare" >/dev/null
    CLEANUP+=("container $TAG-img")
    docker run --name "$TAG-img" --network "$NET" -v "$CACHE/resolv.conf:/etc/resolv.conf:ro" \
        "$IMAGE-bare" bash -euc "
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends ${MACHINE_DEBS[*]} >/dev/null
        rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb" </dev/null
    docker commit -c 'ENV LANG=C.UTF-8' -c 'CMD ["bash"]' "$TAG-img" "$IMAGE" >/dev/null
    docker rmi -f "$IMAGE-bare" >/dev/null
    log "made image $IMAGE in $((SECONDS - start)) s"
}

# Inside the container: copy its root into the volume, make that the root (pivot_root, so that
# runc inside can pivot too), then run the CI with no stdin.
BOOT="set -e
cp -ax /. /newroot/ && cp /etc/resolv.conf /etc/hosts /etc/hostname /newroot/etc/
mkdir -p /newroot/oldroot && mount --rbind /dev /newroot/dev && mount --rbind /sys /newroot/sys
mount -t proc proc /newroot/proc && cd /newroot && pivot_root . oldroot && umount -l /oldroot
rmdir /oldroot && cd $CHECKOUT && exec bash .ci/run </dev/null"

# One CI run; its status is the container's. Lines get the seconds since the start of the run,
# which is how the phases (packages, rootfs, tests) are timed from the log.
run_ci() {
    local n=$1 src name="$TAG-run$1" t0=$SECONDS logs=$CACHE/run-$1-logs mark=${#CLEANUP[@]}
    src=$(mktemp -d "${TMPDIR:-/tmp}/ci-pristine.XXXXXX"); CLEANUP+=("dir $src")
    git clone -q "$REPO" "$src$CHECKOUT" && chmod 755 "$src"
    log "run $n: $(git -C "$src$CHECKOUT" log -1 --format='%h %s')"
    # The machine's whole root file system is a fresh volume (ext4 on this host): the image's root
    # is overlayfs, and with a separate /tmp or checkout mount the tests see what a one-disk
    # machine never shows (EXDEV on hard links into tmp_path, overlay-on-overlay mounts failing with
    # "invalid argument" for a test's own dockerd, git stopping at a file system boundary).
    # --init: a real machine reaps orphans (dockerd, registry) with its init; make would not.
    docker volume create "$name" >/dev/null; CLEANUP+=("volume $name")
    CLEANUP+=("container $name")   # after the volume: it is removed before it
    docker create -q --name "$name" --privileged --init --hostname ci-pristine --network "$NET" \
        -v "$CACHE/resolv.conf:/etc/resolv.conf:ro" -v "$name:/newroot" \
        -e CI=true -e PIP_DEFAULT_TIMEOUT=180 "$IMAGE" bash -c "$BOOT" >/dev/null
    docker cp "$src/." "$name:/newroot"
    # In the background so that a TERM/INT to this script is handled at once (bash defers traps
    # until a foreground command ends); removing the container then ends the pipeline.
    docker start -a "$name" </dev/null 2>&1 | while IFS= read -r line || [ -n "$line" ]; do
        printf '[%5ds] %s\n' $((SECONDS - t0)) "$line"
    done | tee "$CACHE/run-$n.log" &
    wait $! || true
    RC=$(docker inspect -f '{{.State.ExitCode}}' "$name" 2>/dev/null) \
        || { RC=125; log "run $n: container $name vanished (removed from outside?)"; }
    ELAPSED=$((SECONDS - t0))
    # Keep the inner logs (per-node build logs, dockerd, registry) that failures point to.
    rm -rf "$logs"; mkdir -p "$logs"
    docker cp "$name:/newroot/tmp/pytest-of-root" - 2>/dev/null | tar -x -C "$logs" --wildcards '*.log' 2>/dev/null || true
    docker cp "$name:/newroot$CHECKOUT/.state" - 2>/dev/null | tar -x -C "$logs" --wildcards '*.log' 2>/dev/null || true
    cleanup "$mark"
}

main() {
    [ "$(id -u)" = 0 ] || { log "run as root (debootstrap, privileged containers)"; exit 1; }
    [[ $RUNS =~ ^[1-9][0-9]*$ ]] || { log "RUNS must be a positive number"; exit 2; }
    [ -d "$REPO" ] && REPO=$(cd "$REPO" && pwd)
    mkdir -p "$CACHE"
    # One invocation at a time: they share the logs, the image and 2 cores.
    exec 9>"$CACHE/.lock"
    flock -n 9 || { log "waiting for another ci-pristine run ($CACHE/.lock)"; flock 9; }
    make_network
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

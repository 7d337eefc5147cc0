#!/usr/bin/env bash
# Makes Debian minbase root file systems as gzipped tarballs, one per architecture, for stacks
# whose OS root is built FROM scratch (no image can be pulled here). Idempotent: an existing
# tarball is kept. Usage: make-rootfs.sh DEST_DIR SUITE ARCH...
set -euo pipefail
DEST=${1:?dest dir}; SUITE=${2:?suite}; shift 2
mkdir -p "$DEST"
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)

for arch in "$@"; do
    out="$DEST/$arch.tar.gz"
    if [ -s "$out" ]; then
        echo "setup: rootfs $out present"
        continue
    fi
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    start=$(date +%s)
    debootstrap --variant=minbase --arch="$arch" "$SUITE" "$work/root" "$MIRROR" >"$work/log" 2>&1 \
        || { tail -20 "$work/log" >&2; echo "setup: debootstrap $SUITE/$arch failed" >&2; exit 1; }
    rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
    tar --numeric-owner --sort=name -C "$work/root" -czf "$out.tmp" .
    mv "$out.tmp" "$out"
    rm -rf "$work"; trap - EXIT
    echo "setup: made rootfs $out ($SUITE/$arch) in $(( $(date +%s) - start )) s"
done

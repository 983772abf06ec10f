#!/bin/bash
# Builds the guest initramfs: an UNCOMPRESSED newc cpio holding the static agent as /init, plus
# the /dev/console node the kernel opens for init's stdio (devtmpfs is not mounted for an
# initramfs root). Uncompressed on purpose: inflating runs emulated in the guest on hosts without
# VMX/SVM (docs/guest-kernel.md). Usage: build-initramfs.sh AGENT OUT
set -euo pipefail

agent=${1:?usage: build-initramfs.sh AGENT OUT}
out=${2:?usage: build-initramfs.sh AGENT OUT}
[ -x "$agent" ] || { echo "build-initramfs: agent '$agent' is not an executable" >&2; exit 1; }
command -v cpio >/dev/null || { echo "build-initramfs: cpio not found (apt-get install cpio)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/dev" "$stage/proc" "$stage/sys" "$stage/run"
install -m 0755 "$agent" "$stage/init"
mknod -m 0600 "$stage/dev/console" c 5 1
# Fixed times keep the archive byte-identical for the same agent (template cache keys use it).
find "$stage" -exec touch -h -d @0 {} +
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) >"$out.tmp"
mv "$out.tmp" "$out"

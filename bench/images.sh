#!/bin/bash
# Image benchmarks, side by side in one run (issue 6): the same busybox image, served by a
# loopback registry, through
#   (1) `sandbox pull` into an empty store      vs  `podman pull` after `podman rmi`
#   (2) `sandbox run IMAGE true` (cached image,  vs  `podman run --rm --runtime runc IMAGE true`
#       VM template)                                  (image already pulled)
# Writes its own section of docs/benchmarks.md, between the markers below, replacing an older
# one (so it works after bench/run.sh rewrote the file, and alone).
# Usage: bench/images.sh BUILD_DIR   (RUNS=N overrides the 10 runs per case; OUT=FILE)
set -euo pipefail
B=${1:-build}
RUNS=${RUNS:-10}
OUT=${OUT:-docs/benchmarks.md}
here=$(cd "$(dirname "$0")" && pwd)
top=$here/..
work=$(mktemp -d)
# podman keeps its images, containers and run state under $work: nothing outside it is touched,
# and removing $work removes them all.
podman=(podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay)
reg_pid=
cleanup() {
	set +e
	if [ -n "$reg_pid" ]; then
		# Not our child (start-registry.sh started it): wait by polling.
		kill "$reg_pid" 2>/dev/null
		for ((i = 0; i < 50; i++)); do kill -0 "$reg_pid" 2>/dev/null || break; sleep 0.1; done
	fi
	if [ -d "$work/podman" ]; then
		"${podman[@]}" rm -af >/dev/null 2>&1
		"${podman[@]}" rmi -af >/dev/null 2>&1
	fi
	# podman bind-mounts its overlay directory onto itself and leaves that mount behind.
	findmnt -rn -o TARGET | grep "^$work/" | sort -r | while read -r m; do umount "$m"; done
	rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=bench/lib.sh
. "$here/lib.sh"

# The image: build/rootfs-busybox as a one-layer OCI layout, pushed to a registry on a free
# loopback port.
"$top/rootfs/build-oci-image.sh" --cmd '["sh"]' "$B/rootfs-busybox" "$work/oci" >/dev/null
layer_bytes=$(find "$work/oci/blobs" -type f -size +100k -printf '%s\n' | sort -n | tail -1)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
reg_pid=$("$top/tests/integration/registry/start-registry.sh" "$work/registry" "$port")
for ((i = 0; i < 100; i++)); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	kill -0 "$reg_pid" 2>/dev/null || { cat "$work/registry/registry.log" >&2; exit 1; }
	sleep 0.1
done
ref=127.0.0.1:$port/bench/busybox:latest
skopeo copy -q --dest-tls-verify=false "oci:$work/oci" "docker://$ref" >/dev/null

export SANDBOX_TEMPLATE_DIR=$work/templates
export SANDBOX_RUN_ROOT=$work/run
store=$work/store

echo "bench: images (1) pull into an empty store, $RUNS runs each" >&2
add_case_prep "sandbox pull (empty store)" "rm -rf '$store'" "$B/sandbox" pull -q --root "$store" "$ref"
add_case_prep "podman pull --tls-verify=false (after podman rmi)" "${podman[*]} rmi -af" "${podman[@]}" pull -q --tls-verify=false "$ref"
run_cases

echo "bench: images (2) run IMAGE true from the cached image, $RUNS runs each" >&2
# Untimed warm-up: the store holds the image, the VM template exists, the image's rootfs is
# built, and podman has the image (and has set up its storage) before the first timed run.
"$B/sandbox" pull -q --root "$store" "$ref" >/dev/null
"$B/sandbox" template build >/dev/null
"$B/sandbox" run --root "$store" "$ref" true
"${podman[@]}" pull -q --tls-verify=false "$ref" >/dev/null
# podman's default RLIMIT_NOFILE and RLIMIT_NPROC for containers are ones runc may not set here
# (EPERM, even with the host's own values, --ulimit host included); these are `runc spec`'s.
prun=("${podman[@]}" run --rm --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
"${prun[@]}" "$ref" true
add_case "sandbox run IMAGE true (cached image, VM template)" "$B/sandbox" run --root "$store" "$ref" true
add_case "podman run --rm --runtime runc IMAGE true" "${prun[@]}" "$ref" true
run_cases

section=$(
	echo "<!-- bench/images.sh: begin -->"
	echo "## Images: pull, and \`run IMAGE true\`, vs podman with runc"
	echo
	echo "Measured by \`bench/images.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(podman --version)."
	echo "The image is \`$B/rootfs-busybox\` as one gzip'd layer ($((layer_bytes / 1024)) KiB), pushed with skopeo to"
	echo "Debian's docker-registry on loopback. A pull starts from an empty store (\`sandbox\`: a fresh"
	echo "\`--root\`; podman: after \`podman rmi -a\`, untimed); a run starts from the image already pulled"
	echo "(\`sandbox\`: its rootfs already built from the layers, and the VM template). All cases ran"
	echo "interleaved in one run, $RUNS runs each; wall clock, process start to exit."
	echo
	print_results
	[ -f "$top/docs/benchmarks-images-notes.md" ] && { echo; cat "$top/docs/benchmarks-images-notes.md"; }
	echo "<!-- bench/images.sh: end -->"
)
# Replace our old section (if any) in OUT, keep everything else.
touch "$OUT"
awk '/^<!-- bench\/images.sh: begin -->$/ {skip = 1} !skip {print} /^<!-- bench\/images.sh: end -->$/ {skip = 0}' "$OUT" >"$work/out"
# One blank line between what was there ($(...) drops its trailing newlines) and our section.
kept=$(cat "$work/out")
{
	[ -n "$kept" ] && printf '%s\n\n' "$kept"
	echo "$section"
} >"$OUT"
echo "bench: wrote the images section of $OUT" >&2
echo "$section"

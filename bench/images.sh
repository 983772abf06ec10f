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

now_ns() { date +%s%N; }

# As in bench/run.sh: cases are registered, then run interleaved (A B A B ...) so host noise
# falls on every case alike. Here a case also has a set-up command run, untimed, before each
# timed run (emptying the store, removing podman's image).
ncases=0
declare -a case_label case_prep case_cmd
add_case() { case_label[$ncases]=$1 case_prep[$ncases]=$2; shift 2; case_cmd[$ncases]="$*"; ncases=$((ncases + 1)); }

run_cases() {
	for ((i = 0; i < RUNS; i++)); do
		for ((c = 0; c < ncases; c++)); do
			local t0 t1
			eval "${case_prep[$c]}" >/dev/null 2>&1 || true
			t0=$(now_ns)
			if eval "${case_cmd[$c]}" >/dev/null 2>"$work/err.last"; then
				t1=$(now_ns)
				echo $(((t1 - t0) / 1000)) >>"$work/case.$c"
			else
				echo "bench: '${case_label[$c]}' failed (run $i):" >&2
				sed 's/^/    /' "$work/err.last" | tee -a "$work/failures" >&2
				echo "${case_label[$c]}" >>"$work/failed.$c"
			fi
		done
	done
	for ((c = 0; c < ncases; c++)); do
		local fails=0
		[ -f "$work/failed.$c" ] && fails=$(wc -l <"$work/failed.$c")
		touch "$work/case.$c"
		sort -n "$work/case.$c" | awk -v l="${case_label[$c]}" -v f="$fails" '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s|%.1f|%.1f|%d|%d\n", l, a[1]/1000, m/1000, NR, f}' >>"$work/results"
		rm -f "$work/case.$c" "$work/failed.$c"
	done
	ncases=0
}

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
add_case "sandbox pull (empty store)" "rm -rf '$store'" "$B/sandbox" pull -q --root "$store" "$ref"
add_case "podman pull --tls-verify=false (after podman rmi)" "${podman[*]} rmi -af" "${podman[@]}" pull -q --tls-verify=false "$ref"
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
add_case "sandbox run IMAGE true (cached image, VM template)" "" "$B/sandbox" run --root "$store" "$ref" true
add_case "podman run --rm --runtime runc IMAGE true" "" "${prun[@]}" "$ref" true
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
	echo "| case | min (ms) | median (ms) | runs timed | runs failed |"
	echo "|---|---|---|---|---|"
	awk -F'|' '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5}' "$work/results"
	if [ -s "$work/failures" ]; then
		echo
		echo "Failed runs said:"
		echo
		echo '```'
		cat "$work/failures"
		echo '```'
	fi
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

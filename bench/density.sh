#!/bin/bash
# Memory and idle CPU of N idle sandboxes. Sourced by bench/run.sh (which sets B, work and
# SANDBOX_RUN_ROOT/SANDBOX_TEMPLATE_DIR under $work); run alone, it prints the table rows:
#   bench/density.sh BUILD_DIR    (DENSITY_NS="1 10 50" COLD_NS="1 4" IDLE_SECS=60 override)
# Alone it makes its own scratch dir and template, so it can run next to other tests.

# CPU ticks (utime+stime, all threads) of the given processes, summed.
cpu_ticks() {
	local p t=0
	for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
	echo "$t"
}

# Memory: PSS of N idle sandboxes (VMM processes), from one template and cold-booted; and the
# host CPU they burn while idle (utime+stime deltas of their VMMs over IDLE_SECS, after a settle
# delay so the last sandbox's start-up is not counted), in % of one core per sandbox.
IDLE_SECS=${IDLE_SECS:-60}
density() { # density MODE N -> "up|avg_pss_mib|total_pss_mib|idle_cpu_pct_per_sandbox"
	# One at a time, each up before the next starts: N restores at once on a small host time out
	# (session 9: 19 of 50 failed at load 30), and what is measured is idle memory, not start-up.
	local mode=$1 n=$2 pids=() i
	for ((i = 0; i < n; i++)); do
		# shellcheck disable=SC2086 # an empty mode is no argument
		"$B/sandbox" run $mode --rootfs "$B/rootfs-busybox" -- sh -c 'echo up; exec sleep 100000' >"$work/d.$i" 2>&1 &
		pids+=($!)
		until grep -q up "$work/d.$i" 2>/dev/null; do
			kill -0 "${pids[$i]}" 2>/dev/null || { echo "bench: density sandbox $i died: $(cat "$work/d.$i")" >&2; break; }
			sleep 1
		done
	done
	local total=0 up=0 p vmms=()
	for p in $(pgrep -x sandbox-vmm); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "$work" || continue
		total=$((total + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
		up=$((up + 1))
		vmms+=("$p")
	done
	local t0 t1 hz
	hz=$(getconf CLK_TCK)
	sleep 10
	t0=$(cpu_ticks "${vmms[@]}")
	sleep "$IDLE_SECS"
	t1=$(cpu_ticks "${vmms[@]}")
	awk -v t="$total" -v u="$up" -v c=$((t1 - t0)) -v hz="$hz" -v s="$IDLE_SECS" \
		'BEGIN {printf "%d|%.1f|%.1f|%.2f", u, (u ? t/u/1024 : 0), t/1024, (u ? 100*c/hz/s/u : 0)}'
	# One at a time again: 50 guests powering off at once is a storm of emulated kernel work
	# (load average 50 for minutes here) that would fall on the next measurement.
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	B=${1:-build}
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	export SANDBOX_TEMPLATE_DIR=${SANDBOX_TEMPLATE_DIR:-$work/templates}
	export SANDBOX_RUN_ROOT=$work/run
	"$B/sandbox" template build >/dev/null
	echo "| start | N | up | PSS per sandbox (MiB) | PSS total (MiB) | idle CPU per sandbox (% of a core) |"
	echo "|---|---|---|---|---|---|"
	for n in ${DENSITY_NS:-1 10 50}; do echo "| from template | $n | $(density "" "$n") |"; done
	for n in ${COLD_NS:-1 4}; do echo "| cold boot | $n | $(density --no-template "$n") |"; done
fi

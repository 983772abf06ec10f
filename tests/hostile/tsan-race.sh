#!/bin/bash
# `make hostile-tsan`: the hostile guest's cross-vCPU attacks (race, race-reset, then all of them)
# on a ThreadSanitizer build of sandbox-vmm with 2 vCPUs and blk, rng, vsock and net attached.
# Fails on any TSan report. Seccomp is off here: TSan's runtime makes system calls of its own
# (the ASan VMM of test_hostile runs with seccomp on). Not part of `make check`: it is slow under
# TSan and needs root for the tap.
# Usage: tests/hostile/tsan-race.sh BUILD_DIR   (ATTACKS="race ..." picks the attacks; KEEP=1 keeps
# the scratch directory with the consoles and the VMM's stderr)
set -euo pipefail
B=${1:-build}
vmm=$B/tsan/sandbox-vmm guest=$B/hostile/guest.elf
work=$(mktemp -d /tmp/sandbox-hostile-tsan.XXXXXX)
tap=sbxt$$
trap 'ip link del "$tap" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
truncate -s 1M "$work/disk.img"
printf HOSTILE-DISK | dd of="$work/disk.img" conv=notrunc status=none
echo unused >"$work/initrd"
export TSAN_OPTIONS="halt_on_error=0 report_signal_unsafe=0"
fail=0
for attack in ${ATTACKS:-race race-reset all}; do
	start=$(date +%s)
	# No listener on the vsock port: the guest's vsock check expects the device's RST.
	status=0
	timeout -s KILL 600 "$vmm" --no-seccomp --cpus 2 --kernel "$guest" --initrd "$work/initrd" \
		--memory 32 --disk "$work/disk.img" --rng --vsock-cid 3 --vsock-uds "$work/vsock.sock" \
		--net "tap=$tap" --serial-log "$work/$attack.log" --cmdline "hostile=$attack" \
		2>"$work/$attack.err" || status=$?
	reports=$(grep -c "WARNING: ThreadSanitizer" "$work/$attack.err" || true)
	echo "tsan-race: $attack: VMM exit $status, $reports TSan reports, $(($(date +%s) - start)) s"
	if [ "$status" != 0 ] || [ "$reports" != 0 ] || grep -aq "BAD \| FAIL " "$work/$attack.log"; then
		grep -A30 "WARNING: ThreadSanitizer" "$work/$attack.err" | head -60 || true
		grep -a "BAD \| FAIL " "$work/$attack.log" | head -5 || true
		fail=1
	fi
	rm -f "$work/vsock.sock"
done
exit $fail

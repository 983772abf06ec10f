#!/bin/bash
# make bench: side-by-side measurements in one run, written to docs/benchmarks.md.
#  (a) our VMM vs QEMU -M microvm booting the same vmlinux with the same tiny init (reboots at once)
#  (b) `sandbox run --rootfs R true` vs `runc run` on the same busybox rootfs, and the split of
#      our time from the boot-timer port.
# Usage: bench/run.sh BUILD_DIR   (RUNS=N overrides the 10 runs per case)
set -euo pipefail
B=${1:-build}
RUNS=${RUNS:-10}
OUT=${OUT:-docs/benchmarks.md}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now_ns() { date +%s%N; }

# time_cmd LABEL CMD... : runs CMD $RUNS times, appends "LABEL min median" (ms) to $work/results
time_cmd() {
	local label=$1; shift
	local f="$work/times.$RANDOM"
	: >"$f"
	for ((i = 0; i < RUNS; i++)); do
		local t0 t1
		t0=$(now_ns)
		"$@" >/dev/null 2>>"$work/errors" || { echo "bench: '$label' failed (run $i): $*" >&2; tail -3 "$work/errors" >&2; exit 1; }
		t1=$(now_ns)
		echo $(((t1 - t0) / 1000)) >>"$f"
	done
	sort -n "$f" | awk -v l="$label" '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s|%.1f|%.1f|%d\n", l, a[1]/1000, m/1000, NR}' >>"$work/results"
}

gcc -O2 -static -o "$work/tiny-init" "$here/tiny-init.c"
"$(dirname "$0")/../rootfs/build-initramfs.sh" "$work/tiny-init" "$work/tiny.cpio"
kernel=$B/vmlinux
qemu_cmdline="console=ttyS0 quiet reboot=k panic=-1"
if [ -d /sys/module/kvm_pvm ]; then
	qemu_cmdline="$qemu_cmdline $(cat "$B/emulation-cmdline" 2>/dev/null || echo 'noxsave clearcpuid=popcnt,cx16')"
fi

echo "bench: (a) boot to init and exit, $RUNS runs each" >&2
time_cmd "sandbox-vmm (ours), 1 vCPU, 128 MiB" "$B/sandbox-vmm" --kernel "$kernel" --initrd "$work/tiny.cpio" --cpus 1 --memory 128
time_cmd "qemu-system-x86_64 -M microvm, 1 vCPU, 128 MiB" qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=off,acpi=off \
	-enable-kvm -cpu host -m 128 -smp 1 -nodefaults -no-user-config -nographic -serial null -monitor none \
	-no-reboot -kernel "$kernel" -initrd "$work/tiny.cpio" -append "$qemu_cmdline"

echo "bench: (b) whole command, $RUNS runs each" >&2
bundle=$work/bundle
mkdir -p "$bundle"
cp -a "$B/rootfs-busybox" "$bundle/rootfs"
(cd "$bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"true"/' config.json)
n=0
runc_run() { n=$((n + 1)); runc run --bundle "$bundle" "bench-$$-$n"; }
time_cmd "sandbox run --rootfs R true (cold boot)" "$B/sandbox" run --rootfs "$B/rootfs-busybox" -- true
time_cmd "runc run (same rootfs, true)" runc_run

# Split of one sandbox run from the boot-timer port (VMM-relative ns).
SANDBOX_BOOT_TIMER_LOG=$work/timer.log "$B/sandbox" run --rootfs "$B/rootfs-busybox" -- true
split=$(awk '{printf "| %s | %.1f |\n", $2, $1/1e6}' "$work/timer.log")

{
	echo "# Benchmarks"
	echo
	echo "Measured by \`make bench\` on $(date -u +%Y-%m-%d), host kernel $(uname -r), $(nproc) cores,"
	if [ -d /sys/module/kvm_pvm ]; then
		echo "KVM: kvm_pvm (software emulation of guest kernel code: boots are ~1000x slower than on VMX/SVM)."
	else
		echo "KVM: hardware virtualization."
	fi
	echo "All cases ran side by side in one run, $RUNS runs each; times are wall clock, process start to exit."
	echo
	echo "| case | min (ms) | median (ms) | runs |"
	echo "|---|---|---|---|"
	awk -F'|' '{printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4}' "$work/results"
	echo
	echo "## Where one \`sandbox run true\` spends its time (boot-timer port 0x440, ms since VMM start)"
	echo
	echo "Stages: first_kvm_run = VMM set-up done; 1 = agent started (guest kernel booted);"
	echo "2 = agent connected to the host; 3 = container process exec'd; 4 = agent powering off; exit = VMM exiting."
	echo
	echo "| stage | ms |"
	echo "|---|---|"
	echo "$split"
	[ -f docs/benchmarks-notes.md ] && { echo; cat docs/benchmarks-notes.md; }
} >"$OUT"
echo "bench: wrote $OUT" >&2
cat "$OUT"

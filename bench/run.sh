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

# shellcheck source=bench/lib.sh
. "$here/lib.sh"

gcc -O2 -static -o "$work/tiny-init" "$here/tiny-init.c"
"$(dirname "$0")/../rootfs/build-initramfs.sh" "$work/tiny-init" "$work/tiny.cpio"
kernel=$B/vmlinux
# QEMU gets exactly the kernel command line our VMM builds (one extra boot to read it).
"$B/sandbox-vmm" --kernel "$kernel" --initrd "$work/tiny.cpio" --cpus 1 --memory 128 --debug >"$work/debug.log" 2>&1
qemu_cmdline=$(sed -n 's/.*kernel command line: //p' "$work/debug.log" | head -1)
vmm_fixed=$(sed -n 's/.*timing: //p' "$work/debug.log" | head -1)
[ -n "$qemu_cmdline" ] || { echo "bench: could not read sandbox-vmm's kernel command line" >&2; exit 1; }
# QEMU flags that kvm_pvm needs (docs/guest-kernel.md): no MSR 0x10a, no hypercall PV features,
# an i8042 so reboot=k ends the VM.
qemu_cpu="host,-arch-capabilities,kvm-pv-ipi=off,kvm-pv-sched-yield=off,kvm-pv-unhalt=off,kvm-pv-tlb-flush=off,kvm-poll-control=off,kvm-asyncpf=off,kvm-asyncpf-int=off"

echo "bench: (a) boot to init and exit, $RUNS runs each" >&2
add_case "sandbox-vmm (ours), 1 vCPU, 128 MiB" "$B/sandbox-vmm" --kernel "$kernel" --initrd "$work/tiny.cpio" --cpus 1 --memory 128
add_case "qemu-system-x86_64 -M microvm, 1 vCPU, 128 MiB" qemu-system-x86_64 -M microvm,acpi=off,x-option-roms=off,rtc=off,pit=off,pic=off,isa-serial=on \
	-enable-kvm -cpu "$qemu_cpu" -device i8042 -m 128 -smp 1 -nodefaults -no-user-config -nographic -serial null -monitor none \
	-no-reboot -kernel "$kernel" -initrd "$work/tiny.cpio" -append "'$qemu_cmdline'"
run_cases

echo "bench: (b) whole command, $RUNS runs each (template, cold boot, runc)" >&2
bundle=$work/bundle
mkdir -p "$bundle"
cp -a "$B/rootfs-busybox" "$bundle/rootfs"
(cd "$bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"true"/' config.json)
n=0
runc_run() { n=$((n + 1)); runc run --bundle "$bundle" "bench-$$-$n"; }
export SANDBOX_TEMPLATE_DIR=$work/templates
# Run state under $work too, so the density count below finds exactly our VMMs.
export SANDBOX_RUN_ROOT=$work/run
"$B/sandbox" template build >/dev/null
add_case "sandbox run --rootfs R true (from VM template)" "$B/sandbox" run --rootfs "$B/rootfs-busybox" -- true
add_case "sandbox run --no-template --rootfs R true (cold boot)" "$B/sandbox" run --no-template --rootfs "$B/rootfs-busybox" -- true
add_case "runc run (same rootfs, true)" runc_run
run_cases

# Split of one sandbox run from the boot-timer port (VMM-relative ns), cold and restored.
SANDBOX_BOOT_TIMER_LOG=$work/timer.log "$B/sandbox" run --no-template --rootfs "$B/rootfs-busybox" -- true
split=$(awk '{printf "| %s | %.1f |\n", $2, $1/1e6}' "$work/timer.log")
SANDBOX_BOOT_TIMER_LOG=$work/timer2.log "$B/sandbox" run --rootfs "$B/rootfs-busybox" -- true
split2=$(awk '{printf "| %s | %.1f |\n", $2, $1/1e6}' "$work/timer2.log")

# shellcheck source=bench/density.sh
. "$here/density.sh"
DENSITY_NS=${DENSITY_NS:-1 10 50}
COLD_NS=${COLD_NS:-1 4}
dens=""
for n in $DENSITY_NS; do dens="$dens| from template | $n | $(density "" "$n") |"$'\n'; done
for n in $COLD_NS; do dens="$dens| cold boot | $n | $(density --no-template "$n") |"$'\n'; done

{
	echo "<!-- bench/run.sh: begin -->"
	echo "Measured by \`make bench\` on $(date -u +%Y-%m-%d), host kernel $(uname -r), $(nproc) cores,"
	if [ -d /sys/module/kvm_pvm ]; then
		echo "KVM: kvm_pvm (software emulation of guest kernel code: boots are ~1000x slower than on VMX/SVM)."
	else
		echo "KVM: hardware virtualization."
	fi
	echo "All cases ran side by side in one run, $RUNS runs each; times are wall clock, process start to exit."
	echo
	print_results
	echo
	echo "Our VMM's fixed cost in one of these boots (its --debug timing line): $vmm_fixed."
	echo "(QEMU's own floor, from process start to exit with a stub kernel, is about 35 ms per the notes.)"
	echo
	echo "## Where one \`sandbox run true\` spends its time (boot-timer port 0x440, ms since VMM start)"
	echo
	echo "Stages: first_kvm_run = VMM set-up done; 1 = agent started (guest kernel booted);"
	echo "2 = agent connected to the host; 3 = container process exec'd; 4 = agent powering off; exit = VMM exiting."
	echo
	echo "| stage | ms |"
	echo "|---|---|"
	echo "$split"
	echo
	echo "The same for a run restored from the VM template (\`restored\` = the VMM finished restoring):"
	echo
	echo "| stage | ms |"
	echo "|---|---|"
	echo "$split2"
	echo
	echo "## Memory of idle sandboxes (PSS of the VMM processes, /proc/PID/smaps_rollup)"
	echo
	echo "Each sandbox runs \`sleep\` in a 256 MiB guest. Restored VMs map the template's memory file"
	echo "MAP_PRIVATE, so the pages they do not write stay shared between them."
	echo
	echo "Idle CPU: utime+stime of those VMMs over ${IDLE_SECS} s once all were up (10 s after the last"
	echo "start), in % of one host core per sandbox (what wakes an idle guest: docs/guest-kernel.md, \"Idle\")."
	echo
	echo "| start | N | up | PSS per sandbox (MiB) | PSS total (MiB) | idle CPU per sandbox (% of a core) |"
	echo "|---|---|---|---|---|---|"
	printf "%s" "$dens"
	echo "<!-- bench/run.sh: end -->"
} >"$work/section"
# Replace our section in place and keep the rest of OUT (the analysis written by hand, the
# images section); a new OUT starts with a title and our section.
[ -s "$OUT" ] || printf '# Benchmarks\n\n<!-- bench/run.sh: begin -->\n<!-- bench/run.sh: end -->\n' >"$OUT"
grep -qx '<!-- bench/run.sh: begin -->' "$OUT" || { echo "bench: $OUT has no bench/run.sh section markers" >&2; exit 1; }
awk -v sec="$work/section" '/^<!-- bench\/run.sh: begin -->$/ {skip = 1; while ((getline l < sec) > 0) print l}
	!skip {print} /^<!-- bench\/run.sh: end -->$/ {skip = 0}' "$OUT" >"$work/out"
cp "$work/out" "$OUT"
echo "bench: wrote the bench/run.sh section of $OUT" >&2
cat "$work/section"
# Images (pull, run IMAGE) vs podman+runc: appends its own section to $OUT.
RUNS=$RUNS OUT=$OUT "$here/images.sh" "$B"

#!/bin/bash
# Network throughput and latency, side by side in one run (docs/networking.md "Benchmarks"):
#   ours   sandbox-vmm, virtio-net over a tap
#   qemu   qemu-system-x86_64 -M microvm, virtio-net-device over a tap (no vhost: none here)
#   veth   two network namespaces over a veth pair: the no-VM ceiling
# Both VMs boot the same vmlinux with the same busybox initramfs, whose /init configures eth0
# and serves: port 5001 swallows what the host sends, port 5002 sends $MB MiB of zeros. The host
# side is bash's /dev/tcp and dd; latency is busybox ping. Guest kernels are emulated on kvm_pvm
# hosts (../shared/guest-kernel-notes.md): compare the ratios, not the absolute numbers.
# Both VMs boot at the same time and are then measured in turn, and ping runs in ROUNDS rounds
# that alternate between them, so a busy shared host slows both alike; the table gives each one's
# median round and the median of the per-round ratios (ours / QEMU).
# Transfers alternate the same way, TROUNDS rounds of one transfer each way per VM.
# Usage: bench/net.sh BUILD_DIR   (MB=N MiB per transfer, default 32, 0: latency only;
#                                  PINGS=N per round, default 20; ROUNDS=N, default 3;
#                                  TROUNDS=N transfer rounds, default 1)
set -euo pipefail
B=${1:-build}
MB=${MB:-32}
PINGS=${PINGS:-20}
ROUNDS=${ROUNDS:-3}
TROUNDS=${TROUNDS:-1}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	ip netns del sbxb-a 2>/dev/null || true
	ip netns del sbxb-b 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# The guest: busybox as /init's shell, nothing else.
mkdir -p "$work/root/bin" "$work/root/proc" "$work/root/sys" "$work/root/dev"
cp /bin/busybox "$work/root/bin/busybox"
cat >"$work/root/init" <<EOF
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
ip=\$(/bin/busybox sed -n 's/.*benchip=\([0-9.]*\).*/\1/p' /proc/cmdline)
/bin/busybox ip link set lo up
/bin/busybox ip link set eth0 up
/bin/busybox ip addr add \$ip/24 dev eth0
/bin/busybox nc -ll -p 5001 -e /bin/busybox sh -c 'exec /bin/busybox cat >/dev/null' &
/bin/busybox nc -ll -p 5002 -e /bin/busybox dd if=/dev/zero bs=65536 count=$((MB * 16)) 2>/dev/null &
echo bench-guest-ready
while :; do /bin/busybox sleep 3600; done
EOF
chmod +x "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc --quiet >"$work/bench.cpio")

# The exact command line our VMM builds, for QEMU too (one short boot to read it).
"$B/sandbox-vmm" --kernel "$B/vmlinux" --initrd "$work/bench.cpio" --memory 256 --debug \
	--cmdline "benchip=0.0.0.0 panic=-1" >"$work/probe.log" 2>&1 &
probe=$!
for _ in $(seq 1 50); do grep -q "kernel command line" "$work/probe.log" && break; sleep 0.2; done
kill $probe 2>/dev/null || true
cmdline=$(sed -n 's/.*kernel command line: //p' "$work/probe.log" | head -1 | sed 's/ benchip=[^ ]*//')
qemu_cpu="host,-arch-capabilities,kvm-pv-ipi=off,kvm-pv-sched-yield=off,kvm-pv-unhalt=off,kvm-pv-tlb-flush=off,kvm-poll-control=off,kvm-asyncpf=off,kvm-asyncpf-int=off"

wait_port() { # ip port timeout_s
	local end=$((SECONDS + $3))
	while ((SECONDS < end)); do
		(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
		sleep 2
	done
	echo "bench: $1:$2 never answered" >&2
	return 1
}

# MiB/s of one transfer, host -> guest (port 5001) and guest -> host (port 5002): "up|down".
transfer() { # ip
	local t0 t1 n
	if ((MB == 0)); then
		echo "-|-"
		return
	fi
	t0=$(date +%s%N)
	(exec 3<>"/dev/tcp/$1/5001" && dd if=/dev/zero bs=65536 count=$((MB * 16)) >&3 2>/dev/null)
	t1=$(date +%s%N)
	local up=$(awk -v b=$((MB * 1048576)) -v t=$((t1 - t0)) 'BEGIN{printf "%.3f", b / 1048576 / (t / 1e9)}')
	t0=$(date +%s%N)
	n=$( (exec 3<>"/dev/tcp/$1/5002" && cat <&3) | wc -c)
	t1=$(date +%s%N)
	local down=$(awk -v b="$n" -v t=$((t1 - t0)) 'BEGIN{printf "%.3f", b / 1048576 / (t / 1e9)}')
	echo "$up|$down"
}

# Average round trip of one round of $PINGS pings, in ms ("n/a" if none came back).
ping_round() { # ip
	local rtt=$(busybox ping -c "$PINGS" -i 0.2 "$1" 2>/dev/null | sed -n 's/.*min\/avg\/max = [0-9.]*\/\([0-9.]*\)\/.*/\1/p')
	echo "${rtt:-n/a}"
}

median() { # numbers...
	printf '%s\n' "$@" | grep -v n/a | sort -g | awk '{v[NR] = $1} END {
		if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

host_tap() { # name addr
	for _ in $(seq 1 100); do ip link show "$1" >/dev/null 2>&1 && break; sleep 0.2; done
	ip addr add "$2/24" dev "$1"
	ip link set "$1" up
}

echo "bench: booting ours (sandbox-vmm) and QEMU microvm, both virtio-net over a tap" >&2
"$B/sandbox-vmm" --kernel "$B/vmlinux" --initrd "$work/bench.cpio" --memory 256 \
	--net tap=sbxb-ours --cmdline "benchip=10.214.1.2" --serial-log "$work/ours.log" &
pids+=($!)
ours_pid=$!
qemu-system-x86_64 -M microvm,acpi=off,x-option-roms=off,rtc=off,pit=off,pic=off,isa-serial=on \
	-enable-kvm -cpu "$qemu_cpu" -device i8042 -m 256 -smp 1 -nodefaults -no-user-config \
	-nographic -serial "file:$work/qemu.log" -monitor none -no-reboot \
	-netdev tap,id=n0,ifname=sbxb-qemu,script=no,downscript=no,vhost=off \
	-device virtio-net-device,netdev=n0 \
	-kernel "$B/vmlinux" -initrd "$work/bench.cpio" -append "$cmdline benchip=10.214.2.2" &
pids+=($!)
qemu_pid=$!
host_tap sbxb-ours 10.214.1.1
host_tap sbxb-qemu 10.214.2.1
wait_port 10.214.1.2 5001 1800
wait_port 10.214.2.2 5001 1800

echo "bench: $TROUNDS transfer rounds of $MB MiB each way, alternating" >&2
ours_up=() ours_down=() qemu_up=() qemu_down=() up_ratios=() down_ratios=()
for ((r = 1; r <= TROUNDS; r++)); do
	a=$(transfer 10.214.1.2)
	b=$(transfer 10.214.2.2)
	echo "bench: transfer round $r: ours $a MiB/s, QEMU $b MiB/s (up|down)" >&2
	ours_up+=("${a%|*}") ours_down+=("${a#*|}") qemu_up+=("${b%|*}") qemu_down+=("${b#*|}")
	if ((MB > 0)); then
		up_ratios+=("$(awk -v a="${a%|*}" -v b="${b%|*}" 'BEGIN{printf "%.3f", a / b}')")
		down_ratios+=("$(awk -v a="${a#*|}" -v b="${b#*|}" 'BEGIN{printf "%.3f", a / b}')")
	fi
done
ours_tp="$(median "${ours_up[@]}")|$(median "${ours_down[@]}")"
qemu_tp="$(median "${qemu_up[@]}")|$(median "${qemu_down[@]}")"
echo "bench: $ROUNDS ping rounds of $PINGS, alternating" >&2
ours_rtt=() qemu_rtt=() ratios=()
for ((r = 1; r <= ROUNDS; r++)); do
	a=$(ping_round 10.214.1.2)
	b=$(ping_round 10.214.2.2)
	echo "bench: round $r: ours $a ms, QEMU $b ms" >&2
	ours_rtt+=("$a") qemu_rtt+=("$b")
	if [[ $a != n/a && $b != n/a ]]; then
		ratios+=("$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.3f", a / b}')")
	fi
done
echo "sandbox-vmm (ours)|$ours_tp|$(median "${ours_rtt[@]}")" >>"$work/results"
echo "QEMU microvm|$qemu_tp|$(median "${qemu_rtt[@]}")" >>"$work/results"
kill "$ours_pid" "$qemu_pid"

echo "bench: veth between two network namespaces" >&2
ip netns add sbxb-a
ip netns add sbxb-b
ip link add name sbxb-va netns sbxb-a type veth peer name sbxb-vb netns sbxb-b
ip -n sbxb-a addr add 10.214.3.1/24 dev sbxb-va
ip -n sbxb-b addr add 10.214.3.2/24 dev sbxb-vb
ip -n sbxb-a link set sbxb-va up
ip -n sbxb-b link set sbxb-vb up
ip netns exec sbxb-b busybox nc -ll -p 5001 -e sh -c 'exec cat >/dev/null' &
pids+=($!)
ip netns exec sbxb-b busybox nc -ll -p 5002 -e dd if=/dev/zero bs=65536 count=$((MB * 16)) 2>/dev/null &
pids+=($!)
sleep 1
ip netns exec sbxb-a bash -c "$(declare -f transfer ping_round); MB=$MB PINGS=$PINGS
	echo \"veth, no VM|\$(transfer 10.214.3.2)|\$(ping_round 10.214.3.2)\"" >>"$work/results"

echo
echo "| path | host->guest MiB/s | guest->host MiB/s (medians of rounds) | ping avg ms (median of rounds) |"
echo "|---|---|---|---|"
sed 's/^/| /; s/|/ | /g; s/$/ |/; s/^|  /| /' "$work/results"
echo
echo "ping ours / QEMU, median of $((${#ratios[@]})) per-round ratios: $(median "${ratios[@]}")" \
	"(rounds: ${ratios[*]})"
if ((MB > 0)); then
	echo "throughput ours / QEMU, median of $TROUNDS per-round ratios: host->guest $(median "${up_ratios[@]}")" \
		"(rounds: ${up_ratios[*]}), guest->host $(median "${down_ratios[@]}") (rounds: ${down_ratios[*]})"
fi

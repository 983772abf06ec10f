#!/bin/sh
# virtio-fs throughput (docs/virtiofs.md): file creation rate and sequential write/read MB/s
# with busybox, in the guest against a `-v` host directory, in the guest against its own
# overlay (tmpfs upper: the VM's baseline), and on the host against the same directory.
# Usage: bench/virtiofs.sh BUILD_DIR [FILES] [MIB]
set -eu
B=${1:-build}
N=${2:-300}
MIB=${3:-64}
work=$(mktemp -d /tmp/sandbox-bench-fs.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/share"
dd if=/dev/urandom of="$work/share/read.bin" bs=1M count="$MIB" 2>/dev/null

# One shell function set, run by busybox sh on the host and in the guest. Timing from
# /proc/uptime (busybox date has no %N): 10 ms resolution, runs last seconds.
cat > "$work/share/bench.sh" <<'SCRIPT'
N=$1; MIB=$2; DIR=$3; LABEL=$4; READ=$5
now() { awk '{print $1}' /proc/uptime; }
rate() { awk -v s="$1" -v e="$2" -v n="$3" 'BEGIN { d = e - s; if (d <= 0) d = 0.01; printf "%.1f", n / d }'; }
d=$DIR/bench.$$
mkdir -p $d/files
s=$(now); i=0
while [ $i -lt $N ]; do : > $d/files/f$i; i=$((i + 1)); done
e=$(now); create=$(rate $s $e $N)
s=$(now); dd if=/dev/zero of=$d/w.bin bs=1M count=$MIB conv=fsync 2>/dev/null; e=$(now)
write=$(rate $s $e $MIB)
[ -n "$READ" ] || READ=$d/w.bin
s=$(now); dd if=$READ of=/dev/null bs=1M 2>/dev/null; e=$(now)
read=$(rate $s $e $MIB)
rm -rf $d
echo "| $LABEL | $create | $write | $read |"
SCRIPT

echo "| where | files created/s ($N empty files) | seq write MB/s ($MIB MiB, fsync) | seq read MB/s ($MIB MiB) |"
echo "|---|---|---|---|"
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
busybox sh "$work/share/bench.sh" "$N" "$MIB" "$work/share" "host, same directory" "$work/share/read.bin"
"$B/sandbox" run -v "$work/share:/data" --rootfs "$B/rootfs-busybox" -- sh -c \
	"sh /data/bench.sh $N $MIB /data 'guest, virtio-fs share' /data/read.bin; \
	 sh /data/bench.sh $N $MIB /tmp 'guest, own overlay (tmpfs)' ''"

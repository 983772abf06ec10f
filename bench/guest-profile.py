#!/usr/bin/env python3
"""Where a guest spent its vCPU time: the VMM's --guest-profile samples (little-endian u64
count, then one u64 RIP per sample, taken on the vCPU threads' CPU clock: at most one per host
tick, so the counts are shares of the vCPUs' time) mapped to the guest kernel's functions.

usage: bench/guest-profile.py SAMPLES VMLINUX [TOP]
Run a sandbox with SANDBOX_GUEST_PROFILE=SAMPLES to get the samples.
"""
import bisect
import collections
import struct
import subprocess
import sys


def kernel_symbols(vmlinux):
    out = subprocess.run(["nm", "-n", "--defined-only", vmlinux], check=True,
                         capture_output=True, text=True).stdout
    addrs, names = [], []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            addrs.append(int(parts[0], 16))
            names.append(parts[2])
    return addrs, names


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.strip())
    top = int(sys.argv[3]) if len(sys.argv) == 4 else 40
    addrs, names = kernel_symbols(sys.argv[2])
    counts = collections.Counter()
    total = 0
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    count = min(struct.unpack_from("<Q", data)[0], len(data) // 8 - 1)
    for rip in struct.unpack_from(f"<{count}Q", data, 8):
        total += 1
        if rip < 0xffff800000000000:
            counts["[guest user mode]"] += 1
            continue
        i = bisect.bisect_right(addrs, rip) - 1
        counts[names[i] if i >= 0 else "[unknown kernel]"] += 1
    if not total:
        sys.exit("no samples")
    print(f"{total} samples")
    for name, n in counts.most_common(top):
        print(f"{n:8d} {100.0 * n / total:6.2f}%  {name}")


if __name__ == "__main__":
    main()

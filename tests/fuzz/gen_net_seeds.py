#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_virtio_net (layout: tests/fuzz/fuzz_virtio_net.c, then
tests/fuzz/fuzz_virtio.h) into tests/fuzz/corpus/fuzz_virtio_net/: valid guests that send a tx
frame with and without offload flags and receive frames into mergeable and whole-frame buffers."""
import os
import struct

RAM = 64 * 1024
QUEUES = 3
NOTIFIES = 8
F_CSUM, F_MAC, F_MRG_RXBUF, F_STATUS, F_VERSION_1 = 1 << 0, 1 << 5, 1 << 15, 1 << 16, 1 << 32
HDR = 12  # virtio_net_hdr_v1
# Per queue: rings at fixed places; buffers from 0x8000 on.
RINGS = {0: (0x1000, 0x1800, 0x1c00), 1: (0x2000, 0x2800, 0x2c00)}
QSIZE = 16


class Guest:
    def __init__(self):
        self.ram = bytearray(RAM)
        self.next_buf = 0x8000
        self.chains = {0: [], 1: []}

    def buf(self, data_or_len):
        data = bytes(data_or_len) if not isinstance(data_or_len, int) else bytes(data_or_len)
        addr = self.next_buf
        self.ram[addr:addr + len(data)] = data
        self.next_buf += (len(data) + 15) & ~15
        return addr, len(data)

    def chain(self, q, segs):
        """segs: (addr, len, writable) in order; makes one chain available on queue q."""
        desc, avail, _ = RINGS[q]
        first = sum(len(c) for c in self.chains[q])
        for i, (addr, ln, w) in enumerate(segs):
            flags = (2 if w else 0) | (1 if i + 1 < len(segs) else 0)
            struct.pack_into("<QIHH", self.ram, desc + 16 * (first + i), addr, ln, flags,
                             first + i + 1)
        self.chains[q].append(segs)
        n = len(self.chains[q])
        struct.pack_into("<H", self.ram, avail + 4 + 2 * (n - 1), first)
        struct.pack_into("<HH", self.ram, avail, 0, n)

    def input(self, features, notifies, net):
        out = bytearray(net)
        out += struct.pack("<II", features & 0xffffffff, features >> 32)
        for q in range(QUEUES):
            d, a, u = RINGS.get(q, (0, 0, 0))
            out += struct.pack("<HIII", QSIZE if q in RINGS else 0, d, a, u)
        out += bytes(notifies + [0] * (NOTIFIES - len(notifies)))
        out += bytes([0])  # config offset: the MAC
        used = max(self.next_buf, 0x3000)
        return bytes(out) + bytes(self.ram[:used])


def net_prefix(flags=0, rates=(0, 0, 0, 0), frames=(), cfg=(0, 2, 6, 1), ops=()):
    p = bytearray([flags]) + struct.pack("<4H", *rates) + bytes([2, 0, 0, 0xaa, 0xbb, 0xcc])
    lens = list(frames) + [0] * (4 - len(frames))
    p += bytes([len(frames)]) + struct.pack("<4H", *lens) + bytes(cfg)
    p += bytes(list(ops) + [0] * (8 - len(ops)))  # moves after each notify
    assert len(p) == 36
    return bytes(p)


def eth_frame(n):
    return bytes([0x02, 0, 0, 0xaa, 0xbb, 0xcc, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5]) + bytes(
        (i & 0xff for i in range(n - 14)))


def tx_seed(offload):
    g = Guest()
    # flags NEEDS_CSUM, gso none, hdr_len, gso_size, csum_start 34, csum_offset 16, num_buffers
    hdr = struct.pack("<BBHHHHH", 1 if offload else 0, 0, 0, 0, 34 if offload else 0,
                      16 if offload else 0, 0)
    for _ in range(2):
        g.chain(1, [g.buf(hdr) + (False,), g.buf(eth_frame(60)) + (False,)])
    feats = F_VERSION_1 | F_MAC | F_STATUS | (F_CSUM if offload else 0)
    return g.input(feats, [1, 1], net_prefix())


def rx_seed(mrg):
    g = Guest()
    if mrg:
        for _ in range(8):
            g.chain(0, [g.buf(256) + (True,)])
    else:
        for _ in range(2):
            g.chain(0, [g.buf(HDR) + (True,), g.buf(1514) + (True,)])
    feats = F_VERSION_1 | F_MAC | F_STATUS | (F_MRG_RXBUF if mrg else 0)
    return g.input(feats, [0, 0, 0], net_prefix(frames=(HDR + 700, HDR + 60)))


def rate_seed():
    g = Guest()
    hdr = bytes(HDR)
    for _ in range(4):
        g.chain(1, [g.buf(hdr + eth_frame(200)) + (False,)])
    for _ in range(4):
        g.chain(0, [g.buf(2048) + (True,)])
    feats = F_VERSION_1 | F_MAC | F_STATUS | F_MRG_RXBUF
    # 16*20 = 320 B/s and 2 packets/s each way: the second frame waits
    return g.input(feats, [1, 0, 1, 0, 1, 0],
                   net_prefix(flags=8, rates=(20, 20, 2, 2), frames=(HDR + 200,) * 4))


def snapshot_seed():
    """A frame half delivered (2 of the 3 buffers it needs) and a tx frame, then a snapshot."""
    g = Guest()
    for _ in range(2):
        g.chain(0, [g.buf(256) + (True,)])
    g.chain(1, [g.buf(bytes(HDR) + eth_frame(60)) + (False,)])
    feats = F_VERSION_1 | F_MAC | F_STATUS | F_MRG_RXBUF
    return g.input(feats, [0, 1, 0], net_prefix(frames=(HDR + 700,), ops=(0, 4)))


here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_virtio_net")
os.makedirs(here, exist_ok=True)
for name, data in [("seed-tx", tx_seed(False)), ("seed-tx-offload", tx_seed(True)),
                   ("seed-rx-mergeable", rx_seed(True)), ("seed-rx-whole", rx_seed(False)),
                   ("seed-rate-limited", rate_seed()), ("seed-snapshot", snapshot_seed())]:
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)

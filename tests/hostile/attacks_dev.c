/*
 * Device-protocol attacks: virtio-vsock packets no driver sends (bad CIDs, types, ops, lengths,
 * a connection flood past the device's limit, credit violations, rx buffers too small for a
 * header, a reset mid-conversation) and virtio-net frames of impossible sizes and rx buffers
 * that cannot hold a header.
 */
#include "attacks.h"
#include "vsock.h"

static void vsock_raw(struct vsock_drv *v, const struct vsock_hdr_raw *h, uint32_t chain_len)
{
	uint8_t *b = dev_buf(v->d) + VSOCK_RX_BUFS * VSOCK_RX_BUF;
	memcpy(b, h, sizeof(*h));
	v->tx.desc[0] = (struct desc){(uint32_t)b, chain_len, 0, 0};
	vsock_send_chain(v, 0);
}

static void drain_rx(struct vsock_drv *v, uint32_t spins)
{
	struct vsock_pkt p;
	while (vsock_recv(v, &p, spins))
		;
}

void attack_vsock(void)
{
	struct vdev *d = virtio_find(ID_VSOCK);
	struct vsock_drv v;
	if (!d || vsock_open(d, &v) < 0) {
		con_puts("vsock: no device\n");
		return;
	}
	char buf[16];
	uint32_t port = cmdline_get("hostile.port", buf, sizeof(buf)) ? parse_u32(buf) : 1;
	struct vsock_hdr_raw h;
	/* Wrong CIDs (ours, the host's, reserved ones), wrong type, unknown op, len lies. */
	static const uint64_t cids[][2] = {{0, 2}, {2, 2}, {0xffffffffull, 2}, {0x100000003ull, 2},
					   {3, 0}, {3, 1}};
	for (unsigned i = 0; i < sizeof(cids) / sizeof(cids[0]); i++) {
		vsock_fill_hdr(&v, &h, VSOCK_OP_REQUEST, 7000, port, 0, 0);
		h.src_cid = cids[i][0] == 3 ? v.cid : cids[i][0];
		h.dst_cid = cids[i][1];
		vsock_raw(&v, &h, VSOCK_HDR);
	}
	vsock_fill_hdr(&v, &h, VSOCK_OP_REQUEST, 7001, port, 0, 0);
	h.type = 2; /* SEQPACKET, not offered */
	vsock_raw(&v, &h, VSOCK_HDR);
	for (uint16_t op = 0; op < 16; op++) {
		vsock_fill_hdr(&v, &h, op, 7002, port, 0xffffffffu, 0);
		vsock_raw(&v, &h, VSOCK_HDR);
	}
	vsock_fill_hdr(&v, &h, VSOCK_OP_RW, 7003, port, 0, 0xffffffffu);
	vsock_raw(&v, &h, VSOCK_HDR + 16);
	vsock_fill_hdr(&v, &h, VSOCK_OP_RW, 7003, port, 0, 65536);
	vsock_raw(&v, &h, VSOCK_HDR + 100);
	vsock_raw(&v, &h, VSOCK_HDR - 1); /* shorter than a header */
	drain_rx(&v, 20000);
	/* Connection flood: more than the device's 128 slots, to a port with no listener (each
	 * answer is an RST that needs an rx buffer) and to the listening one. */
	for (uint32_t i = 0; i < 300; i++) {
		vsock_fill_hdr(&v, &h, VSOCK_OP_REQUEST, 10000 + i, i & 1 ? port : 4242, 0, 0);
		vsock_raw(&v, &h, VSOCK_HDR);
		if (i % 8 == 7)
			drain_rx(&v, 2000);
	}
	drain_rx(&v, 20000);
	/* Credit violation on a live connection: far more than the 256 KiB advertised, in
	 * 64 KiB packets from the same guest buffer. */
	vsock_fill_hdr(&v, &h, VSOCK_OP_REQUEST, 7100, port, 0, 0);
	vsock_raw(&v, &h, VSOCK_HDR);
	drain_rx(&v, 200000);
	uint8_t *payload = (uint8_t *)SCRATCH_AREA;
	for (int i = 0; i < 8; i++) {
		uint8_t *b = dev_buf(d) + VSOCK_RX_BUFS * VSOCK_RX_BUF;
		vsock_fill_hdr(&v, (struct vsock_hdr_raw *)b, VSOCK_OP_RW, 7100, port, 0, 65536);
		v.tx.desc[0] = (struct desc){(uint32_t)b, VSOCK_HDR, DESC_NEXT, 1};
		v.tx.desc[1] = (struct desc){(uint32_t)payload, 65536, 0, 0};
		vsock_send_chain(&v, 0);
	}
	/* Shutdown with every flag bit, a credit request storm. */
	vsock_fill_hdr(&v, &h, VSOCK_OP_CREDIT_REQUEST, 7100, port, 0, 0);
	for (int i = 0; i < 200; i++)
		vsock_raw(&v, &h, VSOCK_HDR);
	vsock_fill_hdr(&v, &h, VSOCK_OP_SHUTDOWN, 7100, port, 0xffffffffu, 0);
	vsock_raw(&v, &h, VSOCK_HDR);
	drain_rx(&v, 20000);
	/* rx buffers the device cannot use: smaller than a header, device-readable, then a packet
	 * that needs an answer. */
	for (uint16_t i = 0; i < VSOCK_RX_BUFS; i++) {
		v.rx.desc[i] = (struct desc){SCRATCH_AREA + 64u * i, i & 1 ? 8u : 43u,
					     (uint16_t)(i & 2 ? 0 : DESC_WRITE), 0};
		gq_publish(&v.rx, i);
	}
	gq_notify(&v.rx);
	vsock_fill_hdr(&v, &h, VSOCK_OP_RW, 7200, 4242, 0, 0);
	vsock_raw(&v, &h, VSOCK_HDR);
	/* A connection open, data in flight, and the device reset under it. */
	vsock_open(d, &v);
	vsock_fill_hdr(&v, &h, VSOCK_OP_REQUEST, 7300, port, 0, 0);
	vsock_raw(&v, &h, VSOCK_HDR);
	vsock_fill_hdr(&v, &h, VSOCK_OP_RW, 7300, port, 0, 4096);
	vsock_raw(&v, &h, VSOCK_HDR + 4096);
	virtio_reset(d);
	vsock_open(d, &v);
	virtio_reset(d);
}

void attack_net(void)
{
	struct vdev *d = virtio_find(ID_NET);
	struct gq rx, tx;
	if (!d || virtio_begin(d, d->offered) < 0 || virtio_queue(d, 0, 256, &rx) < 0 ||
	    virtio_queue(d, 1, 256, &tx) < 0) {
		con_puts("net: no device\n");
		return;
	}
	virtio_driver_ok(d);
	uint8_t *b = (uint8_t *)SCRATCH_AREA;
	memset(b, 0, 0x20000);
	/* tx: empty, header only, shorter than a header, over the largest frame, a header the
	 * host kernel rejects (GSO type garbage). */
	const uint32_t lens[] = {0, 1, 11, 12, 13, 60 + 12, 65536 + 12 + 18, 0x20000};
	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		tx.desc[0] = (struct desc){(uint32_t)b, lens[i], 0, 0};
		gq_publish(&tx, 0);
	}
	memset(b, 0xff, 12);
	tx.desc[1] = (struct desc){(uint32_t)b, 1514, 0, 0};
	gq_publish(&tx, 1);
	gq_notify(&tx);
	/* The event-idx fields (used_event in avail, avail_event in used) at absurd values. */
	tx.avail[2 + tx.size] = 0x8000;
	for (int i = 0; i < 64; i++) {
		tx.desc[2] = (struct desc){(uint32_t)b + 0x1000, 60 + 12, 0, 0};
		gq_publish(&tx, 2);
		gq_notify(&tx);
	}
	/* rx: buffers smaller than a header and device-readable ones; the host side may or may not
	 * send frames meanwhile, either way nothing may be written out of them. */
	for (uint16_t i = 0; i < 64; i++) {
		rx.desc[i] = (struct desc){(uint32_t)b + 0x10000 + 64u * i, i & 1 ? 4u : 11u,
					   (uint16_t)(i & 2 ? 0 : DESC_WRITE), 0};
		gq_publish(&rx, i);
	}
	gq_notify(&rx);
	uint32_t id, len;
	(void)gq_wait(&tx, 200000, &id, &len);
	virtio_reset(d);
}

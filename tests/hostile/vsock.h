/*
 * Just enough of a virtio-vsock driver (virtio 1.2 §5.10) for the hostile guest: send a packet
 * on the tx queue, receive one from the rx queue (buffers re-posted as they are used).
 */
#ifndef HOSTILE_VSOCK_H
#define HOSTILE_VSOCK_H

#include "virtio.h"

#define VSOCK_HDR 44u
#define VSOCK_HOST_CID 2u
#define VSOCK_OP_REQUEST 1u
#define VSOCK_OP_RESPONSE 2u
#define VSOCK_OP_RST 3u
#define VSOCK_OP_SHUTDOWN 4u
#define VSOCK_OP_RW 5u
#define VSOCK_OP_CREDIT_UPDATE 6u
#define VSOCK_OP_CREDIT_REQUEST 7u
#define VSOCK_RX_BUFS 16u
#define VSOCK_RX_BUF 4096u

struct vsock_hdr_raw {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

struct vsock_pkt {
	uint32_t src_port, dst_port, len, op, flags;
};

struct vsock_drv {
	struct vdev *d;
	struct gq rx, tx;
	uint64_t cid;
	uint16_t tx_next; /* next free tx descriptor pair */
};

int vsock_open(struct vdev *d, struct vsock_drv *v);
/* Fills a header (our CID -> host) into hdr; payload follows it in the same buffer. */
void vsock_fill_hdr(const struct vsock_drv *v, struct vsock_hdr_raw *h, uint16_t op,
		    uint32_t src_port, uint32_t dst_port, uint32_t flags, uint32_t len);
/* Sends one packet and waits (bounded) for the device to take it. */
bool vsock_send(struct vsock_drv *v, uint16_t op, uint32_t src_port, uint32_t dst_port,
		uint32_t flags, const void *payload, uint32_t len);
/* Sends a raw descriptor chain the caller built in tx descriptors [0, n). */
void vsock_send_chain(struct vsock_drv *v, uint16_t head);
bool vsock_recv(struct vsock_drv *v, struct vsock_pkt *p, uint32_t spins);

#endif

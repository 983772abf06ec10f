/* Minimal virtio-vsock driver for the hostile guest (vsock.h). */
#include "vsock.h"

static uint8_t *rx_buf(const struct vsock_drv *v, unsigned i)
{
	return dev_buf(v->d) + i * VSOCK_RX_BUF;
}

static uint8_t *tx_buf(const struct vsock_drv *v)
{
	return dev_buf(v->d) + VSOCK_RX_BUFS * VSOCK_RX_BUF;
}

int vsock_open(struct vdev *d, struct vsock_drv *v)
{
	*v = (struct vsock_drv){.d = d};
	v->cid = mmio_r32(d->base + R_CONFIG) | ((uint64_t)mmio_r32(d->base + R_CONFIG + 4) << 32);
	if (virtio_begin(d, 0) < 0 || virtio_queue(d, 0, 64, &v->rx) < 0 ||
	    virtio_queue(d, 1, 64, &v->tx) < 0)
		return -1;
	struct gq ev;
	if (virtio_queue(d, 2, 64, &ev) < 0)
		return -1;
	for (unsigned i = 0; i < VSOCK_RX_BUFS; i++) {
		v->rx.desc[i] = (struct desc){(uint32_t)rx_buf(v, i), VSOCK_RX_BUF, DESC_WRITE, 0};
		gq_publish(&v->rx, (uint16_t)i);
	}
	virtio_driver_ok(d);
	gq_notify(&v->rx);
	return 0;
}

void vsock_fill_hdr(const struct vsock_drv *v, struct vsock_hdr_raw *h, uint16_t op,
		    uint32_t src_port, uint32_t dst_port, uint32_t flags, uint32_t len)
{
	*h = (struct vsock_hdr_raw){.src_cid = v->cid,
				    .dst_cid = VSOCK_HOST_CID,
				    .src_port = src_port,
				    .dst_port = dst_port,
				    .len = len,
				    .type = 1,
				    .op = op,
				    .flags = flags,
				    .buf_alloc = 256 * 1024,
				    .fwd_cnt = 0};
}

void vsock_send_chain(struct vsock_drv *v, uint16_t head)
{
	gq_publish(&v->tx, head);
	gq_notify(&v->tx);
	uint32_t id, len;
	gq_wait(&v->tx, 2000000, &id, &len);
}

bool vsock_send(struct vsock_drv *v, uint16_t op, uint32_t src_port, uint32_t dst_port,
		uint32_t flags, const void *payload, uint32_t len)
{
	uint8_t *b = tx_buf(v);
	vsock_fill_hdr(v, (struct vsock_hdr_raw *)b, op, src_port, dst_port, flags, len);
	if (len)
		memcpy(b + VSOCK_HDR, payload, len);
	v->tx.desc[0] = (struct desc){(uint32_t)b, VSOCK_HDR + len, 0, 0};
	uint16_t before = v->tx.used_seen;
	vsock_send_chain(v, 0);
	return v->tx.used_seen != before;
}

bool vsock_recv(struct vsock_drv *v, struct vsock_pkt *p, uint32_t spins)
{
	uint32_t id, len;
	if (!gq_wait(&v->rx, spins, &id, &len))
		return false;
	if (id >= VSOCK_RX_BUFS || len < VSOCK_HDR) {
		con_printf("BAD vsock rx used entry id %u len %u\n", id, len);
		return false;
	}
	const struct vsock_hdr_raw *h = (const struct vsock_hdr_raw *)rx_buf(v, id);
	*p = (struct vsock_pkt){h->src_port, h->dst_port, h->len, h->op, h->flags};
	gq_publish(&v->rx, (uint16_t)id); /* give the buffer back */
	gq_notify(&v->rx);
	return true;
}

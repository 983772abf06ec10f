/*
 * Attacks through the rings: descriptor addresses outside RAM, loops, oversized lengths,
 * INDIRECT tables, chains longer than the queue or out of order, avail index games, and
 * notification floods. Each device is driven through its request queue (blk 0, rng 0, vsock tx
 * over an established connection, net tx), with the attacked descriptor where the request's
 * data goes, so the device would read or write through it if the walker let it pass.
 */
#include "attacks.h"
#include "vsock.h"

struct victim {
	struct vdev *d;
	struct gq *g;	     /* the attacked queue */
	struct gq own;	     /* blk, rng, net, fs (its request queue) */
	struct gq hiprio;    /* fs */
	struct vsock_drv vs; /* vsock */
	uint32_t port;	     /* vsock: the connected host port */
	bool writes;	     /* the data descriptor is device-writable */
	uint16_t nprefix;    /* descriptors before the data one (headers) */
};

static uint32_t vsock_service_port(void)
{
	char buf[16];
	return cmdline_get("hostile.port", buf, sizeof(buf)) ? parse_u32(buf) : 0;
}

static bool victim_open(struct vdev *d, struct victim *v)
{
	*v = (struct victim){.d = d};
	switch (d->id) {
	case ID_BLOCK:
	case ID_RNG:
		if (virtio_begin(d, 0) < 0 ||
		    virtio_queue(d, 0, d->id == ID_BLOCK ? 128 : 64, &v->own) < 0)
			return false;
		virtio_driver_ok(d);
		v->g = &v->own;
		v->writes = true;
		v->nprefix = d->id == ID_BLOCK ? 1 : 0;
		return true;
	case ID_NET:
		if (virtio_begin(d, 0) < 0 || virtio_queue(d, 1, 256, &v->own) < 0)
			return false;
		virtio_driver_ok(d);
		v->g = &v->own;
		v->nprefix = 1;
		return true;
	case ID_FS:
		if (virtio_begin(d, 0) < 0 || virtio_queue(d, 0, 64, &v->hiprio) < 0 ||
		    virtio_queue(d, 1, 256, &v->own) < 0)
			return false;
		virtio_driver_ok(d);
		v->g = &v->own;
		v->writes = true;
		v->nprefix = 1;
		return true;
	case ID_VSOCK: {
		v->port = vsock_service_port();
		struct vsock_pkt p;
		if (!v->port || vsock_open(d, &v->vs) < 0)
			return false;
		vsock_send(&v->vs, VSOCK_OP_REQUEST, 6000, v->port, 0, NULL, 0);
		if (!vsock_recv(&v->vs, &p, 2000000) || p.op != VSOCK_OP_RESPONSE)
			return false;
		v->g = &v->vs.tx;
		v->nprefix = 1;
		return true;
	}
	}
	return false;
}

/* Writes the descriptors before the data one into [0, nprefix), chained to index `next`. */
static void victim_prefix(struct victim *v, uint16_t next, uint32_t data_len)
{
	uint8_t *b = (uint8_t *)(SCRATCH_AREA + 0x10000);
	*(volatile uint8_t *)(SCRATCH_AREA + 0x10100) = 0xee; /* blk status: must stay untouched */
	switch (v->d->id) {
	case ID_BLOCK: {
		uint32_t *h = (uint32_t *)b;
		h[0] = 0; /* IN: the device writes the data descriptor */
		h[1] = h[2] = h[3] = 0;
		v->g->desc[0] = (struct desc){(uint32_t)b, 16, DESC_NEXT, next};
		return;
	}
	case ID_FS:
		fuse_init_request(b, 0x1234);
		v->g->desc[0] = (struct desc){(uint32_t)b, FUSE_INIT_REQ_LEN, DESC_NEXT, next};
		return;
	case ID_NET:
		memset(b, 0, 12);
		v->g->desc[0] = (struct desc){(uint32_t)b, 12, DESC_NEXT, next};
		return;
	case ID_VSOCK:
		vsock_fill_hdr(&v->vs, (struct vsock_hdr_raw *)b, VSOCK_OP_RW, 6000, v->port, 0,
			       data_len);
		v->g->desc[0] = (struct desc){(uint32_t)b, VSOCK_HDR, DESC_NEXT, next};
		return;
	}
}

/* blk: the status byte after the data; others end with the data descriptor. */
static uint16_t victim_suffix(struct victim *v, uint16_t at)
{
	if (v->d->id != ID_BLOCK)
		return 0;
	uint8_t *st = (uint8_t *)(SCRATCH_AREA + 0x10100);
	v->g->desc[at] = (struct desc){(uint32_t)st, 1, DESC_WRITE, 0};
	return DESC_NEXT;
}

/* virtiofsd (the fs back end) may give up on a queue after a bad chain: do not wait long. */
static uint32_t victim_spins(const struct victim *v)
{
	return v->d->id == ID_FS ? 5000 : 2000000;
}

/* Publishes head, notifies, waits; returns the used length or -1 when nothing came back. */
static int64_t victim_submit(struct victim *v, uint16_t head, uint32_t spins)
{
	gq_publish(v->g, head);
	gq_notify(v->g);
	uint32_t id, len;
	if (!gq_wait(v->g, spins, &id, &len))
		return -1;
	return len;
}

/* One request whose data descriptor is (addr, len); returns the used length or -1. */
static int64_t victim_data(struct victim *v, uint64_t addr, uint32_t len)
{
	uint16_t p = v->nprefix;
	victim_prefix(v, p, len);
	uint16_t more = victim_suffix(v, p + 1);
	v->g->desc[p] = (struct desc){addr, len, (uint16_t)((v->writes ? DESC_WRITE : 0) | more),
				      (uint16_t)(p + 1)};
	return victim_submit(v, 0, victim_spins(v));
}

static void victim_close(struct victim *v)
{
	if (v->d->id == ID_VSOCK && v->port)
		vsock_send(&v->vs, VSOCK_OP_RST, 6000, v->port, 0, NULL, 0);
	virtio_reset(v->d);
}

static void expect_rejected(struct victim *v, const char *what, int64_t used)
{
	if (v->d->id == ID_FS) { /* virtiofsd walks fs rings by its own rules, not the VMM's */
		con_printf("fs: %s: used %d\n", what, (int32_t)used);
		return;
	}
	if (used > 0)
		con_printf("BAD %s: %s accepted (used %d)\n", v->d->name, what, (int32_t)used);
	if (v->d->id == ID_BLOCK && *(volatile uint8_t *)(SCRATCH_AREA + 0x10100) != 0xee)
		con_printf("BAD blk: %s got a status byte\n", what);
}

void attack_desc_addr(void)
{
	uint64_t re = ram_end;
	const struct {
		uint64_t addr;
		uint32_t len;
		const char *what;
	} bad[] = {
	    {re, 512, "buffer at RAM end"},
	    {re - 256, 512, "buffer straddling RAM end"},
	    {0xfffffffffffffe00ull, 512, "buffer wrapping the address space"},
	    {0xffffffffffffffffull, 1, "buffer at the last address"},
	    {VIRTIO_MMIO_BASE, 512, "buffer in a virtio window"},
	    {IOAPIC_BASE, 512, "buffer on the IOAPIC"},
	    {0x100000000ull, 512, "buffer above 4 GiB"},
	    {0x8000000000000000ull, 512, "buffer at 2^63"},
	    {SCRATCH_AREA, 0xffffffffu, "4 GiB buffer"},
	};
	for (unsigned i = 0; i < ndevices; i++) {
		struct victim v;
		if (!victim_open(&devices[i], &v)) {
			con_printf("desc-addr: %s not attackable here\n", devices[i].name);
			continue;
		}
		for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
			expect_rejected(&v, bad[k].what, victim_data(&v, bad[k].addr, bad[k].len));
		/* The last 512 bytes of RAM, and a zero-length buffer exactly at RAM end: valid. */
		(void)victim_data(&v, re - 512, 512);
		(void)victim_data(&v, re, 0);
		victim_close(&v);
	}
}

void attack_desc_loop(void)
{
	for (unsigned i = 0; i < ndevices; i++) {
		struct victim v;
		if (!victim_open(&devices[i], &v))
			continue;
		volatile struct desc *d = v.g->desc;
		uint16_t n = v.g->size;
		uint16_t p = v.nprefix;
		/* Self loop on the data descriptor. */
		victim_prefix(&v, p, 64);
		d[p] = (struct desc){SCRATCH_AREA, 64, DESC_NEXT | (v.writes ? DESC_WRITE : 0), p};
		expect_rejected(&v, "self loop", victim_submit(&v, 0, victim_spins(&v)));
		/* Two-descriptor cycle. */
		d[p] = (struct desc){SCRATCH_AREA, 64, DESC_NEXT | (v.writes ? DESC_WRITE : 0),
				     (uint16_t)(p + 1)};
		d[p + 1] =
		    (struct desc){SCRATCH_AREA, 64, DESC_NEXT | (v.writes ? DESC_WRITE : 0), p};
		expect_rejected(&v, "two-descriptor cycle", victim_submit(&v, 0, victim_spins(&v)));
		/* A cycle through the whole table back to its head. */
		for (uint16_t k = p; k < n; k++)
			d[k] =
			    (struct desc){SCRATCH_AREA, 16, DESC_NEXT | (v.writes ? DESC_WRITE : 0),
					  (uint16_t)((k + 1) % n)};
		expect_rejected(&v, "cycle through the whole table",
				victim_submit(&v, 0, victim_spins(&v)));
		/* next out of the table, and a head out of the table (no used entry can come). */
		victim_prefix(&v, p, 64);
		d[p] = (struct desc){SCRATCH_AREA, 64, DESC_NEXT | (v.writes ? DESC_WRITE : 0), n};
		expect_rejected(&v, "next == queue size", victim_submit(&v, 0, victim_spins(&v)));
		d[p].next = 0xffff;
		expect_rejected(&v, "next == 0xffff", victim_submit(&v, 0, victim_spins(&v)));
		if (victim_submit(&v, n, 20000) >= 0 || victim_submit(&v, 0xffff, 20000) >= 0)
			con_printf("BAD %s: a head out of the table was answered\n", v.d->name);
		victim_close(&v);
	}
}

void attack_desc_len(void)
{
	for (unsigned i = 0; i < ndevices; i++) {
		struct victim v;
		if (!victim_open(&devices[i], &v))
			continue;
		volatile struct desc *d = v.g->desc;
		uint16_t n = v.g->size, p = v.nprefix;
		/* Every descriptor covers the top 20 MiB of RAM: the chain totals more than 4 GiB
		 * for the 256-entry queues, each descriptor valid on its own. */
		victim_prefix(&v, p, 0xffffffffu);
		for (uint16_t k = p; k < n; k++)
			d[k] = (struct desc){
			    SCRATCH_AREA, ram_end - SCRATCH_AREA,
			    (uint16_t)((k + 1 < n ? DESC_NEXT : 0) | (v.writes ? DESC_WRITE : 0)),
			    (uint16_t)(k + 1)};
		(void)victim_submit(&v, 0, victim_spins(&v));
		/* A header shorter than the device's, split over 1-byte descriptors. */
		for (uint16_t k = 0; k < 8; k++)
			d[k] = (struct desc){SCRATCH_AREA + k, 1, DESC_NEXT, (uint16_t)(k + 1)};
		d[8] = (struct desc){SCRATCH_AREA + 0x100, 1, DESC_WRITE, 0};
		(void)victim_submit(&v, 0, victim_spins(&v));
		/* Only a header, no payload or status; payload length field larger than the chain.
		 */
		victim_prefix(&v, 0, 65536);
		d[0].flags = 0;
		(void)victim_submit(&v, 0, victim_spins(&v));
		victim_close(&v);
	}
	/* blk-specific: sectors past the end, lengths that are not whole sectors, GET_ID into a
	 * 5-byte buffer, an unknown type, OUT to sector 2^63. */
	struct vdev *b = virtio_find(ID_BLOCK);
	struct gq g;
	if (b && virtio_begin(b, 0) == 0 && virtio_queue(b, 0, 128, &g) == 0) {
		virtio_driver_ok(b);
		uint8_t *data = (uint8_t *)SCRATCH_AREA;
		static const uint64_t sectors[] = {0xffffffffffffffffull, 0x8000000000000000ull,
						   0x7fffffffffffffull, 2047, 2048};
		for (unsigned k = 0; k < sizeof(sectors) / sizeof(sectors[0]); k++) {
			(void)blk_request(&g, 0, sectors[k], data, 1024);
			(void)blk_request(&g, 1, sectors[k], data, 1024);
		}
		(void)blk_request(&g, 0, 0, data, 511);
		(void)blk_request(&g, 0, 0, data, 513);
		(void)blk_request(&g, 8, 0, data, 5);
		(void)blk_request(&g, 0xdeadbeef, 0, data, 512);
		(void)blk_request(&g, 4, 0, NULL, 0);
		virtio_reset(b);
	}
}

void attack_indirect(void)
{
	for (unsigned i = 0; i < ndevices; i++) {
		struct vdev *dv = &devices[i];
		/* Asking for INDIRECT_DESC, which no device offers, must be refused. */
		virtio_reset(dv);
		vw(dv, R_STATUS, ST_ACK | ST_DRIVER);
		vw(dv, R_DRV_FEAT_SEL, 0);
		vw(dv, R_DRV_FEAT, (uint32_t)F_INDIRECT_DESC);
		vw(dv, R_DRV_FEAT_SEL, 1);
		vw(dv, R_DRV_FEAT, 1);
		vw(dv, R_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
		if ((vr(dv, R_STATUS) & ST_FEATURES_OK) && !(dv->offered & F_INDIRECT_DESC))
			con_printf("BAD %s: INDIRECT_DESC accepted though not offered\n", dv->name);
		struct victim v;
		if (!victim_open(dv, &v))
			continue;
		volatile struct desc *d = v.g->desc;
		uint16_t p = v.nprefix;
		/* Indirect tables: valid-looking in RAM, out of RAM, self-referencing, odd length.
		 */
		struct desc *table = (struct desc *)(SCRATCH_AREA + 0x20000);
		for (int k = 0; k < 16; k++)
			table[k] = (struct desc){
			    SCRATCH_AREA, 64, DESC_NEXT | DESC_INDIRECT | DESC_WRITE, (uint16_t)k};
		const struct {
			uint64_t addr;
			uint32_t len;
		} t[] = {{(uint32_t)table, 16 * 16},
			 {ram_end, 256},
			 {(uint32_t)table, 7},
			 {(uint32_t)table, 0},
			 {0xfffffffffffffff0ull, 0x20}};
		for (unsigned k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
			victim_prefix(&v, p, 64);
			d[p] = (struct desc){
			    t[k].addr, t[k].len,
			    (uint16_t)(DESC_INDIRECT | (v.writes ? DESC_WRITE : 0)), 0};
			expect_rejected(&v, "INDIRECT descriptor",
					victim_submit(&v, 0, victim_spins(&v)));
		}
		victim_close(&v);
	}
}

void attack_chains(void)
{
	for (unsigned i = 0; i < ndevices; i++) {
		struct victim v;
		if (!victim_open(&devices[i], &v))
			continue;
		volatile struct desc *d = v.g->desc;
		struct gq *g = v.g;
		uint16_t n = g->size, p = v.nprefix;
		/* Exactly queue-size descriptors (the longest legal chain), then readable after
		 * writable. */
		victim_prefix(&v, p, 16);
		for (uint16_t k = p; k < n; k++)
			d[k] = (struct desc){
			    SCRATCH_AREA + 16u * k, 16,
			    (uint16_t)((k + 1 < n ? DESC_NEXT : 0) | (v.writes ? DESC_WRITE : 0)),
			    (uint16_t)(k + 1)};
		(void)victim_submit(&v, 0, victim_spins(&v));
		victim_prefix(&v, p, 16);
		d[p] = (struct desc){SCRATCH_AREA, 16, DESC_NEXT | DESC_WRITE, (uint16_t)(p + 1)};
		d[p + 1] = (struct desc){SCRATCH_AREA + 64, 16, 0, 0};
		expect_rejected(&v, "readable after writable",
				victim_submit(&v, 0, victim_spins(&v)));
		/* The same head in every avail slot at once. */
		victim_prefix(&v, p, 16);
		d[p] = (struct desc){SCRATCH_AREA, 16, v.writes ? DESC_WRITE : 0, 0};
		for (uint16_t k = 0; k < n; k++)
			gq_publish(g, 0);
		gq_notify(g);
		/* avail idx far ahead (runaway), then behind, then back to sane. */
		uint16_t saved = g->avail_idx;
		g->avail[1] = (uint16_t)(saved + 1000);
		gq_notify(g);
		g->avail[1] = (uint16_t)(saved - 1);
		gq_notify(g);
		g->avail[1] = saved;
		gq_notify(g);
		/* Used ring flags and idx scribbled by the driver (they are the device's). */
		*(volatile uint16_t *)(g->used + 2) = 0x7777;
		*(volatile uint16_t *)g->used = 0xffff;
		g->avail[0] = 0xffff; /* NO_INTERRUPT and unknown flags */
		gq_publish(g, 0);
		gq_notify(g);
		victim_close(&v);
	}
}

void attack_notify_flood(void)
{
	for (unsigned i = 0; i < ndevices; i++) {
		struct vdev *dv = &devices[i];
		struct victim v;
		if (!victim_open(dv, &v))
			continue;
		/* Valid queue with an empty ring, every queue number, before and after a reset. */
		for (uint32_t k = 0; k < 20000; k++)
			vw(dv, R_QUEUE_NOTIFY, k & 3);
		for (uint32_t k = 0; k < 2000; k++)
			vw(dv, R_QUEUE_NOTIFY, 0xffff0000u | k);
		/* Requests that each ask for an interrupt, with interrupts off in the guest. */
		for (uint32_t k = 0; k < 500; k++) {
			victim_prefix(&v, v.nprefix, 16);
			v.g->desc[v.nprefix] =
			    (struct desc){SCRATCH_AREA, 16, v.writes ? DESC_WRITE : 0, 0};
			gq_publish(v.g, 0);
			gq_notify(v.g);
		}
		for (uint32_t k = 0; k < 2000; k++) {
			vw(dv, R_INT_ACK, 0xffffffffu);
			(void)vr(dv, R_INT_STATUS);
		}
		victim_close(&v);
		for (uint32_t k = 0; k < 2000; k++)
			vw(dv, R_QUEUE_NOTIFY, k & 3);
	}
}

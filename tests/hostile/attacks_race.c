/*
 * Races across vCPUs: the second vCPU (smp.c) hammers one device's registers - QueueNotify,
 * QueueReady, Status resets and re-initialisations, QueueSel changes, ring layouts, interrupt
 * acknowledgements - and the legacy ports, while the boot vCPU sets the same device up, fills
 * every queue with valid requests, notifies and walks the used rings. The VMM's device threads
 * (vsock, net) take part too. Nothing here is a protocol error by itself; what must hold is that
 * the VMM never touches memory it should not, never deadlocks, and serves the device afterwards.
 */
#include "attacks.h"
#include "smp.h"
#include "vsock.h"

#define RACE_ROUNDS 64u
#define RACE_QSIZE 16u
#define RACE_MAX_QUEUES 4u
#define RACE_RESET_AFTER 3000u /* AP operations before it resets the VM */

static uint32_t race_nq; /* queues of the device under attack, read by both vCPUs */

static uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static uint32_t ring_area(const struct vdev *d, uint32_t q)
{
	return RING_AREA + d->index * RING_AREA_DEV + (q % RACE_MAX_QUEUES) * 0x4000u;
}

/*
 * A descriptor or avail index of one of the device's rings rewritten under the device: lengths
 * up to 4 GiB, addresses anywhere, NEXT chains into the table and out of it. Not for blk: a
 * descriptor moved onto a request header could turn a read into a write of the test's disk.
 */
static void scribble(struct vdev *d, uint32_t r)
{
	if (d->id == ID_BLOCK)
		return;
	uint32_t area = ring_area(d, r >> 4);
	volatile struct desc *t = (volatile struct desc *)area;
	volatile uint16_t *avail = (volatile uint16_t *)(area + 0x1000);
	uint32_t i = (r >> 8) % RACE_QSIZE;
	switch ((r >> 12) & 3) {
	case 0:
		t[i].len = (r & 0x10000) ? 0xffffffffu : r >> 16;
		break;
	case 1:
		t[i].addr = (r & 0x10000) ? ram_end - 8 : (uint64_t)r << 20;
		break;
	case 2:
		t[i].flags = (uint16_t)(r >> 16) & 7;
		t[i].next = (uint16_t)(r >> 20);
		break;
	default:
		avail[1] = (uint16_t)(avail[1] + (r >> 16) % 3 - 1);
		break;
	}
}

/* The AP's side: one random register operation on devices[i] (and now and then a legacy port). */
static void hammer(uint32_t i)
{
	static uint32_t seed = 0x9e3779b9u;
	struct vdev *d = &devices[i];
	uint32_t r = xorshift(&seed), q = (r >> 8) % (race_nq + 1);
	switch (r % 20) {
	case 0:
	case 1:
	case 2:
	case 3:
	case 4:
		vw(d, R_QUEUE_NOTIFY, q);
		break;
	case 5:
		vw(d, R_QUEUE_SEL, (r & 0x100000) ? 0xffffffffu : q);
		break;
	case 6:
	case 7:
		vw(d, R_QUEUE_READY, (r >> 20) & 1);
		break;
	case 8:
		vw(d, R_STATUS, 0);
		break;
	case 9: /* a whole driver start, without queues: they stay as they are (reset: not ready) */
		virtio_begin(d, 0);
		virtio_driver_ok(d);
		break;
	case 10:
	case 11: { /* a layout, maybe another queue's rings, then ready */
		uint32_t a = ring_area(d, r >> 24);
		vw(d, R_QUEUE_SEL, q);
		vw(d, R_QUEUE_NUM, RACE_QSIZE >> ((r >> 28) & 3));
		vw(d, R_DESC_LO, a);
		vw(d, R_AVAIL_LO, a + 0x1000);
		vw(d, R_USED_LO, a + 0x2000);
		vw(d, R_QUEUE_READY, 1);
		break;
	}
	case 12:
		vw(d, R_INT_ACK, vr(d, R_INT_STATUS));
		break;
	case 13:
		vw(d, R_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
		break;
	case 14:
		(void)vr(d, R_CONFIG + ((r >> 8) & 0x3c));
		(void)vr(d, R_QUEUE_READY);
		break;
	case 16:
	case 17:
	case 18: /* ring memory rewritten while the device walks it */
		scribble(d, r);
		break;
	default: /* legacy ports the other vCPU may be using too */
		outb(CMOS_INDEX, (uint8_t)(r >> 8));
		(void)inb(CMOS_DATA);
		(void)inb(I8042_CMD);
		outb(SERIAL_PORT + 7, (uint8_t)r); /* scratch register */
		(void)inb(SERIAL_PORT + 5);
		break;
	}
}

/* One valid request per queue, of the kind the device expects there; blk only ever reads. */
static void post(struct gq *g, uint32_t round)
{
	struct vdev *d = g->d;
	uint8_t *b = dev_buf(d) + g->q * 0x8000u;
	uint16_t head = (uint16_t)((round * 4) % RACE_QSIZE);
	volatile struct desc *t = g->desc;
	if (d->id == ID_BLOCK) {
		uint32_t *hdr = (uint32_t *)b;
		hdr[0] = 0; /* VIRTIO_BLK_T_IN */
		hdr[1] = 0;
		hdr[2] = round % 8;
		hdr[3] = 0;
		t[head] = (struct desc){(uint32_t)b, 16, DESC_NEXT, (uint16_t)(head + 1)};
		t[head + 1] = (struct desc){(uint32_t)b + 512, 512, DESC_NEXT | DESC_WRITE,
					    (uint16_t)(head + 2)};
		t[head + 2] = (struct desc){(uint32_t)b + 64, 1, DESC_WRITE, 0};
	} else if ((d->id == ID_VSOCK || d->id == ID_NET) && g->q == 1) {
		/* tx: a vsock REQUEST to the test's listener, or a broadcast frame */
		memset(b, 0, 128);
		if (d->id == ID_VSOCK) {
			struct vsock_hdr_raw *h = (struct vsock_hdr_raw *)b;
			h->src_cid = 3;
			h->dst_cid = VSOCK_HOST_CID;
			h->src_port = 7000 + round % 64;
			h->dst_port = 1024;
			h->type = 1;
			h->op = (round & 1) ? VSOCK_OP_RST : VSOCK_OP_REQUEST;
			h->buf_alloc = 65536;
		} else {
			memset(b + 12, 0xff, 6);
			b[12 + 12] = 0x88;
			b[12 + 13] = 0xb5;
		}
		t[head] = (struct desc){(uint32_t)b, d->id == ID_VSOCK ? VSOCK_HDR : 12 + 60, 0, 0};
	} else { /* rx, event and entropy queues: a device-writable buffer */
		t[head] = (struct desc){(uint32_t)b, 4096, DESC_WRITE, 0};
	}
	gq_publish(g, head);
}

static uint32_t count_queues(struct vdev *d)
{
	uint32_t n = 0;
	for (uint32_t q = 0; q < RACE_MAX_QUEUES; q++) {
		vw(d, R_QUEUE_SEL, q);
		if (vr(d, R_QUEUE_NUM_MAX) >= RACE_QSIZE)
			n = q + 1;
	}
	return n;
}

/* The boot vCPU's side: `rounds` times (re-)start the device now and then, post a request on
 * every queue, notify, take what was used. */
static void drive(struct vdev *d, uint32_t rounds)
{
	struct gq g[RACE_MAX_QUEUES];
	for (uint32_t round = 0; round < rounds; round++) {
		if (round % 8 == 0 || !(vr(d, R_STATUS) & ST_DRIVER_OK)) {
			virtio_begin(d, 0);
			for (uint32_t q = 0; q < race_nq; q++)
				(void)virtio_queue(d, (uint16_t)q, RACE_QSIZE, &g[q]);
			virtio_driver_ok(d);
		}
		for (uint32_t q = 0; q < race_nq; q++) {
			post(&g[q], round);
			gq_notify(&g[q]);
		}
		for (uint32_t q = 0; q < race_nq; q++) {
			uint32_t id, len;
			while (gq_wait(&g[q], 64, &id, &len))
				;
		}
	}
}

static void race_one(struct vdev *d)
{
	race_nq = count_queues(d);
	smp_ap_run(hammer, (uint32_t)(d - devices));
	drive(d, RACE_ROUNDS);
	smp_ap_idle();
	if (smp_ap_calls() == 0)
		con_printf("BAD race %s: the second vCPU did nothing\n", d->name);
	virtio_reset(d);
}

void attack_race(void)
{
	if (!smp_start_ap()) {
		con_puts("BAD race: the second vCPU did not start (run with --cpus 2)\n");
		return;
	}
	for (unsigned i = 0; i < ndevices; i++)
		race_one(&devices[i]);
	smp_ap_park();
}

/* The AP hammers devices[i] for a while, then pulls the reset line (Linux's reboot=k). */
static void hammer_then_reset(uint32_t i)
{
	static uint32_t calls;
	hammer(i);
	if (++calls == RACE_RESET_AFTER)
		outb(I8042_CMD, 0xfe);
}

/* Never returns when the VMM does its job: the reset ends the VM mid-race. */
void attack_race_reset(void)
{
	con_puts("ATTACK race-reset begin\n");
	if (!smp_start_ap()) {
		con_puts("BAD race: the second vCPU did not start (run with --cpus 2)\n");
		return;
	}
	/* vsock and net have device threads and host sockets in flight: race those. */
	struct vdev *d = virtio_find(ID_VSOCK) ? virtio_find(ID_VSOCK) : &devices[0];
	race_nq = count_queues(d);
	smp_ap_run(hammer_then_reset, (uint32_t)(d - devices));
	for (;;)
		drive(d, RACE_ROUNDS);
}

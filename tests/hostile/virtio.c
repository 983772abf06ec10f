/*
 * Minimal virtio-mmio driver (see virtio.h) and the service checks that prove a device still
 * works after it was attacked.
 */
#include "virtio.h"
#include "vsock.h"

struct vdev devices[VIRTIO_MAX_DEVICES];
unsigned ndevices;

const char *virtio_name(uint32_t id)
{
	switch (id) {
	case ID_NET:
		return "net";
	case ID_BLOCK:
		return "blk";
	case ID_RNG:
		return "rng";
	case ID_VSOCK:
		return "vsock";
	case ID_FS:
		return "fs";
	}
	return "unknown";
}

/* Probing all eight windows is itself an attack on the empty ones (reads of unclaimed MMIO). */
void virtio_discover(void)
{
	ndevices = 0;
	for (unsigned i = 0; i < VIRTIO_MAX_DEVICES; i++) {
		uint32_t base = VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE;
		if (mmio_r32(base + R_MAGIC) != 0x74726976u || mmio_r32(base + R_VERSION) != 2)
			continue;
		struct vdev *d = &devices[ndevices++];
		d->base = base;
		d->id = mmio_r32(base + R_DEVICE_ID);
		d->index = i;
		d->name = virtio_name(d->id);
		vw(d, R_DEV_FEAT_SEL, 0);
		d->offered = vr(d, R_DEV_FEAT);
		vw(d, R_DEV_FEAT_SEL, 1);
		d->offered |= (uint64_t)vr(d, R_DEV_FEAT) << 32;
	}
}

struct vdev *virtio_find(uint32_t id)
{
	for (unsigned i = 0; i < ndevices; i++)
		if (devices[i].id == id)
			return &devices[i];
	return NULL;
}

void virtio_reset(struct vdev *d)
{
	vw(d, R_STATUS, 0);
}

int virtio_begin(struct vdev *d, uint64_t want)
{
	virtio_reset(d);
	vw(d, R_STATUS, ST_ACK);
	vw(d, R_STATUS, ST_ACK | ST_DRIVER);
	uint64_t f = (want & d->offered) | F_VERSION_1;
	vw(d, R_DRV_FEAT_SEL, 0);
	vw(d, R_DRV_FEAT, (uint32_t)f);
	vw(d, R_DRV_FEAT_SEL, 1);
	vw(d, R_DRV_FEAT, (uint32_t)(f >> 32));
	vw(d, R_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	return (vr(d, R_STATUS) & ST_FEATURES_OK) ? 0 : -1;
}

uint32_t virtio_queue_at(struct vdev *d, uint16_t q, uint32_t size, uint64_t desc, uint64_t avail,
			 uint64_t used)
{
	vw(d, R_QUEUE_SEL, q);
	vw(d, R_QUEUE_NUM, size);
	vw(d, R_DESC_LO, (uint32_t)desc);
	vw(d, R_DESC_HI, (uint32_t)(desc >> 32));
	vw(d, R_AVAIL_LO, (uint32_t)avail);
	vw(d, R_AVAIL_HI, (uint32_t)(avail >> 32));
	vw(d, R_USED_LO, (uint32_t)used);
	vw(d, R_USED_HI, (uint32_t)(used >> 32));
	vw(d, R_QUEUE_READY, 1);
	return vr(d, R_QUEUE_READY);
}

int virtio_queue(struct vdev *d, uint16_t q, uint16_t size, struct gq *g)
{
	uint32_t area = RING_AREA + d->index * RING_AREA_DEV + q * 0x4000u;
	memset((void *)area, 0, 0x4000);
	*g = (struct gq){.d = d, .q = q, .size = size};
	g->desc_gpa = area;
	g->avail_gpa = area + 0x1000;
	g->used_gpa = area + 0x2000;
	g->desc = (volatile struct desc *)g->desc_gpa;
	g->avail = (volatile uint16_t *)g->avail_gpa;
	g->used = (volatile uint8_t *)g->used_gpa;
	return virtio_queue_at(d, q, size, g->desc_gpa, g->avail_gpa, g->used_gpa) == 1 ? 0 : -1;
}

void virtio_driver_ok(struct vdev *d)
{
	vw(d, R_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
}

void gq_publish(struct gq *g, uint16_t head)
{
	g->avail[2 + g->avail_idx % g->size] = head;
	barrier();
	g->avail_idx++;
	g->avail[1] = g->avail_idx;
	barrier();
}

void gq_notify(struct gq *g)
{
	vw(g->d, R_QUEUE_NOTIFY, g->q);
}

uint16_t gq_used_idx(const struct gq *g)
{
	return *(volatile uint16_t *)(g->used + 2);
}

bool gq_wait(struct gq *g, uint32_t spins, uint32_t *id, uint32_t *len)
{
	for (uint32_t i = 0; i < spins; i++) {
		if (gq_used_idx(g) != g->used_seen) {
			barrier();
			const volatile uint8_t *e = g->used + 4 + 8 * (g->used_seen % g->size);
			*id = *(const volatile uint32_t *)e;
			*len = *(const volatile uint32_t *)(e + 4);
			g->used_seen++;
			return true;
		}
		if (i > 64)
			inb(POST_PORT); /* an exit: lets a device thread run on a busy host */
	}
	return false;
}

int blk_request(struct gq *g, uint32_t type, uint64_t sector, void *data, uint32_t len)
{
	uint8_t *b = dev_buf(g->d);
	uint32_t *hdr = (uint32_t *)b;
	volatile uint8_t *status = b + 16;
	hdr[0] = type;
	hdr[1] = 0;
	hdr[2] = (uint32_t)sector;
	hdr[3] = (uint32_t)(sector >> 32);
	*status = 0xee;
	bool out = type == 1;
	g->desc[0] = (struct desc){(uint32_t)b, 16, DESC_NEXT, 1};
	g->desc[1] = (struct desc){(uint32_t)data, len, DESC_NEXT | (out ? 0 : DESC_WRITE), 2};
	g->desc[2] = (struct desc){(uint32_t)status, 1, DESC_WRITE, 0};
	if (!len)
		g->desc[0].next = 2;
	gq_publish(g, 0);
	gq_notify(g);
	uint32_t id, used;
	if (!gq_wait(g, 100000, &id, &used))
		return -1;
	return *status;
}

static bool check_result(struct vdev *d, bool ok, const char *why)
{
	if (ok)
		con_printf("CHECK %s@%x ok\n", d->name, d->base);
	else
		con_printf("CHECK %s@%x FAIL %s\n", d->name, d->base, why);
	return ok;
}

/* Sector 0 of the test's disk starts with this text (tests/integration/test_hostile.c). */
#define DISK_MAGIC "HOSTILE-DISK"

bool check_blk(struct vdev *d)
{
	struct gq g;
	if (virtio_begin(d, 0) < 0 || virtio_queue(d, 0, 128, &g) < 0)
		return check_result(d, false, "setup refused");
	virtio_driver_ok(d);
	uint8_t *data = dev_buf(d) + 4096;
	memset(data, 0, 512);
	int st = blk_request(&g, 0, 0, data, 512);
	bool ok = st == 0 && memcmp(data, DISK_MAGIC, sizeof(DISK_MAGIC) - 1) == 0;
	return check_result(d, ok, st < 0 ? "no answer" : st ? "bad status" : "bad data");
}

bool check_rng(struct vdev *d)
{
	struct gq g;
	if (virtio_begin(d, 0) < 0 || virtio_queue(d, 0, 64, &g) < 0)
		return check_result(d, false, "setup refused");
	virtio_driver_ok(d);
	uint8_t *data = dev_buf(d);
	memset(data, 0, 64);
	g.desc[0] = (struct desc){(uint32_t)data, 64, DESC_WRITE, 0};
	gq_publish(&g, 0);
	gq_notify(&g);
	uint32_t id, len;
	bool got = gq_wait(&g, 100000, &id, &len);
	bool nonzero = false;
	for (int i = 0; i < 64; i++)
		nonzero |= data[i] != 0;
	return check_result(d, got && id == 0 && len == 64 && nonzero,
			    got ? "wrong answer" : "no answer");
}

bool check_vsock(struct vdev *d)
{
	struct vsock_drv v;
	if (vsock_open(d, &v) < 0)
		return check_result(d, false, "setup refused");
	uint32_t port = 0;
	char buf[16];
	if (cmdline_get("hostile.port", buf, sizeof(buf)))
		port = parse_u32(buf);
	struct vsock_pkt reply;
	vsock_send(&v, VSOCK_OP_REQUEST, 5000, port ? port : 1, 0, NULL, 0);
	bool got = vsock_recv(&v, &reply, 2000000);
	/* A listener at uds_P answers RESPONSE; without one the device answers RST. */
	bool ok =
	    got && reply.op == (port ? VSOCK_OP_RESPONSE : VSOCK_OP_RST) && reply.dst_port == 5000;
	if (ok && port) {
		vsock_send(&v, VSOCK_OP_RW, 5000, port, 0, "hostile-ping\n", 13);
		vsock_send(&v, VSOCK_OP_RST, 5000, port, 0, NULL, 0);
	}
	if (!ok && got)
		con_printf("vsock: answer op %u ports %u->%u\n", reply.op, reply.src_port,
			   reply.dst_port);
	return check_result(d, ok, got ? "wrong answer" : "no answer");
}

/* A transmitted frame comes back as a used buffer: the tap took it. */
bool check_net(struct vdev *d)
{
	struct gq g;
	if (virtio_begin(d, 0) < 0 || virtio_queue(d, 1, 256, &g) < 0)
		return check_result(d, false, "setup refused");
	virtio_driver_ok(d);
	uint8_t *frame = dev_buf(d);
	memset(frame, 0, 12 + 60);
	memset(frame + 12, 0xff, 6); /* broadcast */
	frame[12 + 6] = 0x52;
	frame[12 + 12] = 0x88; /* local experimental ethertype 0x88b5 */
	frame[12 + 13] = 0xb5;
	g.desc[0] = (struct desc){(uint32_t)frame, 12 + 60, 0, 0};
	gq_publish(&g, 0);
	gq_notify(&g);
	uint32_t id, len;
	bool got = gq_wait(&g, 2000000, &id, &len);
	return check_result(d, got && id == 0, "frame not taken");
}

void fuse_init_request(uint8_t *b, uint32_t unique)
{
	uint32_t *w = (uint32_t *)b;
	memset(b, 0, FUSE_INIT_REQ_LEN);
	w[0] = FUSE_INIT_REQ_LEN; /* fuse_in_header.len */
	w[1] = 26;		  /* FUSE_INIT */
	w[2] = unique;
	w[10] = 7;     /* fuse_init_in.major */
	w[11] = 31;    /* minor */
	w[12] = 65536; /* max_readahead */
}

/* A FUSE_INIT answered by the back end (virtiofsd), through the VMM's rings and kicks. */
bool check_fs(struct vdev *d)
{
	struct gq hiprio, g;
	if (virtio_begin(d, 0) < 0 || virtio_queue(d, 0, 64, &hiprio) < 0 ||
	    virtio_queue(d, 1, 256, &g) < 0)
		return check_result(d, false, "setup refused");
	virtio_driver_ok(d);
	uint8_t *req = dev_buf(d), *reply = dev_buf(d) + 4096;
	fuse_init_request(req, 77);
	memset(reply, 0, 256);
	g.desc[0] = (struct desc){(uint32_t)req, FUSE_INIT_REQ_LEN, DESC_NEXT, 1};
	g.desc[1] = (struct desc){(uint32_t)reply, 4096, DESC_WRITE, 0};
	gq_publish(&g, 0);
	gq_notify(&g);
	uint32_t id, len;
	/* Shorter than the others: after a bad chain virtiofsd stops answering for good. */
	bool got = gq_wait(&g, 100000, &id, &len);
	bool ok =
	    got && len >= 16 && *(uint32_t *)(reply + 8) == 77 && *(int32_t *)(reply + 4) == 0;
	return check_result(d, ok, got ? "wrong answer" : "no answer");
}

bool check_device(struct vdev *d)
{
	switch (d->id) {
	case ID_BLOCK:
		return check_blk(d);
	case ID_RNG:
		return check_rng(d);
	case ID_VSOCK:
		return check_vsock(d);
	case ID_NET:
		return check_net(d);
	case ID_FS:
		return check_fs(d);
	}
	con_printf("CHECK %s@%x skipped\n", d->name, d->base);
	return true;
}

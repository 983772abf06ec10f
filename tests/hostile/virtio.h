/*
 * A minimal virtio-mmio (modern, virtio 1.2 §4.2.2) driver for the hostile guest: discovery,
 * initialisation, split rings in fixed guest memory, polling for used entries. The attacks use
 * it to reach a state worth attacking, and the service checks use it the way a sane driver would.
 */
#ifndef HOSTILE_VIRTIO_H
#define HOSTILE_VIRTIO_H

#include "guest.h"

/* Register offsets, §4.2.2. */
#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_VENDOR 0x00c
#define R_DEV_FEAT 0x010
#define R_DEV_FEAT_SEL 0x014
#define R_DRV_FEAT 0x020
#define R_DRV_FEAT_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS 0x060
#define R_INT_ACK 0x064
#define R_STATUS 0x070
#define R_DESC_LO 0x080
#define R_DESC_HI 0x084
#define R_AVAIL_LO 0x090
#define R_AVAIL_HI 0x094
#define R_USED_LO 0x0a0
#define R_USED_HI 0x0a4
#define R_CONFIG_GEN 0x0fc
#define R_CONFIG 0x100

#define ST_ACK 1u
#define ST_DRIVER 2u
#define ST_DRIVER_OK 4u
#define ST_FEATURES_OK 8u
#define ST_NEEDS_RESET 64u
#define ST_FAILED 128u

#define F_VERSION_1 (1ull << 32)
#define F_INDIRECT_DESC (1ull << 28)
#define F_EVENT_IDX (1ull << 29)

#define DESC_NEXT 1u
#define DESC_WRITE 2u
#define DESC_INDIRECT 4u

#define ID_NET 1u
#define ID_BLOCK 2u
#define ID_RNG 4u
#define ID_VSOCK 19u
#define ID_FS 26u

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
} __attribute__((packed));

struct vdev {
	uint32_t base;	/* MMIO window */
	uint32_t id;	/* virtio device id */
	unsigned index; /* window number: selects its ring and buffer areas */
	uint64_t offered;
	const char *name;
};

/* The driver side of one split queue, laid out in RING_AREA. */
struct gq {
	struct vdev *d;
	uint16_t q, size;
	volatile struct desc *desc;
	volatile uint16_t *avail; /* [0] flags [1] idx [2+i] ring [2+size] used_event */
	volatile uint8_t *used;	  /* le16 flags, le16 idx, {le32 id, le32 len}[size] */
	uint16_t avail_idx, used_seen;
	uint32_t desc_gpa, avail_gpa, used_gpa;
};

extern struct vdev devices[VIRTIO_MAX_DEVICES];
extern unsigned ndevices;

void virtio_discover(void);
struct vdev *virtio_find(uint32_t id);
const char *virtio_name(uint32_t id);

static inline uint32_t vr(const struct vdev *d, uint32_t off)
{
	return mmio_r32(d->base + off);
}
static inline void vw(const struct vdev *d, uint32_t off, uint32_t v)
{
	mmio_w32(d->base + off, v);
}

/* Reset, ACK, DRIVER, features (& offered, | VERSION_1), FEATURES_OK. 0 when accepted. */
int virtio_begin(struct vdev *d, uint64_t want);
/* Queue q with `size` entries in the device's ring area; 0 when QueueReady reads back 1. */
int virtio_queue(struct vdev *d, uint16_t q, uint16_t size, struct gq *g);
/* Queue registers from explicit addresses (attacks); returns QueueReady as read back. */
uint32_t virtio_queue_at(struct vdev *d, uint16_t q, uint32_t size, uint64_t desc, uint64_t avail,
			 uint64_t used);
void virtio_driver_ok(struct vdev *d);
void virtio_reset(struct vdev *d);

/* Puts head in the avail ring and publishes it; notify rings the doorbell. */
void gq_publish(struct gq *g, uint16_t head);
void gq_notify(struct gq *g);
/* Polls for the next used entry (spins bounded by `spins`); true with the entry's id and len. */
bool gq_wait(struct gq *g, uint32_t spins, uint32_t *id, uint32_t *len);
/* Device-owned used index as the guest sees it. */
uint16_t gq_used_idx(const struct gq *g);
/* Buffer area of the device: 256 KiB the driver uses for request data. */
static inline uint8_t *dev_buf(const struct vdev *d)
{
	return (uint8_t *)(BUF_AREA + d->index * BUF_AREA_DEV);
}

/* Service checks: a sane driver's request after the attacks; prints CHECK lines. */
bool check_blk(struct vdev *d);
bool check_rng(struct vdev *d);
bool check_vsock(struct vdev *d);
bool check_net(struct vdev *d);
bool check_device(struct vdev *d);

/* FUSE_INIT (FUSE 7.31) in a virtio-fs request: fuse_in_header + fuse_init_in. */
#define FUSE_INIT_REQ_LEN 56u
void fuse_init_request(uint8_t *b, uint32_t unique);
bool check_fs(struct vdev *d);

/* blk helper: one request (type, sector, len bytes of data at data); returns status or -1. */
int blk_request(struct gq *g, uint32_t type, uint64_t sector, void *data, uint32_t len);

#endif

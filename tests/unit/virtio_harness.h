/*
 * A fake guest for the virtio device tests: guest RAM is a calloc'd buffer (memfd -1), the MMIO
 * window is reached through the callbacks the device registered on vm.mmio, and a tiny "driver"
 * builds split rings the way Linux does. Include from exactly one test file per binary.
 */
#ifndef SANDBOX_TEST_VIRTIO_HARNESS_H
#define SANDBOX_TEST_VIRTIO_HARNESS_H

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../microvm/virtio_devices.h"
#include "../../microvm/virtio_mmio.h"

/* Register offsets used by the fake driver (virtio 1.2 §4.2.2). */
#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_DEV_FEATURES 0x010
#define R_DEV_FEATURES_SEL 0x014
#define R_DRV_FEATURES 0x020
#define R_DRV_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS 0x060
#define R_INT_ACK 0x064
#define R_STATUS 0x070
#define R_QUEUE_DESC_LOW 0x080
#define R_QUEUE_DESC_HIGH 0x084
#define R_QUEUE_DRIVER_LOW 0x090
#define R_QUEUE_DRIVER_HIGH 0x094
#define R_QUEUE_DEVICE_LOW 0x0a0
#define R_QUEUE_DEVICE_HIGH 0x0a4
#define R_CONFIG 0x100

#define TEST_BASE 0xd0000000ull
#define TEST_IRQ 5u

/* Stand-in for vm.c's KVM_IRQ_LINE pulse: the tests count interrupts instead. */
static unsigned irq_pulses;
int vm_irq_pulse(struct vm *vm, uint32_t gsi)
{
	(void)vm, (void)gsi;
	__atomic_add_fetch(&irq_pulses, 1, __ATOMIC_RELAXED);
	return 0;
}

static inline void hvm_init(struct vm *vm, uint64_t size)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = -1;
	vm->mem.host = calloc(1, size);
	ck_assert_ptr_nonnull(vm->mem.host);
	vm->mem.size = size;
	vm->mem.memfd = -1;
	vm->mmio.name = "mmio";
	vm->pio.name = "pio";
}

static inline void hvm_fini(struct vm *vm)
{
	free(vm->mem.host);
	vm->mem.host = NULL;
}

static inline const struct bus_range *hvm_dev(struct vm *vm, unsigned dev)
{
	ck_assert_uint_lt(dev, vm->mmio.n);
	return &vm->mmio.ranges[dev];
}

static inline void mmio_rd(struct vm *vm, unsigned dev, uint64_t off, void *data, uint32_t len)
{
	const struct bus_range *r = hvm_dev(vm, dev);
	r->ops->read(r->opaque, off, data, len);
}

static inline void mmio_wr(struct vm *vm, unsigned dev, uint64_t off, const void *data,
			   uint32_t len)
{
	const struct bus_range *r = hvm_dev(vm, dev);
	r->ops->write(r->opaque, off, data, len);
}

static inline uint32_t mmio_r32(struct vm *vm, unsigned dev, uint64_t off)
{
	uint32_t v = 0;
	mmio_rd(vm, dev, off, &v, 4);
	return v;
}

static inline void mmio_w32(struct vm *vm, unsigned dev, uint64_t off, uint32_t v)
{
	mmio_wr(vm, dev, off, &v, 4);
}

static inline struct virtio_mmio *hvm_transport(struct vm *vm, unsigned dev)
{
	return hvm_dev(vm, dev)->opaque;
}

/* Status handshake up to FEATURES_OK (§3.1.1); returns the status read back. */
static inline uint32_t drv_negotiate(struct vm *vm, unsigned dev, uint64_t features)
{
	mmio_w32(vm, dev, R_STATUS, 0);
	mmio_w32(vm, dev, R_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	mmio_w32(vm, dev, R_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	for (uint32_t sel = 0; sel < 2; sel++) {
		mmio_w32(vm, dev, R_DRV_FEATURES_SEL, sel);
		mmio_w32(vm, dev, R_DRV_FEATURES, (uint32_t)(features >> (32 * sel)));
	}
	mmio_w32(vm, dev, R_STATUS,
		 VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	return mmio_r32(vm, dev, R_STATUS);
}

static inline void drv_ok(struct vm *vm, unsigned dev)
{
	mmio_w32(vm, dev, R_STATUS, mmio_r32(vm, dev, R_STATUS) | VIRTIO_STATUS_DRIVER_OK);
}

/* Driver-side view of one split queue: desc at base, avail at +4 KiB, used at +8 KiB. */
struct drvq {
	struct vm *vm;
	unsigned dev;
	uint16_t q, size;
	uint64_t desc, avail, used;
	uint16_t avail_idx, used_seen, next_desc, in_flight;
};

struct hseg {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

static inline void *gpa(struct vm *vm, uint64_t a)
{
	return vm->mem.host + a;
}

static inline void drvq_setup(struct drvq *dq, struct vm *vm, unsigned dev, uint16_t q,
			      uint16_t size, uint64_t base)
{
	*dq = (struct drvq){.vm = vm,
			    .dev = dev,
			    .q = q,
			    .size = size,
			    .desc = base,
			    .avail = base + 0x1000,
			    .used = base + 0x2000};
	mmio_w32(vm, dev, R_QUEUE_SEL, q);
	mmio_w32(vm, dev, R_QUEUE_NUM, size);
	mmio_w32(vm, dev, R_QUEUE_DESC_LOW, (uint32_t)dq->desc);
	mmio_w32(vm, dev, R_QUEUE_DESC_HIGH, (uint32_t)(dq->desc >> 32));
	mmio_w32(vm, dev, R_QUEUE_DRIVER_LOW, (uint32_t)dq->avail);
	mmio_w32(vm, dev, R_QUEUE_DRIVER_HIGH, 0);
	mmio_w32(vm, dev, R_QUEUE_DEVICE_LOW, (uint32_t)dq->used);
	mmio_w32(vm, dev, R_QUEUE_DEVICE_HIGH, 0);
	mmio_w32(vm, dev, R_QUEUE_READY, 1);
	ck_assert_uint_eq(mmio_r32(vm, dev, R_QUEUE_READY), 1);
}

/* Publishes a chain of n descriptors (taken in ring order) and returns its head. */
static inline uint16_t drvq_add(struct drvq *dq, const struct hseg *s, unsigned n)
{
	ck_assert_uint_le(dq->in_flight + n, dq->size);
	struct virtq_desc *d = gpa(dq->vm, dq->desc);
	uint16_t head = dq->next_desc;
	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = dq->next_desc;
		dq->next_desc = (uint16_t)((dq->next_desc + 1) % dq->size);
		d[idx] = (struct virtq_desc){
		    .addr = s[i].gpa,
		    .len = s[i].len,
		    .flags = (uint16_t)((s[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
					(i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
		    .next = dq->next_desc};
	}
	uint16_t *avail = gpa(dq->vm, dq->avail);
	avail[2 + dq->avail_idx % dq->size] = head;
	dq->avail_idx++;
	__atomic_store_n(&avail[1], dq->avail_idx, __ATOMIC_RELEASE);
	dq->in_flight += n;
	return head;
}

static inline void drvq_kick(struct drvq *dq)
{
	mmio_w32(dq->vm, dq->dev, R_QUEUE_NOTIFY, dq->q);
}

/* Next used element, if any; `ndesc` descriptors of that chain return to the driver. */
static inline bool drvq_used(struct drvq *dq, uint32_t *id, uint32_t *len, unsigned ndesc)
{
	uint8_t *used = gpa(dq->vm, dq->used);
	uint16_t idx = __atomic_load_n((uint16_t *)(used + 2), __ATOMIC_ACQUIRE);
	if (idx == dq->used_seen)
		return false;
	uint8_t *e = used + 4 + 8 * (dq->used_seen % dq->size);
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
	dq->used_seen++;
	dq->in_flight -= ndesc;
	return true;
}

static inline uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif

/*
 * Shared driver for the virtio device fuzzers (fuzz_virtio_{blk,vsock,rng,net}.c): a hostile guest
 * in one input. The device is created on a fake VM whose RAM is FUZZ_RAM bytes of the input,
 * the guest negotiates the fuzzed features, sets up every queue with fuzzed sizes and ring
 * addresses (through the real MMIO transport, which must refuse bad ones), then notifies queues
 * in a fuzzed order and finally resets the device. ASan/UBSan catch any access outside guest
 * RAM or the device's own memory. Include from exactly one file per fuzzer.
 *
 * Input: 8 bytes driver features, then per queue (FUZZ_QUEUES) 2 bytes size and 3 x 4 bytes
 * desc/avail/used addresses, FUZZ_NOTIFIES bytes of notify order, 1 byte config offset, then
 * guest RAM (rest zero).
 */
#ifndef SANDBOX_FUZZ_VIRTIO_H
#define SANDBOX_FUZZ_VIRTIO_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../microvm/virtio_devices.h"
#include "../../microvm/virtio_mmio.h"

#define FUZZ_RAM (64u * 1024u)
#define FUZZ_BASE 0xd0000000ull
#define FUZZ_IRQ 5u
#define FUZZ_QUEUES 3u
#define FUZZ_NOTIFIES 8u
#define FUZZ_HDR (8u + FUZZ_QUEUES * 14u + FUZZ_NOTIFIES + 1u)

/* virtio 1.2 §4.2.2 register offsets. */
#define FR_DRV_FEATURES 0x020
#define FR_DRV_FEATURES_SEL 0x024
#define FR_QUEUE_SEL 0x030
#define FR_QUEUE_NUM 0x038
#define FR_QUEUE_READY 0x044
#define FR_QUEUE_NOTIFY 0x050
#define FR_INT_ACK 0x064
#define FR_STATUS 0x070
#define FR_QUEUE_DESC_LOW 0x080
#define FR_QUEUE_DRIVER_LOW 0x090
#define FR_QUEUE_DEVICE_LOW 0x0a0
#define FR_CONFIG 0x100

/* The fake VM counts nothing: interrupts go nowhere. */
int vm_irq_pulse(struct vm *vm, uint32_t gsi)
{
	(void)vm, (void)gsi;
	return 0;
}

static uint32_t fz_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void fz_w32(struct vm *vm, uint64_t off, uint32_t v)
{
	const struct bus_range *r = &vm->mmio.ranges[0];
	/* The bus takes the guest's bytes: little-endian, as a driver writes the register. */
	const uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			      (uint8_t)(v >> 24)};
	r->ops->write(r->opaque, off, b, 4);
}

static void fz_vm_init(struct vm *vm, const uint8_t *data, size_t size)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = -1;
	vm->mem.host = calloc(1, FUZZ_RAM);
	vm->mem.size = FUZZ_RAM;
	vm->mem.memfd = -1;
	vm->mmio.name = "mmio";
	vm->pio.name = "pio";
	size_t body = size - FUZZ_HDR < FUZZ_RAM ? size - FUZZ_HDR : FUZZ_RAM;
	memcpy(vm->mem.host, data + FUZZ_HDR, body);
}

/* Status handshake with the fuzzed features, then every queue from the input. */
static void fz_drive_setup(struct vm *vm, const uint8_t *data)
{
	fz_w32(vm, FR_STATUS, 0);
	fz_w32(vm, FR_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	for (uint32_t sel = 0; sel < 2; sel++) {
		fz_w32(vm, FR_DRV_FEATURES_SEL, sel);
		fz_w32(vm, FR_DRV_FEATURES, fz_le32(data + 4 * sel));
	}
	fz_w32(vm, FR_STATUS,
	       VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	for (uint32_t q = 0; q < FUZZ_QUEUES; q++) {
		const uint8_t *p = data + 8 + q * 14;
		fz_w32(vm, FR_QUEUE_SEL, q);
		fz_w32(vm, FR_QUEUE_NUM, (uint32_t)(p[0] | p[1] << 8));
		/* Mostly inside guest RAM, sometimes just past its end. */
		fz_w32(vm, FR_QUEUE_DESC_LOW, fz_le32(p + 2) % (FUZZ_RAM + 64));
		fz_w32(vm, FR_QUEUE_DRIVER_LOW, fz_le32(p + 6) % (FUZZ_RAM + 64));
		fz_w32(vm, FR_QUEUE_DEVICE_LOW, fz_le32(p + 10) % (FUZZ_RAM + 64));
		fz_w32(vm, FR_QUEUE_READY, 1);
	}
	fz_w32(vm, FR_STATUS,
	       VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		   VIRTIO_STATUS_DRIVER_OK);
}

/* Queue notifies in the input's order; after_notify (may be NULL) runs after each. */
static void fz_drive_notifies(struct vm *vm, const uint8_t *data, void (*after_notify)(void))
{
	const uint8_t *order = data + 8 + FUZZ_QUEUES * 14;
	for (unsigned i = 0; i < FUZZ_NOTIFIES; i++) {
		fz_w32(vm, FR_QUEUE_NOTIFY, order[i] % (FUZZ_QUEUES + 1)); /* one past: bad queue */
		fz_w32(vm, FR_INT_ACK, 1);
		if (after_notify)
			after_notify();
	}
	uint8_t cfg[8];
	const struct bus_range *r = &vm->mmio.ranges[0];
	r->ops->read(r->opaque, FR_CONFIG + order[FUZZ_NOTIFIES] % 64, cfg, 4);
	fz_w32(vm, FR_STATUS, 0); /* the driver resets the device with requests in flight */
}

static void fz_vm_fini(struct vm *vm)
{
	free(vm->mem.host);
	vm->mem.host = NULL;
}

#endif

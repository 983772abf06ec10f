/*
 * virtio-mmio transport, modern interface only (virtio 1.2 §4.2.2, Version 2). The transport owns
 * the register file, feature negotiation, queue setup and the interrupt status; the device behind
 * it supplies a const ops table. Every device struct starts with a struct virtio_mmio, so the
 * opaque handle of virtio_devices.h can be destroyed generically.
 *
 * Locking: one mutex per device (t->lock). Bus callbacks take it; ops callbacks run with it held.
 * A device with its own thread takes the same lock before touching queues or its state.
 */
#ifndef SANDBOX_VIRTIO_MMIO_H
#define SANDBOX_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../common/error.h"
#include "snapshot.h"
#include "virtqueue.h"
#include "vm.h"

/* Device IDs, virtio 1.2 §5. */
#define VIRTIO_ID_BLOCK 2u
#define VIRTIO_ID_ENTROPY 4u
#define VIRTIO_ID_VSOCK 19u

/* Reserved feature bits, virtio 1.2 §6. */
#define VIRTIO_F_VERSION_1 (1ull << 32)

/* Device status bits, virtio 1.2 §2.1. */
#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED 128u

/* InterruptStatus bits, §4.2.2. */
#define VIRTIO_MMIO_INT_VRING 1u
#define VIRTIO_MMIO_INT_CONFIG 2u

#define VIRTIO_MMIO_MAX_QUEUES 4u

struct virtio_dev_ops {
	const char *name; /* "blk", "vsock", "rng": for log lines */
	uint32_t device_id;
	uint16_t num_queues;	 /* <= VIRTIO_MMIO_MAX_QUEUES */
	uint16_t queue_max_size; /* power of 2 <= VIRTQ_MAX_SIZE */
	uint32_t config_size;	 /* bytes of device config space at offset 0x100 */
	/* The transport has checked off + len <= config_size. */
	void (*config_read)(void *dev, uint32_t off, uint8_t *data, uint32_t len);
	/* Optional; NULL means config space is read-only (writes counted and dropped). */
	void (*config_write)(void *dev, uint32_t off, const uint8_t *data, uint32_t len);
	/* QueueNotify for a ready queue after DRIVER_OK. */
	void (*notify)(void *dev, uint16_t queue);
	/* Status written 0: drop in-flight state; the transport has already reset the queues. */
	void (*reset)(void *dev);
	/* Called by virtio_dev_destroy(): stop threads, close, free the device (and transport). */
	void (*destroy)(void *dev);
	/* Snapshot (t->lock held): what the device's restore function needs to re-create it. */
	int (*save)(void *dev, struct snap_w *w, struct sbx_err *err);
	/* Optional: after a restore, once all KVM state is back and before vCPUs run. */
	void (*resume)(void *dev);
};

/* Guest misuse, counted (never fatal); read by tests and debug dumps. */
struct virtio_mmio_stats {
	uint64_t bad_access; /* unknown offset, wrong width, write to a read-only register */
	uint64_t bad_queue;  /* bad queue index, size, or ring layout */
	uint64_t bad_features;
	uint64_t irq_errors;
};

struct virtio_mmio {
	pthread_mutex_t lock;
	struct vm *vm;
	uint64_t base;
	uint32_t irq;
	const struct virtio_dev_ops *ops;
	void *dev;
	uint64_t device_features, driver_features;
	uint32_t device_features_sel, driver_features_sel;
	uint32_t queue_sel;
	uint32_t status;
	uint32_t int_status;
	uint32_t config_generation; /* bumped when config space changes (after a restore) */
	struct virtqueue vqs[VIRTIO_MMIO_MAX_QUEUES];
	struct virtio_mmio_stats stats;
	/* Rate limit for log lines: at most VIRTIO_LOG_BURST per second. */
	int64_t log_window;
	uint32_t log_count;
};

/* Initialises the transport for `dev` (features: device-specific bits; VERSION_1 is added). */
int virtio_mmio_init(struct virtio_mmio *t, struct vm *vm, uint64_t base, uint32_t irq,
		     const struct virtio_dev_ops *ops, void *dev, uint64_t features,
		     struct sbx_err *err);
/*
 * Registers the MMIO window: the last step of a device's create, since the bus cannot forget a
 * device again (its callbacks may run as soon as vCPUs do).
 */
int virtio_mmio_register(struct virtio_mmio *t, struct sbx_err *err);
/* Releases what virtio_mmio_init() allocated (the lock). */
void virtio_mmio_fini(struct virtio_mmio *t);

/* With t->lock held: the queue if it is ready and the driver is running, else NULL. */
struct virtqueue *virtio_mmio_queue(struct virtio_mmio *t, uint16_t q);
/* With t->lock held: interrupts the guest if the queue's pushes call for it. */
void virtio_mmio_signal(struct virtio_mmio *t, uint16_t q);
/*
 * With t->lock held: config space changed: bump ConfigGeneration, set InterruptStatus bit 1 and
 * raise the IRQ, so the driver re-reads the config (virtio 1.2 §2.5.1, §4.2.2).
 */
void virtio_mmio_config_changed(struct virtio_mmio *t);

/* ---- virtio_mmio_state.c: the transport in a snapshot ---- */
/* Status, features, queue select, each queue, interrupt status, config generation. */
void virtio_mmio_save_transport(struct virtio_mmio *t, struct snap_w *w);
/* Inverse; ring addresses are re-validated against guest RAM like a QueueReady write. */
int virtio_mmio_restore_transport(struct virtio_mmio *t, struct snap_rd *r, struct sbx_err *err);

/* Rate-limited log line about guest misuse, prefixed with the device name and base. */
void virtio_mmio_log(struct virtio_mmio *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif

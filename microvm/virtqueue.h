/*
 * Split virtqueue walker (virtio 1.2 §2.7). The rings live in guest memory and are written by a
 * guest we do not trust: every index, address and length is checked before use, descriptors are
 * copied once before validation (no double fetch), and a bad chain is returned to the guest with
 * length 0 and counted instead of stopping the device.
 *
 * Not thread-safe: the owner (the device, under its lock) serialises all calls on one queue.
 */
#ifndef SANDBOX_VIRTQUEUE_H
#define SANDBOX_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest_mem.h"

/* Largest queue any of our devices offers (QueueNumMax); bounds every chain (§2.7.5.3.1). */
#define VIRTQ_MAX_SIZE 256u

/* Descriptor flags (virtio 1.2 §2.7.5). */
#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u
#define VIRTQ_DESC_F_INDIRECT 4u /* never negotiated: a chain using it is rejected */
/* Driver area flag (§2.7.6): the driver does not want used-buffer interrupts. */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u
/* Feature bit 29 (§6): used_event/avail_event replace the flags for notification suppression. */
#define VIRTIO_F_EVENT_IDX (1ull << 29)

/* Ring alignments required by virtio 1.2 §2.7 (table "Virtqueue Part Alignment"). */
#define VIRTQ_DESC_ALIGN 16u
#define VIRTQ_AVAIL_ALIGN 2u
#define VIRTQ_USED_ALIGN 4u

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* One guest buffer of a chain, already translated and bounds-checked. */
struct vq_seg {
	uint8_t *hva;
	uint32_t len;
	bool writable;
};

/* A popped descriptor chain: device-readable segments first, then device-writable ones. */
struct vq_chain {
	uint16_t head;
	uint16_t nseg;
	uint16_t n_out;	  /* segments [0, n_out) are readable, [n_out, nseg) writable */
	uint64_t out_len; /* total readable bytes */
	uint64_t in_len;  /* total writable bytes */
	struct vq_seg seg[VIRTQ_MAX_SIZE];
};

struct virtqueue {
	const struct guest_mem *mem;
	uint16_t size; /* QueueNum, a power of 2 <= VIRTQ_MAX_SIZE */
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* Host views of the rings, valid while ready (guest RAM never moves). */
	struct virtq_desc *desc;
	uint16_t *avail; /* [0] flags, [1] idx, [2 + i] ring */
	uint8_t *used;	 /* le16 flags, le16 idx, then {le32 id, le32 len}[size] */
	uint16_t last_avail;
	uint16_t used_idx;
	uint32_t unsignalled; /* used entries pushed since the last interrupt decision */
	/*
	 * VIRTIO_F_EVENT_IDX negotiated (set by the transport after activation): interrupts only
	 * when used->idx passes the driver's used_event, and the driver kicks only when avail->idx
	 * passes our avail_event. Each interrupt and kick is costly for an emulated guest kernel.
	 */
	bool event_idx;
	uint64_t bad_chains; /* counted guest errors */
	uint64_t bad_avail_idx;
};

/* Back to the power-on state (not ready, size = max_size, addresses 0). */
void virtqueue_reset(struct virtqueue *vq, uint16_t max_size);

/*
 * Checks the three ring areas lie in guest RAM, are aligned, and size is a power of 2, then
 * caches their host addresses and marks the queue ready. -EINVAL / -EFAULT on a bad layout.
 */
int virtqueue_activate(struct virtqueue *vq, const struct guest_mem *mem);

/* True when the driver has made a chain available that we have not popped. */
bool virtqueue_has_avail(struct virtqueue *vq);

/*
 * Pops the next valid chain into *c. Returns 1 with a chain, 0 when none is available. Invalid
 * chains met on the way are completed with length 0, counted, and skipped.
 */
int virtqueue_pop(struct virtqueue *vq, struct vq_chain *c);

/* Completes chain `head`, reporting `len` bytes written into its writable segments. */
void virtqueue_push(struct virtqueue *vq, uint16_t head, uint32_t len);

/* After pushes: true when the guest should get an interrupt (it did not set NO_INTERRUPT). */
bool virtqueue_should_signal(struct virtqueue *vq);

/* Copies up to len bytes from the readable segments starting at byte `off`; returns bytes copied.
 */
size_t vq_chain_read(const struct vq_chain *c, uint64_t off, void *dst, size_t len);
/* Copies up to len bytes into the writable segments starting at byte `off`; returns bytes copied.
 */
size_t vq_chain_write(const struct vq_chain *c, uint64_t off, const void *src, size_t len);
/*
 * Fills iov (at most max entries) with the [off, off+len) byte range of the readable (writable
 * == false) or writable segments; returns the number of entries, *got = bytes covered.
 */
int vq_chain_iov(const struct vq_chain *c, bool writable, uint64_t off, uint64_t len,
		 struct iovec *iov, int max, uint64_t *got);

#endif

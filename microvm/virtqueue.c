/*
 * Split virtqueue walker (virtio 1.2 §2.7). See virtqueue.h for the trust model.
 *
 * Memory ordering: the driver publishes descriptors, then the avail ring entry, then avail->idx;
 * we load avail->idx with acquire semantics before reading entries (§2.7.13). We publish a used
 * entry before used->idx with a release store (§2.7.8), and use a full fence before reading the
 * driver's interrupt-suppression flag so it is not read ahead of our used->idx store.
 */
#include "virtqueue.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

/* Byte offsets inside the driver (avail) and device (used) areas, §2.7.6 and §2.7.8. */
#define AVAIL_FLAGS 0u
#define AVAIL_IDX 1u /* in uint16_t units */
#define AVAIL_RING 2u
#define USED_IDX_OFF 2u
#define USED_RING_OFF 4u
#define USED_ELEM_SIZE 8u
/* Sizes including the event fields (used_event, avail_event), §2.7: 6 + 2*n and 6 + 8*n bytes. */
#define AVAIL_BYTES(n) (6ull + 2ull * (n))
#define USED_BYTES(n) (6ull + 8ull * (n))

void virtqueue_reset(struct virtqueue *vq, uint16_t max_size)
{
	memset(vq, 0, sizeof(*vq));
	vq->size = max_size;
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

int virtqueue_activate(struct virtqueue *vq, const struct guest_mem *mem)
{
	uint16_t n = vq->size;
	if (!is_pow2(n) || n > VIRTQ_MAX_SIZE)
		return -EINVAL;
	if (vq->desc_gpa % VIRTQ_DESC_ALIGN || vq->avail_gpa % VIRTQ_AVAIL_ALIGN ||
	    vq->used_gpa % VIRTQ_USED_ALIGN)
		return -EINVAL;
	void *desc = gpa_to_hva(mem, vq->desc_gpa, sizeof(struct virtq_desc) * (uint64_t)n);
	void *avail = gpa_to_hva(mem, vq->avail_gpa, AVAIL_BYTES(n));
	void *used = gpa_to_hva(mem, vq->used_gpa, USED_BYTES(n));
	if (!desc || !avail || !used)
		return -EFAULT;
	vq->mem = mem;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->unsignalled = 0;
	vq->event_idx = false;
	vq->ready = true;
	return 0;
}

static uint16_t avail_idx_acquire(const struct virtqueue *vq)
{
	return le16toh(__atomic_load_n(&vq->avail[AVAIL_IDX], __ATOMIC_ACQUIRE));
}

/*
 * EVENT_IDX: ask for a kick when the driver adds past `idx` (§2.7.10). Written when we find the
 * ring empty, so the next buffer the driver adds notifies us; a device that stops popping with
 * buffers left (tap full, rate limit) comes back on its own timer, not on a kick.
 */
static void set_avail_event(struct virtqueue *vq, uint16_t idx)
{
	uint16_t *ev = (uint16_t *)(vq->used + USED_RING_OFF + USED_ELEM_SIZE * (uint64_t)vq->size);
	__atomic_store_n(ev, htole16(idx), __ATOMIC_RELAXED);
	/* The driver must see avail_event before we re-read avail->idx (the §2.7.10 race). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

bool virtqueue_has_avail(struct virtqueue *vq)
{
	if (!vq->ready)
		return false;
	return avail_idx_acquire(vq) != vq->last_avail;
}

/* Single volatile fetch of each field: the guest may rewrite the descriptor while we look. */
static struct virtq_desc desc_fetch(const struct virtqueue *vq, uint16_t i)
{
	const volatile struct virtq_desc *d = &vq->desc[i];
	struct virtq_desc out = {
	    .addr = le64toh(d->addr),
	    .len = le32toh(d->len),
	    .flags = le16toh(d->flags),
	    .next = le16toh(d->next),
	};
	return out;
}

static int chain_add(struct virtqueue *vq, struct vq_chain *c, const struct virtq_desc *d)
{
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	if (d->flags & VIRTQ_DESC_F_INDIRECT)
		return -EINVAL;
	/* §2.7.4.2: device-writable descriptors come after all device-readable ones. */
	if (!writable && c->in_len)
		return -EINVAL;
	uint8_t *hva = gpa_to_hva(vq->mem, d->addr, d->len);
	if (!hva)
		return -EFAULT;
	if (d->len == 0)
		return 0;
	c->seg[c->nseg++] = (struct vq_seg){.hva = hva, .len = d->len, .writable = writable};
	if (writable) {
		c->in_len += d->len;
	} else {
		c->out_len += d->len;
		c->n_out++;
	}
	return 0;
}

/* Walks the chain at `head`; at most vq->size descriptors, so a loop ends in -ELOOP. */
static int chain_walk(struct virtqueue *vq, uint16_t head, struct vq_chain *c)
{
	c->head = head;
	c->nseg = c->n_out = 0;
	c->out_len = c->in_len = 0;
	uint16_t i = head;
	for (uint32_t n = 0; n < vq->size; n++) {
		if (i >= vq->size)
			return -ERANGE;
		struct virtq_desc d = desc_fetch(vq, i);
		int r = chain_add(vq, c, &d);
		if (r < 0)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		i = d.next;
	}
	return -ELOOP;
}

int virtqueue_pop(struct virtqueue *vq, struct vq_chain *c)
{
	if (!vq->ready || !is_pow2(vq->size) || vq->size > VIRTQ_MAX_SIZE)
		return 0;
	for (;;) {
		uint16_t avail_idx = avail_idx_acquire(vq);
		uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
		if (pending == 0 && vq->event_idx) {
			set_avail_event(vq, avail_idx);
			if (avail_idx_acquire(vq) != avail_idx)
				continue; /* added while we armed the event: take it now */
		}
		if (pending == 0)
			return 0;
		if (pending > vq->size) {
			/* The driver claims more entries than the ring holds: ignore the ring. */
			vq->bad_avail_idx++;
			return 0;
		}
		uint16_t slot = vq->last_avail % vq->size;
		uint16_t head = le16toh(((volatile uint16_t *)vq->avail)[AVAIL_RING + slot]);
		vq->last_avail++;
		if (head >= vq->size) {
			vq->bad_chains++; /* nothing we can complete: skip the entry */
			continue;
		}
		if (chain_walk(vq, head, c) == 0)
			return 1;
		vq->bad_chains++;
		virtqueue_push(vq, head, 0);
	}
}

void virtqueue_push(struct virtqueue *vq, uint16_t head, uint32_t len)
{
	if (!vq->ready)
		return;
	uint8_t *elem = vq->used + USED_RING_OFF + USED_ELEM_SIZE * (vq->used_idx % vq->size);
	uint32_t id_le = htole32(head), len_le = htole32(len);
	memcpy(elem, &id_le, sizeof(id_le));
	memcpy(elem + 4, &len_le, sizeof(len_le));
	vq->used_idx++;
	__atomic_store_n((uint16_t *)(vq->used + USED_IDX_OFF), htole16(vq->used_idx),
			 __ATOMIC_RELEASE);
	vq->unsignalled++;
}

bool virtqueue_should_signal(struct virtqueue *vq)
{
	if (!vq->ready || vq->unsignalled == 0)
		return false;
	uint32_t pushed = vq->unsignalled;
	vq->unsignalled = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		/* §2.7.10: signal when used_event lies in [old, new), old = used->idx at the last
		 * decision. More pushes than the index space can tell apart: always signal. */
		uint16_t used_event =
		    le16toh(__atomic_load_n(&vq->avail[AVAIL_RING + vq->size], __ATOMIC_RELAXED));
		uint16_t now = vq->used_idx, old = (uint16_t)(now - pushed);
		return pushed > UINT16_MAX ||
		       (uint16_t)(now - used_event - 1) < (uint16_t)(now - old);
	}
	uint16_t flags = le16toh(__atomic_load_n(&vq->avail[AVAIL_FLAGS], __ATOMIC_RELAXED));
	return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/*
 * The one bounds-checked walk over a chain's segments: maps [off, off+len) of the readable (or
 * writable) bytes to at most `max` iovecs. The copy helpers below are built on it.
 */
int vq_chain_iov(const struct vq_chain *c, bool writable, uint64_t off, uint64_t len,
		 struct iovec *iov, int max, uint64_t *got)
{
	uint16_t lo = writable ? c->n_out : 0, hi = writable ? c->nseg : c->n_out;
	uint64_t total = 0;
	int n = 0;
	for (uint16_t i = lo; i < hi && total < len && n < max; i++) {
		const struct vq_seg *s = &c->seg[i];
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		uint64_t piece = s->len - off;
		if (piece > len - total)
			piece = len - total;
		iov[n++] = (struct iovec){.iov_base = s->hva + off, .iov_len = piece};
		total += piece;
		off = 0;
	}
	*got = total;
	return n;
}

static size_t chain_copy(const struct vq_chain *c, bool to_guest, uint64_t off, uint8_t *buf,
			 size_t len)
{
	struct iovec iov[VIRTQ_MAX_SIZE];
	uint64_t got;
	int n = vq_chain_iov(c, to_guest, off, len, iov, VIRTQ_MAX_SIZE, &got);
	for (int i = 0; i < n; i++) {
		if (to_guest)
			memcpy(iov[i].iov_base, buf, iov[i].iov_len);
		else
			memcpy(buf, iov[i].iov_base, iov[i].iov_len);
		buf += iov[i].iov_len;
	}
	return got;
}

size_t vq_chain_read(const struct vq_chain *c, uint64_t off, void *dst, size_t len)
{
	return chain_copy(c, false, off, dst, len);
}

size_t vq_chain_write(const struct vq_chain *c, uint64_t off, const void *src, size_t len)
{
	return chain_copy(c, true, off, (uint8_t *)src, len);
}

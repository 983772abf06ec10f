/*
 * virtio entropy device (virtio 1.2 §5.4): one request queue; every device-writable buffer the
 * driver offers is filled from getrandom() and returned. No config space, no features.
 * Requests are served synchronously on the notifying vCPU thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "virtio_devices.h"
#include "virtio_mmio.h"

#define RNG_QUEUE_REQUEST 0u /* §5.4.2: the only queue */
#define RNG_QUEUE_SIZE 64u
/* Bytes served per request: bounds the time a guest can hold a vCPU thread in getrandom(). */
#define RNG_MAX_PER_REQUEST (64u * 1024u)

struct virtio_rng {
	struct virtio_mmio t; /* first: the opaque handle is a struct virtio_mmio too */
	struct vq_chain chain;
	uint64_t bytes_served;
	uint64_t bad_requests; /* chains with no writable space, or getrandom failures */
};

static void rng_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	(void)dev, (void)off, (void)data, (void)len; /* config_size is 0: never called */
}

/* Fills the writable segments of c; returns bytes written (0 on failure). */
static uint32_t rng_fill(const struct vq_chain *c)
{
	uint32_t done = 0;
	for (uint16_t i = c->n_out; i < c->nseg && done < RNG_MAX_PER_REQUEST; i++) {
		uint32_t want = c->seg[i].len;
		if (want > RNG_MAX_PER_REQUEST - done)
			want = RNG_MAX_PER_REQUEST - done;
		uint32_t got = 0;
		while (got < want) {
			ssize_t n = getrandom(c->seg[i].hva + got, want - got, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return done + got;
			got += (uint32_t)n;
		}
		done += got;
	}
	return done;
}

static void rng_notify(void *dev, uint16_t q)
{
	struct virtio_rng *rng = dev;
	struct virtqueue *vq = virtio_mmio_queue(&rng->t, q);
	if (q != RNG_QUEUE_REQUEST || !vq)
		return;
	while (virtqueue_pop(vq, &rng->chain) == 1) {
		uint32_t n = rng_fill(&rng->chain);
		if (n == 0)
			rng->bad_requests++;
		rng->bytes_served += n;
		virtqueue_push(vq, rng->chain.head, n);
	}
	virtio_mmio_signal(&rng->t, q);
}

static void rng_reset(void *dev)
{
	(void)dev; /* no state beyond the queues, which the transport reset */
}

static void rng_destroy(void *dev)
{
	struct virtio_rng *rng = dev;
	virtio_mmio_fini(&rng->t);
	free(rng);
}

/* No state beyond the transport: every request is answered at once. */
static int rng_save(void *dev, struct snap_w *w, struct sbx_err *err)
{
	(void)dev;
	(void)w;
	(void)err;
	return 0;
}

static const struct virtio_dev_ops rng_ops = {
    .name = "rng",
    .device_id = VIRTIO_ID_ENTROPY,
    .num_queues = 1,
    .queue_max_size = RNG_QUEUE_SIZE,
    .config_size = 0,
    .config_read = rng_config_read,
    .notify = rng_notify,
    .reset = rng_reset,
    .destroy = rng_destroy,
    .save = rng_save,
};

int virtio_rng_create(struct vm *vm, uint64_t base, uint32_t irq, void **out, struct sbx_err *err)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));
	if (!rng)
		return sbx_err_set(err, ENOMEM, "virtio-rng: allocate");
	int r = virtio_mmio_init(&rng->t, vm, base, irq, &rng_ops, rng, 0, err);
	if (r < 0) {
		free(rng);
		return r;
	}
	r = virtio_mmio_register(&rng->t, err);
	if (r < 0) {
		rng_destroy(rng);
		return r;
	}
	*out = rng;
	return 0;
}

int virtio_rng_restore(struct vm *vm, uint64_t base, uint32_t irq, struct snap_rd *sec, void **out,
		       struct sbx_err *err)
{
	void *dev = NULL;
	int r = virtio_rng_create(vm, base, irq, &dev, err);
	if (r >= 0)
		r = virtio_mmio_restore_transport(dev, sec, err);
	if (r >= 0)
		r = snap_end(sec, err);
	if (r < 0) {
		virtio_dev_destroy(dev);
		return r;
	}
	*out = dev;
	return 0;
}

/*
 * The virtio-mmio transport in a snapshot (docs/snapshot.md "devices"): everything the driver
 * negotiated and every queue's position, so the guest driver goes on as if nothing happened.
 * A restored queue passes the same checks as a QueueReady write: the file is untrusted.
 */
#include <errno.h>
#include <string.h>

#include "virtio_devices.h"
#include "virtio_mmio.h"

/* Per queue: size, ready, the three ring addresses, our avail position, our used index. */
static void save_queue(const struct virtqueue *vq, struct snap_w *w)
{
	snap_put_u32(w, vq->size);
	snap_put_u32(w, vq->ready);
	snap_put_u64(w, vq->desc_gpa);
	snap_put_u64(w, vq->avail_gpa);
	snap_put_u64(w, vq->used_gpa);
	snap_put_u32(w, vq->last_avail);
	snap_put_u32(w, vq->used_idx);
}

void virtio_mmio_save_transport(struct virtio_mmio *t, struct snap_w *w)
{
	snap_put_u64(w, t->device_features);
	snap_put_u64(w, t->driver_features);
	snap_put_u32(w, t->device_features_sel);
	snap_put_u32(w, t->driver_features_sel);
	snap_put_u32(w, t->queue_sel);
	snap_put_u32(w, t->status);
	snap_put_u32(w, t->int_status);
	snap_put_u32(w, t->config_generation);
	snap_put_u32(w, t->ops->num_queues);
	for (unsigned q = 0; q < t->ops->num_queues; q++)
		save_queue(&t->vqs[q], w);
}

static int restore_queue(struct virtio_mmio *t, unsigned q, struct snap_rd *r, struct sbx_err *err)
{
	struct virtqueue *vq = &t->vqs[q];
	uint32_t size = 0, ready = 0, last_avail = 0, used_idx = 0;
	int ret = snap_get_u32(r, &size, err);
	if (ret >= 0)
		ret = snap_get_u32(r, &ready, err);
	if (ret >= 0)
		ret = snap_get_u64(r, &vq->desc_gpa, err);
	if (ret >= 0)
		ret = snap_get_u64(r, &vq->avail_gpa, err);
	if (ret >= 0)
		ret = snap_get_u64(r, &vq->used_gpa, err);
	if (ret >= 0)
		ret = snap_get_u32(r, &last_avail, err);
	if (ret >= 0)
		ret = snap_get_u32(r, &used_idx, err);
	if (ret < 0)
		return ret;
	if (size == 0 || size > t->ops->queue_max_size || last_avail > UINT16_MAX ||
	    used_idx > UINT16_MAX || ready > 1)
		return sbx_err_setx(err, EINVAL, "snapshot state is corrupt (virtio-%s queue %u)",
				    t->ops->name, q);
	vq->size = (uint16_t)size;
	if (ready && virtqueue_activate(vq, &t->vm->mem) < 0)
		return sbx_err_setx(err, EINVAL,
				    "snapshot state is corrupt (virtio-%s queue %u layout)",
				    t->ops->name, q);
	/* activate starts a queue at 0: put back where device and driver had got to. */
	vq->last_avail = (uint16_t)last_avail;
	vq->used_idx = (uint16_t)used_idx;
	vq->event_idx = t->driver_features & VIRTIO_F_EVENT_IDX;
	return 0;
}

int virtio_mmio_restore_transport(struct virtio_mmio *t, struct snap_rd *r, struct sbx_err *err)
{
	uint64_t dev_features = 0;
	uint32_t nq = 0;
	int ret = snap_get_u64(r, &dev_features, err);
	if (ret >= 0)
		ret = snap_get_u64(r, &t->driver_features, err);
	if (ret >= 0)
		ret = snap_get_u32(r, &t->device_features_sel, err);
	if (ret >= 0)
		ret = snap_get_u32(r, &t->driver_features_sel, err);
	if (ret >= 0)
		ret = snap_get_u32(r, &t->queue_sel, err);
	if (ret >= 0)
		ret = snap_get_u32(r, &t->status, err);
	if (ret >= 0)
		ret = snap_get_u32(r, &t->int_status, err);
	if (ret >= 0)
		ret = snap_get_u32(r, &t->config_generation, err);
	if (ret >= 0)
		ret = snap_get_u32(r, &nq, err);
	if (ret < 0)
		return ret;
	/* The guest driver negotiated against these exact features: they must not change. */
	if (dev_features != t->device_features || nq != t->ops->num_queues)
		return sbx_err_setx(err, EINVAL, "snapshot's virtio-%s differs from this VMM's",
				    t->ops->name);
	for (unsigned q = 0; ret >= 0 && q < nq; q++)
		ret = restore_queue(t, q, r, err);
	return ret;
}

int virtio_dev_save(void *dev, struct snap_w *w, struct sbx_err *err)
{
	struct virtio_mmio *t = dev;
	pthread_mutex_lock(&t->lock);
	size_t sec = snap_section_begin(w, SNAP_TAG_DEVICE);
	snap_put_u32(w, t->ops->device_id);
	snap_put_u64(w, t->base);
	snap_put_u32(w, t->irq);
	int r = t->ops->save(t->dev, w, err);
	if (r >= 0)
		virtio_mmio_save_transport(t, w);
	snap_section_end(w, sec);
	pthread_mutex_unlock(&t->lock);
	return r;
}

int virtio_dev_restore_begin(struct snap_rd *r, struct snap_rd *sec, uint32_t *device_id,
			     uint64_t *base, uint32_t *irq, struct sbx_err *err)
{
	int ret = snap_section(r, SNAP_TAG_DEVICE, "device", sec, err);
	if (ret >= 0)
		ret = snap_get_u32(sec, device_id, err);
	if (ret >= 0)
		ret = snap_get_u64(sec, base, err);
	if (ret >= 0)
		ret = snap_get_u32(sec, irq, err);
	return ret;
}

void virtio_dev_resume(void *dev)
{
	struct virtio_mmio *t = dev;
	if (!t->ops->resume)
		return;
	pthread_mutex_lock(&t->lock);
	t->ops->resume(t->dev);
	pthread_mutex_unlock(&t->lock);
}

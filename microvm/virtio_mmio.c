/*
 * virtio-mmio transport, modern (Version 2) register interface, virtio 1.2 §4.2.2.
 * Guest misuse at register level is logged (rate-limited), counted, and otherwise ignored.
 */
#include "virtio_mmio.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "layout.h"
#include "virtio_devices.h"

/* Register offsets, virtio 1.2 §4.2.2 table "MMIO Device Register Layout". */
#define REG_MAGIC 0x000
#define REG_VERSION 0x004
#define REG_DEVICE_ID 0x008
#define REG_VENDOR_ID 0x00c
#define REG_DEVICE_FEATURES 0x010
#define REG_DEVICE_FEATURES_SEL 0x014
#define REG_DRIVER_FEATURES 0x020
#define REG_DRIVER_FEATURES_SEL 0x024
#define REG_QUEUE_SEL 0x030
#define REG_QUEUE_NUM_MAX 0x034
#define REG_QUEUE_NUM 0x038
#define REG_QUEUE_READY 0x044
#define REG_QUEUE_NOTIFY 0x050
#define REG_INTERRUPT_STATUS 0x060
#define REG_INTERRUPT_ACK 0x064
#define REG_STATUS 0x070
#define REG_QUEUE_DESC_LOW 0x080
#define REG_QUEUE_DESC_HIGH 0x084
#define REG_QUEUE_DRIVER_LOW 0x090
#define REG_QUEUE_DRIVER_HIGH 0x094
#define REG_QUEUE_DEVICE_LOW 0x0a0
#define REG_QUEUE_DEVICE_HIGH 0x0a4
#define REG_SHM_LEN_LOW 0x0b0
#define REG_SHM_LEN_HIGH 0x0b4
#define REG_CONFIG_GENERATION 0x0fc
#define REG_CONFIG 0x100

#define MMIO_MAGIC 0x74726976u	   /* "virt" */
#define MMIO_VERSION 2u		   /* modern interface only: no legacy PFN registers */
#define MMIO_VENDOR_ID 0x00584253u /* "SBX": any value is valid, drivers do not match on it */
#define VIRTIO_LOG_BURST 5u

void virtio_mmio_log(struct virtio_mmio *t, const char *fmt, ...)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ts.tv_sec != t->log_window) {
		t->log_window = ts.tv_sec;
		t->log_count = 0;
	}
	if (t->log_count++ >= VIRTIO_LOG_BURST)
		return;
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "sandbox-vmm: virtio-%s@%#llx: %s\n", t->ops->name,
		(unsigned long long)t->base, msg);
}

static struct virtqueue *selected_queue(struct virtio_mmio *t)
{
	if (t->queue_sel >= t->ops->num_queues)
		return NULL;
	return &t->vqs[t->queue_sel];
}

static void device_reset(struct virtio_mmio *t)
{
	for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		virtqueue_reset(&t->vqs[i], t->ops->queue_max_size);
	t->driver_features = 0;
	t->device_features_sel = t->driver_features_sel = 0;
	t->queue_sel = 0;
	t->status = 0;
	t->int_status = 0;
	if (t->ops->reset)
		t->ops->reset(t->dev);
}

static uint32_t features_half(uint64_t f, uint32_t sel)
{
	if (sel > 1)
		return 0;
	return (uint32_t)(f >> (32 * sel));
}

static uint32_t reg_read(struct virtio_mmio *t, uint64_t off)
{
	struct virtqueue *vq = selected_queue(t);
	switch (off) {
	case REG_MAGIC:
		return MMIO_MAGIC;
	case REG_VERSION:
		return MMIO_VERSION;
	case REG_DEVICE_ID:
		return t->ops->device_id;
	case REG_VENDOR_ID:
		return MMIO_VENDOR_ID;
	case REG_DEVICE_FEATURES:
		return features_half(t->device_features, t->device_features_sel);
	case REG_QUEUE_NUM_MAX: /* 0 tells the driver the queue does not exist (§4.2.2) */
		return vq ? t->ops->queue_max_size : 0;
	case REG_QUEUE_READY:
		return vq ? vq->ready : 0;
	case REG_INTERRUPT_STATUS:
		return t->int_status;
	case REG_STATUS:
		return t->status;
	case REG_SHM_LEN_LOW: /* all ones: no shared memory region (§4.2.2) */
	case REG_SHM_LEN_HIGH:
		return UINT32_MAX;
	case REG_CONFIG_GENERATION: /* changes only when a restore fills in config space */
		return t->config_generation;
	}
	t->stats.bad_access++;
	virtio_mmio_log(t, "read of write-only or unknown register %#llx", (unsigned long long)off);
	return 0;
}

/* FEATURES_OK is kept only when the driver accepted a subset that includes VERSION_1 (§3.1.1). */
static void status_write(struct virtio_mmio *t, uint32_t val)
{
	if (val == 0) {
		device_reset(t);
		return;
	}
	if ((val & VIRTIO_STATUS_FEATURES_OK) && !(t->status & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t f = t->driver_features;
		if ((f & ~t->device_features) || !(f & VIRTIO_F_VERSION_1)) {
			t->stats.bad_features++;
			virtio_mmio_log(t, "driver features %#llx refused", (unsigned long long)f);
			val &= ~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	t->status = val;
}

static void set_addr_half(uint64_t *addr, bool high, uint32_t val)
{
	if (high)
		*addr = (*addr & 0xffffffffull) | ((uint64_t)val << 32);
	else
		*addr = (*addr & ~0xffffffffull) | val;
}

/* Queue layout registers: only for an existing queue that is not live (§4.2.3.2). */
static void queue_write(struct virtio_mmio *t, uint64_t off, uint32_t val)
{
	struct virtqueue *vq = selected_queue(t);
	if (!vq || vq->ready) {
		t->stats.bad_queue++;
		virtio_mmio_log(t, "queue %u register %#llx write refused", t->queue_sel,
				(unsigned long long)off);
		return;
	}
	switch (off) {
	case REG_QUEUE_NUM:
		if (val == 0 || (val & (val - 1)) || val > t->ops->queue_max_size) {
			t->stats.bad_queue++;
			virtio_mmio_log(t, "queue %u size %u refused", t->queue_sel, val);
			return;
		}
		vq->size = (uint16_t)val;
		return;
	case REG_QUEUE_DESC_LOW:
	case REG_QUEUE_DESC_HIGH:
		set_addr_half(&vq->desc_gpa, off == REG_QUEUE_DESC_HIGH, val);
		return;
	case REG_QUEUE_DRIVER_LOW:
	case REG_QUEUE_DRIVER_HIGH:
		set_addr_half(&vq->avail_gpa, off == REG_QUEUE_DRIVER_HIGH, val);
		return;
	default:
		set_addr_half(&vq->used_gpa, off == REG_QUEUE_DEVICE_HIGH, val);
		return;
	}
}

static void queue_ready_write(struct virtio_mmio *t, uint32_t val)
{
	struct virtqueue *vq = selected_queue(t);
	if (!vq) {
		t->stats.bad_queue++;
		return;
	}
	if (val == 0) {
		vq->ready = false;
		return;
	}
	if (vq->ready)
		return;
	int r = virtqueue_activate(vq, &t->vm->mem);
	vq->event_idx = t->driver_features & VIRTIO_F_EVENT_IDX;
	if (r < 0) {
		/* QueueReady reads back 0, which the driver sees as a failed setup. */
		t->stats.bad_queue++;
		virtio_mmio_log(t, "queue %u ring layout refused: %s", t->queue_sel, strerror(-r));
	}
}

static void notify_write(struct virtio_mmio *t, uint32_t q)
{
	if (q >= t->ops->num_queues || !t->vqs[q].ready || !(t->status & VIRTIO_STATUS_DRIVER_OK)) {
		t->stats.bad_queue++;
		virtio_mmio_log(t, "notify of queue %u ignored", q);
		return;
	}
	t->ops->notify(t->dev, (uint16_t)q);
}

static void features_write(struct virtio_mmio *t, uint32_t val)
{
	if ((t->status & VIRTIO_STATUS_FEATURES_OK) || t->driver_features_sel > 1) {
		t->stats.bad_features++;
		return;
	}
	set_addr_half(&t->driver_features, t->driver_features_sel == 1, val);
}

static void reg_write(struct virtio_mmio *t, uint64_t off, uint32_t val)
{
	switch (off) {
	case REG_DEVICE_FEATURES_SEL:
		t->device_features_sel = val;
		return;
	case REG_DRIVER_FEATURES:
		features_write(t, val);
		return;
	case REG_DRIVER_FEATURES_SEL:
		t->driver_features_sel = val;
		return;
	case REG_QUEUE_SEL:
		t->queue_sel = val; /* checked on use */
		return;
	case REG_QUEUE_NUM:
	case REG_QUEUE_DESC_LOW:
	case REG_QUEUE_DESC_HIGH:
	case REG_QUEUE_DRIVER_LOW:
	case REG_QUEUE_DRIVER_HIGH:
	case REG_QUEUE_DEVICE_LOW:
	case REG_QUEUE_DEVICE_HIGH:
		queue_write(t, off, val);
		return;
	case REG_QUEUE_READY:
		queue_ready_write(t, val);
		return;
	case REG_QUEUE_NOTIFY:
		notify_write(t, val);
		return;
	case REG_INTERRUPT_ACK:
		t->int_status &= ~val;
		return;
	case REG_STATUS:
		status_write(t, val);
		return;
	}
	t->stats.bad_access++;
	virtio_mmio_log(t, "write to read-only or unknown register %#llx", (unsigned long long)off);
}

static bool config_range_ok(struct virtio_mmio *t, uint64_t off, uint32_t len)
{
	uint64_t c = off - REG_CONFIG;
	if (c < t->ops->config_size && len <= t->ops->config_size - c)
		return true;
	t->stats.bad_access++;
	virtio_mmio_log(t, "config access %#llx+%u out of range", (unsigned long long)off, len);
	return false;
}

static void mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	memset(data, 0, len);
	pthread_mutex_lock(&t->lock);
	if (off >= REG_CONFIG) {
		if (config_range_ok(t, off, len))
			t->ops->config_read(t->dev, (uint32_t)(off - REG_CONFIG), data, len);
	} else if (len != 4 || off % 4) {
		/* §4.2.2.2: control registers are accessed 32 bits wide and aligned only. */
		t->stats.bad_access++;
		virtio_mmio_log(t, "%u-byte read at %#llx", len, (unsigned long long)off);
	} else {
		uint32_t v = htole32(reg_read(t, off));
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&t->lock);
}

static void mmio_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	pthread_mutex_lock(&t->lock);
	if (off >= REG_CONFIG) {
		if (!t->ops->config_write) {
			t->stats.bad_access++;
			virtio_mmio_log(t, "write to read-only config %#llx",
					(unsigned long long)off);
		} else if (config_range_ok(t, off, len)) {
			t->ops->config_write(t->dev, (uint32_t)(off - REG_CONFIG), data, len);
		}
	} else if (len != 4 || off % 4) {
		t->stats.bad_access++;
		virtio_mmio_log(t, "%u-byte write at %#llx", len, (unsigned long long)off);
	} else {
		uint32_t v;
		memcpy(&v, data, 4);
		reg_write(t, off, le32toh(v));
	}
	pthread_mutex_unlock(&t->lock);
}

static const struct bus_ops virtio_mmio_bus_ops = {
    .read = mmio_read,
    .write = mmio_write,
};

int virtio_mmio_init(struct virtio_mmio *t, struct vm *vm, uint64_t base, uint32_t irq,
		     const struct virtio_dev_ops *ops, void *dev, uint64_t features,
		     struct sbx_err *err)
{
	t->vm = vm;
	t->base = base;
	t->irq = irq;
	t->ops = ops;
	t->dev = dev;
	t->device_features = features | VIRTIO_F_VERSION_1;
	int r = pthread_mutex_init(&t->lock, NULL);
	if (r)
		return sbx_err_set(err, r, "virtio-%s: mutex init", ops->name);
	device_reset(t);
	return 0;
}

int virtio_mmio_register(struct virtio_mmio *t, struct sbx_err *err)
{
	int r = bus_register(&t->vm->mmio, t->base, LAYOUT_VIRTIO_MMIO_SIZE, &virtio_mmio_bus_ops,
			     t, err);
	if (r < 0)
		return sbx_err_wrap(err, "virtio-%s at %#llx", t->ops->name,
				    (unsigned long long)t->base);
	return 0;
}

void virtio_mmio_fini(struct virtio_mmio *t)
{
	pthread_mutex_destroy(&t->lock);
}

struct virtqueue *virtio_mmio_queue(struct virtio_mmio *t, uint16_t q)
{
	if (q >= t->ops->num_queues || !(t->status & VIRTIO_STATUS_DRIVER_OK) || !t->vqs[q].ready)
		return NULL;
	return &t->vqs[q];
}

void virtio_mmio_signal(struct virtio_mmio *t, uint16_t q)
{
	if (q >= t->ops->num_queues || !virtqueue_should_signal(&t->vqs[q]))
		return;
	t->int_status |= VIRTIO_MMIO_INT_VRING;
	int r = vm_irq_pulse(t->vm, t->irq);
	if (r < 0) {
		t->stats.irq_errors++;
		virtio_mmio_log(t, "irq %u: %s", t->irq, strerror(-r));
	}
}

void virtio_mmio_config_changed(struct virtio_mmio *t)
{
	t->config_generation++;
	t->int_status |= VIRTIO_MMIO_INT_CONFIG;
	int r = vm_irq_pulse(t->vm, t->irq);
	if (r < 0) {
		t->stats.irq_errors++;
		virtio_mmio_log(t, "irq %u: %s", t->irq, strerror(-r));
	}
}

void virtio_dev_destroy(void *dev)
{
	if (!dev)
		return;
	struct virtio_mmio *t = dev;
	t->ops->destroy(dev);
}

/*
 * virtio-fs over vhost-user (virtio 1.2 §5.11; vhost-user spec). Queue 0 is the high-priority
 * queue, queue 1 the one request queue. Guest notifications reach the back end through
 * ioeventfd (KVM_IOEVENTFD on QueueNotify with the queue index as datamatch); when KVM refuses
 * one, the notify callback writes the kick eventfd instead. Used-buffer notifications come back
 * on the call eventfds and are relayed by a thread that sets InterruptStatus and pulses the IRQ:
 * a plain irqfd cannot set the virtio-mmio InterruptStatus bit the guest driver checks (§4.2.2).
 */
#include "virtio_fs.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm_ioctl.h"
#include "seccomp.h"
#include "vhost_user.h"
#include "virtio_devices.h"
#include "virtio_mmio.h"

#define FS_NUM_QUEUES 2u /* hiprio + 1 request queue (§5.11.2) */
#define FS_QUEUE_SIZE VIRTQ_MAX_SIZE
#define FS_CONFIG_SIZE 40u	   /* tag[36], le32 num_request_queues (§5.11.4) */
#define FS_QUEUE_NOTIFY_OFF 0x050u /* virtio-mmio QueueNotify register (§4.2.2) */

struct virtio_fs {
	struct virtio_mmio t; /* first: the opaque handle is a struct virtio_mmio too */
	char tag[VIRTIO_FS_TAG_MAX + 1];
	struct vhost_user vu; /* vu.fd < 0: empty slot */
	bool started;	      /* rings handed to the back end */
	bool broken;	      /* the back end failed: the device stays silent */
	int kick[FS_NUM_QUEUES], call[FS_NUM_QUEUES];
	bool ioeventfd[FS_NUM_QUEUES];
	int stop_fd;
	int epoll_fd; /* the relay waits on the call eventfds and stop_fd */
	pthread_t relay;
	bool relay_running;
	uint64_t irqs_relayed, kicks_relayed;
};

int virtio_fs_tag_check(const char *tag, struct sbx_err *err)
{
	size_t n = strlen(tag);
	if (n == 0 || n > VIRTIO_FS_TAG_MAX)
		return sbx_err_setx(err, EINVAL, "virtio-fs tag '%s': 1..%u bytes", tag,
				    VIRTIO_FS_TAG_MAX);
	for (size_t i = 0; i < n; i++)
		if (tag[i] <= ' ' || tag[i] > '~' || tag[i] == ',' || tag[i] == '=')
			return sbx_err_setx(
			    err, EINVAL, "virtio-fs tag '%s': printable ASCII without ',' or '='",
			    tag);
	return 0;
}

static void fs_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_fs *fs = dev;
	uint8_t cfg[FS_CONFIG_SIZE] = {0};
	memcpy(cfg, fs->tag, strlen(fs->tag)); /* NUL padding, no terminator needed */
	uint32_t nreq = htole32(FS_NUM_QUEUES - 1);
	memcpy(cfg + VIRTIO_FS_TAG_MAX, &nreq, sizeof(nreq));
	memcpy(data, cfg + off, len); /* the transport checked off + len <= FS_CONFIG_SIZE */
}

/*
 * Relays the back end's used-buffer notifications into the guest (see the file comment).
 * An I/O thread: it runs under the VMM's seccomp list, hence epoll rather than poll.
 */
static void *relay_main(void *arg)
{
	struct virtio_fs *fs = arg;
	seccomp_enter_io_thread("virtio-fs");
	for (;;) {
		struct epoll_event ev[FS_NUM_QUEUES + 1];
		int n = epoll_wait(fs->epoll_fd, ev, FS_NUM_QUEUES + 1, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return NULL;
		bool fire = false;
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u32 == FS_NUM_QUEUES)
				return NULL; /* stop_fd */
			eventfd_t v;
			if (eventfd_read(fs->call[ev[i].data.u32], &v) == 0)
				fire = true;
		}
		if (!fire)
			continue;
		pthread_mutex_lock(&fs->t.lock);
		fs->irqs_relayed++;
		fs->t.int_status |= VIRTIO_MMIO_INT_VRING;
		int r = vm_irq_pulse(fs->t.vm, fs->t.irq);
		if (r < 0) {
			fs->t.stats.irq_errors++;
			virtio_mmio_log(&fs->t, "irq %u: %s", fs->t.irq, strerror(-r));
		}
		pthread_mutex_unlock(&fs->t.lock);
	}
}

static int ioeventfd_set(struct virtio_fs *fs, unsigned q, bool assign)
{
	struct kvm_ioeventfd io = {
	    .datamatch = q,
	    .addr = fs->t.base + FS_QUEUE_NOTIFY_OFF,
	    .len = 4,
	    .fd = fs->kick[q],
	    .flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};
	return ioctl(fs->t.vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

/* Host addresses of a queue's rings: the back end translates them through the memory table. */
static int start_ring(struct virtio_fs *fs, unsigned q, struct sbx_err *err)
{
	struct virtqueue *vq = &fs->t.vqs[q];
	struct vhost_user_vring_addr a = {
	    .index = q,
	    .desc_uaddr = (uintptr_t)vq->desc,
	    .avail_uaddr = (uintptr_t)vq->avail,
	    .used_uaddr = (uintptr_t)vq->used,
	};
	int r = vhost_user_set_vring_num(&fs->vu, q, vq->size, err);
	if (r >= 0)
		r = vhost_user_set_vring_base(&fs->vu, q, vq->last_avail, err);
	if (r >= 0)
		r = vhost_user_set_vring_addr(&fs->vu, &a, err);
	if (r >= 0)
		r = vhost_user_set_vring_call(&fs->vu, q, fs->call[q], err);
	if (r >= 0)
		r = vhost_user_set_vring_kick(&fs->vu, q, fs->kick[q], err);
	if (r >= 0 && (fs->vu.backend_features & VHOST_USER_F_PROTOCOL_FEATURES))
		r = vhost_user_set_vring_enable(&fs->vu, q, true, err);
	return r;
}

/* Hands the negotiated features, guest RAM and every ready ring to the back end. */
static int start_backend(struct virtio_fs *fs, struct sbx_err *err)
{
	const struct guest_mem *m = &fs->t.vm->mem;
	if (m->memfd < 0)
		return sbx_err_setx(err, ENOTSUP, "guest RAM is not in a memfd");
	struct vhost_user_region reg = {.gpa = 0, .size = m->size, .uaddr = (uintptr_t)m->host};
	int r = vhost_user_set_features(&fs->vu, fs->t.driver_features, err);
	if (r >= 0)
		r = vhost_user_set_mem_table(&fs->vu, &reg, &m->memfd, 1, err);
	for (unsigned q = 0; r >= 0 && q < FS_NUM_QUEUES; q++)
		if (fs->t.vqs[q].ready)
			r = start_ring(fs, q, err);
	if (r < 0)
		return r;
	for (unsigned q = 0; q < FS_NUM_QUEUES; q++) {
		if (!fs->t.vqs[q].ready)
			continue;
		int e = ioeventfd_set(fs, q, true);
		fs->ioeventfd[q] = e == 0;
		if (e < 0) /* still correct, one exit to user space per notify slower */
			virtio_mmio_log(&fs->t, "KVM_IOEVENTFD queue %u: %s; relaying its kicks", q,
					strerror(-e));
	}
	fs->started = true;
	return 0;
}

static void fs_notify(void *dev, uint16_t q)
{
	struct virtio_fs *fs = dev;
	if (fs->vu.fd < 0 || fs->broken) {
		fs->t.stats.bad_queue++;
		virtio_mmio_log(&fs->t, "notify of queue %u: %s", q,
				fs->broken ? "the back end failed" : "empty slot, no back end");
		return;
	}
	if (!fs->started && !(fs->t.status & VIRTIO_STATUS_FEATURES_OK)) {
		/* Features never accepted (no VERSION_1, say): the back end would take the device
		 * for a legacy one and give up on it for good (libvhost-user panics), so the
		 * driver's notifies wait until it negotiates properly (found by tests/hostile). */
		fs->t.stats.bad_features++;
		virtio_mmio_log(&fs->t, "notify of queue %u before FEATURES_OK ignored", q);
		return;
	}
	if (!fs->started) {
		struct sbx_err err = {0};
		if (start_backend(fs, &err) < 0) {
			fs->broken = true;
			virtio_mmio_log(&fs->t, "back end for tag '%s': %s", fs->tag, err.msg);
			return;
		}
	}
	/* Before the ioeventfd existed, or where KVM refused one: relay by hand. */
	fs->kicks_relayed++;
	eventfd_write(fs->kick[q], 1);
}

/* Stops the rings (GET_VRING_BASE) so a reset driver can set them up again. */
static void stop_backend(struct virtio_fs *fs)
{
	for (unsigned q = 0; q < FS_NUM_QUEUES; q++) {
		if (fs->ioeventfd[q])
			ioeventfd_set(fs, q, false);
		fs->ioeventfd[q] = false;
	}
	if (!fs->started)
		return;
	fs->started = false;
	for (unsigned q = 0; q < FS_NUM_QUEUES; q++) {
		struct sbx_err err = {0};
		uint32_t base;
		if (vhost_user_get_vring_base(&fs->vu, q, &base, &err) < 0) {
			virtio_mmio_log(&fs->t, "stop ring %u: %s", q, err.msg);
			fs->broken = true;
			return;
		}
	}
}

static void fs_reset(void *dev)
{
	stop_backend(dev);
}

static void fs_free(struct virtio_fs *fs)
{
	if (fs->relay_running) {
		eventfd_write(fs->stop_fd, 1);
		pthread_join(fs->relay, NULL);
	}
	for (unsigned q = 0; q < FS_NUM_QUEUES; q++) {
		if (fs->ioeventfd[q])
			ioeventfd_set(fs, q, false);
		if (fs->kick[q] >= 0)
			close(fs->kick[q]);
		if (fs->call[q] >= 0)
			close(fs->call[q]);
	}
	if (fs->stop_fd >= 0)
		close(fs->stop_fd);
	if (fs->epoll_fd >= 0)
		close(fs->epoll_fd);
	vhost_user_close(&fs->vu);
	free(fs);
}

static void fs_destroy(void *dev)
{
	struct virtio_fs *fs = dev;
	virtio_mmio_fini(&fs->t);
	fs_free(fs);
}

/* A slot is saved as its tag; a VM whose rings live in another process cannot be. */
static int fs_save(void *dev, struct snap_w *w, struct sbx_err *err)
{
	struct virtio_fs *fs = dev;
	if (fs->vu.fd >= 0)
		return sbx_err_setx(err, ENOTSUP,
				    "virtio-fs '%s': a VM with a back end cannot be snapshotted",
				    fs->tag);
	snap_put_blob(w, fs->tag, strlen(fs->tag));
	return 0;
}

static const struct virtio_dev_ops fs_ops = {
    .name = "fs",
    .device_id = VIRTIO_ID_FS,
    .num_queues = FS_NUM_QUEUES,
    .queue_max_size = FS_QUEUE_SIZE,
    .config_size = FS_CONFIG_SIZE,
    .config_read = fs_config_read,
    .notify = fs_notify,
    .reset = fs_reset,
    .destroy = fs_destroy,
    .save = fs_save,
};

static int fs_open_fds(struct virtio_fs *fs, struct sbx_err *err)
{
	for (unsigned q = 0; q < FS_NUM_QUEUES; q++) {
		fs->kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		fs->call[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fs->kick[q] < 0 || fs->call[q] < 0)
			return sbx_err_set(err, errno, "virtio-fs: eventfd");
	}
	fs->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (fs->stop_fd < 0)
		return sbx_err_set(err, errno, "virtio-fs: eventfd");
	fs->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (fs->epoll_fd < 0)
		return sbx_err_set(err, errno, "virtio-fs: epoll_create1");
	for (unsigned i = 0; i <= FS_NUM_QUEUES; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
		int fd = i < FS_NUM_QUEUES ? fs->call[i] : fs->stop_fd;
		if (epoll_ctl(fs->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
			return sbx_err_set(err, errno, "virtio-fs: epoll_ctl");
	}
	return 0;
}

/* Everything but the MMIO window: the back end connection, eventfds, the relay thread. */
static int fs_new(struct vm *vm, uint64_t base, uint32_t irq, const char *tag, const char *socket,
		  struct virtio_fs **out, struct sbx_err *err)
{
	int r = virtio_fs_tag_check(tag, err);
	if (r < 0)
		return r;
	struct virtio_fs *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return sbx_err_set(err, ENOMEM, "virtio-fs: allocate");
	strcpy(fs->tag, tag);
	vhost_user_init_fd(&fs->vu, -1);
	fs->stop_fd = fs->epoll_fd = -1;
	for (unsigned q = 0; q < FS_NUM_QUEUES; q++)
		fs->kick[q] = fs->call[q] = -1;
	r = fs_open_fds(fs, err);
	if (r >= 0 && socket && socket[0]) {
		r = vhost_user_connect(&fs->vu, socket, err);
		if (r >= 0)
			r = vhost_user_handshake(&fs->vu, VIRTIO_F_VERSION_1, err);
	}
	if (r < 0 || (r = virtio_mmio_init(&fs->t, vm, base, irq, &fs_ops, fs, 0, err)) < 0) {
		fs_free(fs);
		return sbx_err_wrap(err, "virtio-fs '%s'", tag);
	}
	/* After the transport: the relay takes its lock. */
	r = pthread_create(&fs->relay, NULL, relay_main, fs);
	if (r) {
		fs_destroy(fs);
		return sbx_err_set(err, r, "virtio-fs '%s': relay thread", tag);
	}
	fs->relay_running = true;
	*out = fs;
	return 0;
}

int virtio_fs_create(struct vm *vm, uint64_t base, uint32_t irq, const char *tag,
		     const char *socket, void **out, struct sbx_err *err)
{
	struct virtio_fs *fs = NULL;
	int r = fs_new(vm, base, irq, tag, socket, &fs, err);
	if (r < 0)
		return r;
	r = virtio_mmio_register(&fs->t, err);
	if (r < 0) {
		fs_destroy(fs);
		return r;
	}
	*out = fs;
	return 0;
}

int virtio_fs_restore(struct vm *vm, uint64_t base, uint32_t irq, struct snap_rd *sec,
		      const char *(*socket_for)(const char *tag, void *ctx), void *ctx, void **out,
		      struct sbx_err *err)
{
	char tag[VIRTIO_FS_TAG_MAX + 1] = {0};
	size_t len = 0;
	int r = snap_get_blob_max(sec, tag, VIRTIO_FS_TAG_MAX, &len, err);
	if (r < 0)
		return r;
	tag[len] = '\0';
	if (strlen(tag) != len || virtio_fs_tag_check(tag, NULL) < 0)
		return sbx_err_setx(err, EINVAL, "snapshot state is corrupt (virtio-fs tag)");
	const char *socket = socket_for ? socket_for(tag, ctx) : NULL;
	if (socket && socket[0] && vm->mem.memfd < 0) /* vmm_restore_begin shares it */
		return sbx_err_setx(err, ENOTSUP, "virtio-fs '%s': guest RAM is not in a memfd",
				    tag);
	void *dev = NULL;
	r = virtio_fs_create(vm, base, irq, tag, socket, &dev, err);
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

const char *virtio_fs_tag(void *dev)
{
	return ((struct virtio_fs *)dev)->tag;
}

bool virtio_fs_has_backend(void *dev)
{
	return ((struct virtio_fs *)dev)->vu.fd >= 0;
}

/* "tag=TAG" then optionally ",socket=PATH"; the path may contain anything but a NUL. */
int virtio_fs_parse_opt(const char *arg, struct virtio_fs_opt *o, struct sbx_err *err)
{
	*o = (struct virtio_fs_opt){0};
	if (strncmp(arg, "tag=", 4) != 0)
		return sbx_err_setx(err, EINVAL, "--fs '%s': expected tag=TAG[,socket=PATH]", arg);
	const char *tag = arg + 4;
	const char *comma = strchr(tag, ',');
	size_t tlen = comma ? (size_t)(comma - tag) : strlen(tag);
	if (tlen == 0 || tlen > VIRTIO_FS_TAG_MAX)
		return sbx_err_setx(err, EINVAL, "--fs '%s': the tag must be 1..%u bytes", arg,
				    VIRTIO_FS_TAG_MAX);
	memcpy(o->tag, tag, tlen);
	o->tag[tlen] = '\0';
	int r = virtio_fs_tag_check(o->tag, err);
	if (r < 0)
		return sbx_err_wrap(err, "--fs");
	if (!comma)
		return 0;
	if (strncmp(comma + 1, "socket=", 7) != 0)
		return sbx_err_setx(err, EINVAL, "--fs '%s': expected tag=TAG[,socket=PATH]", arg);
	const char *path = comma + 8;
	if (!path[0] || strlen(path) >= sizeof(o->socket))
		return sbx_err_setx(err, EINVAL, "--fs '%s': socket path must be 1..%zu bytes", arg,
				    sizeof(o->socket) - 1);
	strcpy(o->socket, path);
	return 0;
}

/*
 * virtio network device (virtio 1.2 §5.1): one rx/tx queue pair over a tap opened with
 * IFF_VNET_HDR, so the 12-byte virtio_net_hdr_v1 passes between guest and host kernel unchanged
 * and checksum/TSO offloads work end to end. No control queue, no multiqueue.
 *
 * tx is sent on the vCPU thread that wrote QueueNotify, as virtio-blk serves its requests: the
 * frame is on the tap before the guest runs again, with no wakeup of another thread on the way
 * (that hop was the ping gap to QEMU, issue 7). One I/O thread per device waits in epoll on the
 * tap, an eventfd that rx notifies and held-back tx kick, and a timerfd for the rate limiter; it
 * does all rx work and any tx that had to wait. Both threads touch queues and device state only
 * under the transport lock. A frame read from the tap is held in a bounce buffer until the guest
 * has posted enough rx buffers for it; while one is held the tap is not read, so a slow guest
 * makes the tap queue fill up and the host kernel drop, as a real NIC would.
 */
#include "virtio_net.h"

#include <endian.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "rate_limiter.h"
#include "tap.h"
#include "virtio_devices.h"
#include "seccomp.h"
#include "virtio_mmio.h"

#define NET_QUEUE_RX 0u
#define NET_QUEUE_TX 1u
#define NET_NUM_QUEUES 2u
#define NET_QUEUE_SIZE 256u

/* Feature bits, virtio 1.2 §5.1.3. */
#define VIRTIO_NET_F_CSUM (1ull << 0)
#define VIRTIO_NET_F_GUEST_CSUM (1ull << 1)
#define VIRTIO_NET_F_MAC (1ull << 5)
#define VIRTIO_NET_F_GUEST_TSO4 (1ull << 7)
#define VIRTIO_NET_F_GUEST_TSO6 (1ull << 8)
#define VIRTIO_NET_F_GUEST_ECN (1ull << 9)
#define VIRTIO_NET_F_HOST_TSO4 (1ull << 11)
#define VIRTIO_NET_F_HOST_TSO6 (1ull << 12)
#define VIRTIO_NET_F_HOST_ECN (1ull << 13)
#define VIRTIO_NET_F_MRG_RXBUF (1ull << 15)
#define VIRTIO_NET_F_STATUS (1ull << 16)
#define NET_FEATURES                                                                               \
	(VIRTIO_NET_F_CSUM | VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_MAC |                          \
	 VIRTIO_NET_F_GUEST_TSO4 | VIRTIO_NET_F_GUEST_TSO6 | VIRTIO_NET_F_GUEST_ECN |              \
	 VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_HOST_TSO6 | VIRTIO_NET_F_HOST_ECN |                 \
	 VIRTIO_NET_F_MRG_RXBUF | VIRTIO_NET_F_STATUS | VIRTIO_F_EVENT_IDX)

/* Config space, §5.1.4: mac[6], le16 status. */
#define NET_CFG_MAC 0u
#define NET_CFG_STATUS 6u
#define NET_CFG_SIZE 8u
#define VIRTIO_NET_S_LINK_UP 1u

#define NET_HDR TAP_VNET_HDR_LEN
#define NET_HDR_NUM_BUFFERS 10u /* offset of le16 num_buffers in virtio_net_hdr_v1 */
/* Largest frame either way: a 64 KiB GSO packet plus Ethernet and VLAN headers, and the header. */
#define NET_FRAME_MAX (NET_HDR + 65536u + 14u + 4u)

#define EP_KICK 0u
#define EP_TAP 1u
#define EP_TIMER 2u
#define NET_EPOLL_BATCH 8

#define NET_SNAP_EMPTY 1u /* slot flags in a snapshot record */

struct rx_used {
	uint16_t head;
	uint32_t len;
};

struct virtio_net {
	struct virtio_mmio t; /* first: the opaque handle is a struct virtio_mmio too */
	int tap_fd;	      /* -1: an empty slot (link down, tx dropped) */
	int epoll_fd, kick_fd, timer_fd;
	pthread_t thread;
	bool thread_started, stop;
	bool tap_watched;     /* EPOLLIN on the tap is armed */
	bool config_pending;  /* filled on restore: tell the driver the link is up */
	uint64_t offload_for; /* driver features the tap offloads were set for (+1: none yet) */
	uint8_t config[NET_CFG_SIZE];
	struct net_opts opts;
	struct rate_limiter rx_rl, tx_rl;
	/* The frame being delivered to the guest. */
	uint8_t *rx_frame;
	uint32_t rx_len, rx_off;
	bool rx_pending, rx_paid;
	struct vq_chain rx_first; /* its first buffer: num_buffers is written there last */
	struct rx_used rx_used[NET_QUEUE_SIZE];
	uint16_t rx_nbuf;
	/* A tx chain popped but not yet sent (the rate limiter said wait). */
	struct vq_chain tx_chain, rx_chain;
	bool tx_held, tx_paid;
	bool mmio_inited; /* virtio_mmio_init() ran: destroy must fini it */
	struct iovec iov[VIRTQ_MAX_SIZE];
	struct virtio_net_stats stats;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void net_kick(struct virtio_net *n)
{
	uint64_t one = 1;
	if (n->kick_fd < 0) /* the transport resets the device before our fds exist */
		return;
	if (write(n->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		virtio_mmio_log(&n->t, "kick: %s", strerror(errno));
}

static void watch_tap(struct virtio_net *n, bool on)
{
	if (n->tap_fd < 0 || n->tap_watched == on)
		return;
	struct epoll_event ev = {.events = on ? EPOLLIN : 0, .data.u64 = EP_TAP};
	if (epoll_ctl(n->epoll_fd, EPOLL_CTL_MOD, n->tap_fd, &ev) == 0)
		n->tap_watched = on;
}

/* The rate limiter said wait: come back after `ns`. */
static void arm_timer(struct virtio_net *n, uint64_t ns)
{
	struct itimerspec its = {.it_value = {.tv_sec = (time_t)(ns / 1000000000ull),
					      .tv_nsec = (long)(ns % 1000000000ull)}};
	if (ns == 0)
		its.it_value.tv_nsec = 1;
	timerfd_settime(n->timer_fd, 0, &its, NULL);
}

/* Offloads follow what the driver accepted, once it is running (§5.1.6.4). */
static void net_apply_offload(struct virtio_net *n)
{
	uint64_t f = n->t.driver_features;
	if (n->tap_fd < 0 || n->offload_for == f)
		return;
	struct tap_offload o = {.csum = f & VIRTIO_NET_F_GUEST_CSUM,
				.tso4 = f & VIRTIO_NET_F_GUEST_TSO4,
				.tso6 = f & VIRTIO_NET_F_GUEST_TSO6,
				.ecn = f & VIRTIO_NET_F_GUEST_ECN};
	struct sbx_err err = {0};
	if (tap_set_offload(n->tap_fd, &o, &err) < 0)
		virtio_mmio_log(&n->t, "%s", err.msg);
	n->offload_for = f;
}

/* ---- tx: guest -> tap ---- */

/*
 * Sends n->tx_chain; false when it has to wait (rate limit, tap full) and stays held, with
 * *wait_ns saying for how long.
 */
static bool tx_one(struct virtio_net *n, struct virtqueue *vq, uint64_t *wait_ns)
{
	struct vq_chain *c = &n->tx_chain;
	if (c->out_len < NET_HDR || c->out_len > NET_FRAME_MAX) {
		n->stats.tx_dropped++;
		virtio_mmio_log(&n->t, "tx chain of %llu bytes dropped",
				(unsigned long long)c->out_len);
		virtqueue_push(vq, c->head, 0);
		return true;
	}
	uint64_t t = now_ns();
	if (!n->tx_paid && !rate_limiter_consume(&n->tx_rl, c->out_len - NET_HDR, t)) {
		*wait_ns = rate_limiter_wait_ns(&n->tx_rl, c->out_len - NET_HDR, t);
		return false;
	}
	n->tx_paid = true;
	if (n->tap_fd >= 0) {
		uint64_t got = 0;
		int niov = vq_chain_iov(c, false, 0, c->out_len, n->iov, VIRTQ_MAX_SIZE, &got);
		ssize_t w = writev(n->tap_fd, n->iov, niov);
		if (w < 0 && errno == EAGAIN) {
			*wait_ns = 1000000; /* the tap's queue is full: retry in 1 ms */
			return false;
		}
		if (w < 0) {
			n->stats.tx_dropped++; /* e.g. a header the host kernel rejects */
			virtio_mmio_log(&n->t, "tap write: %s", strerror(errno));
		} else {
			n->stats.tx_frames++;
			n->stats.tx_bytes += c->out_len - NET_HDR;
		}
	} else {
		n->stats.tx_dropped++; /* empty slot: the link is down */
	}
	virtqueue_push(vq, c->head, 0);
	return true;
}

/*
 * Sends what the guest queued. On the vCPU thread that wrote QueueNotify (on_vcpu) a frame that
 * has to wait is left to the I/O thread, which owns the timer: the vCPU list of the seccomp
 * table stays without timerfd_settime, and the guest is not held up.
 */
static void net_tx(struct virtio_net *n, bool on_vcpu)
{
	struct virtqueue *vq = virtio_mmio_queue(&n->t, NET_QUEUE_TX);
	if (!vq)
		return;
	for (;;) {
		if (!n->tx_held && virtqueue_pop(vq, &n->tx_chain) != 1)
			break;
		if (!n->tx_held)
			n->tx_paid = false;
		n->tx_held = true;
		uint64_t wait_ns = 0;
		if (!tx_one(n, vq, &wait_ns)) {
			if (on_vcpu)
				net_kick(n);
			else
				arm_timer(n, wait_ns);
			break;
		}
		n->tx_held = false;
	}
	virtio_mmio_signal(&n->t, NET_QUEUE_TX);
}

/* ---- rx: tap -> guest ---- */

static bool mergeable(const struct virtio_net *n)
{
	return n->t.driver_features & VIRTIO_NET_F_MRG_RXBUF;
}

/* Reads the next frame into the bounce buffer; false when the tap has none. */
static bool rx_read(struct virtio_net *n)
{
	for (;;) {
		ssize_t r = read(n->tap_fd, n->rx_frame, NET_FRAME_MAX);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			if (errno != EAGAIN)
				virtio_mmio_log(&n->t, "tap read: %s", strerror(errno));
			return false;
		}
		if (r <= (ssize_t)NET_HDR)
			continue; /* nothing after the header: not a frame */
		n->rx_len = (uint32_t)r;
		n->rx_off = 0;
		n->rx_nbuf = 0;
		n->rx_pending = true;
		n->rx_paid = false;
		return true;
	}
}

/* Copies the rest of the frame into guest buffers; false when the guest must post more. */
static bool rx_fill(struct virtio_net *n, struct virtqueue *vq)
{
	while (n->rx_off < n->rx_len && n->rx_nbuf < vq->size) {
		struct vq_chain *c = n->rx_nbuf == 0 ? &n->rx_first : &n->rx_chain;
		if (virtqueue_pop(vq, c) != 1)
			return false;
		if (c->in_len < NET_HDR || c->in_len > UINT32_MAX) {
			n->stats
			    .bad_buffers++; /* §5.1.6.3.1: every buffer holds at least a header */
			virtqueue_push(vq, c->head, 0);
			continue;
		}
		if (!mergeable(n) && c->in_len < n->rx_len) {
			n->stats.rx_dropped++; /* the whole frame must fit one buffer */
			virtqueue_push(vq, c->head, 0);
			n->rx_pending = false;
			return true;
		}
		uint32_t chunk = n->rx_len - n->rx_off;
		if (chunk > c->in_len)
			chunk = (uint32_t)c->in_len;
		vq_chain_write(c, 0, n->rx_frame + n->rx_off, chunk);
		n->rx_used[n->rx_nbuf++] = (struct rx_used){c->head, chunk};
		n->rx_off += chunk;
	}
	/* Done (or cut short by a guest posting absurdly small buffers): hand it over. */
	uint16_t nb = htole16(n->rx_nbuf);
	memcpy(n->rx_frame + NET_HDR_NUM_BUFFERS, &nb, sizeof(nb));
	vq_chain_write(&n->rx_first, 0, n->rx_frame, NET_HDR);
	for (uint16_t i = 0; i < n->rx_nbuf; i++)
		virtqueue_push(vq, n->rx_used[i].head, n->rx_used[i].len);
	if (n->rx_pending && n->rx_nbuf) {
		n->stats.rx_frames++;
		n->stats.rx_bytes += n->rx_len - NET_HDR;
	}
	n->rx_pending = false;
	n->rx_nbuf = 0;
	return true;
}

static void net_rx(struct virtio_net *n)
{
	struct virtqueue *vq = virtio_mmio_queue(&n->t, NET_QUEUE_RX);
	if (!vq || n->tap_fd < 0) {
		/* No driver yet: stop polling the tap (level-triggered, it would spin); its first
		 * rx notify, when it posts buffers, brings us back here. */
		watch_tap(n, false);
		return;
	}
	for (;;) {
		if (!n->rx_pending && !rx_read(n)) {
			watch_tap(n, true);
			break;
		}
		uint64_t t = now_ns(), bytes = n->rx_len - NET_HDR;
		if (!n->rx_paid && !rate_limiter_consume(&n->rx_rl, bytes, t)) {
			arm_timer(n, rate_limiter_wait_ns(&n->rx_rl, bytes, t));
			watch_tap(n, false);
			break;
		}
		n->rx_paid = true;
		if (!rx_fill(n, vq)) {
			watch_tap(n, false); /* the next rx notify brings buffers */
			break;
		}
	}
	virtio_mmio_signal(&n->t, NET_QUEUE_RX);
}

/* ---- the I/O thread ---- */

static void drain(int fd)
{
	uint64_t v;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
}

static void *net_thread(void *arg)
{
	struct virtio_net *n = arg;
	struct epoll_event evs[NET_EPOLL_BATCH];
	seccomp_enter_io_thread("virtio-net"); /* microvm/seccomp.h */
	for (;;) {
		int k = epoll_wait(n->epoll_fd, evs, NET_EPOLL_BATCH, -1);
		if (k < 0 && errno != EINTR) {
			virtio_mmio_log(&n->t, "epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (int i = 0; i < k; i++)
			if (evs[i].data.u64 != EP_TAP)
				drain(evs[i].data.u64 == EP_KICK ? n->kick_fd : n->timer_fd);
		pthread_mutex_lock(&n->t.lock);
		if (n->stop) {
			pthread_mutex_unlock(&n->t.lock);
			return NULL;
		}
		if (virtio_mmio_queue(&n->t, NET_QUEUE_RX))
			net_apply_offload(n);
		net_tx(n, false);
		net_rx(n);
		pthread_mutex_unlock(&n->t.lock);
	}
}

/* ---- transport ops ---- */

static void net_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_net *n = dev;
	memcpy(data, n->config + off, len);
}

/*
 * QueueNotify, on the vCPU thread with the transport lock held. tx is served right here: a hop
 * to the I/O thread costs a wakeup on a busy host and puts the frame behind it (issue 7, the
 * ping gap to QEMU). An rx notify means new buffers; the I/O thread needs them only while a
 * frame waits for room (the tap is not watched then) or the offloads are not set yet.
 */
static void net_notify(void *dev, uint16_t q)
{
	struct virtio_net *n = dev;
	if (q == NET_QUEUE_TX)
		net_tx(n, true);
	else if (q == NET_QUEUE_RX &&
		 (!n->tap_watched || n->rx_pending || n->offload_for != n->t.driver_features))
		net_kick(n);
}

/* The driver reset the device: whatever was half delivered belongs to rings that are gone. */
static void net_reset(void *dev)
{
	struct virtio_net *n = dev;
	n->rx_pending = n->tx_held = false;
	n->rx_nbuf = 0;
	n->offload_for = ~0ull;
	net_kick(n);
}

static void net_destroy(void *dev)
{
	struct virtio_net *n = dev;
	if (n->thread_started) {
		pthread_mutex_lock(&n->t.lock);
		n->stop = true;
		pthread_mutex_unlock(&n->t.lock);
		net_kick(n);
		pthread_join(n->thread, NULL);
	}
	int fds[] = {n->tap_fd, n->epoll_fd, n->kick_fd, n->timer_fd};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(n->rx_frame);
	if (n->mmio_inited)
		virtio_mmio_fini(&n->t);
	free(n);
}

/*
 * Record: flags (EMPTY), mac. The tap itself cannot cross processes: a restore brings its own
 * (or none, and the slot is empty).
 */
static int net_save(void *dev, struct snap_w *w, struct sbx_err *err)
{
	struct virtio_net *n = dev;
	(void)err;
	/* Popped but unfinished chains go back to the driver's side: the clone pops them again. */
	n->t.vqs[NET_QUEUE_TX].last_avail -= n->tx_held ? 1 : 0;
	n->t.vqs[NET_QUEUE_RX].last_avail -= n->rx_nbuf;
	n->tx_held = false;
	n->rx_pending = false;
	n->rx_nbuf = 0;
	snap_put_u32(w, n->tap_fd < 0 ? NET_SNAP_EMPTY : 0);
	snap_put(w, n->config + NET_CFG_MAC, 6);
	return 0;
}

static void net_resume(void *dev)
{
	struct virtio_net *n = dev;
	if (n->config_pending)
		virtio_mmio_config_changed(&n->t); /* the driver re-reads the link status */
	n->config_pending = false;
	net_kick(n);
}

static const struct virtio_dev_ops net_ops = {
    .name = "net",
    .device_id = VIRTIO_ID_NET,
    .num_queues = NET_NUM_QUEUES,
    .queue_max_size = NET_QUEUE_SIZE,
    .config_size = NET_CFG_SIZE,
    .config_read = net_config_read,
    .notify = net_notify,
    .reset = net_reset,
    .destroy = net_destroy,
    .save = net_save,
    .resume = net_resume,
};

/* ---- creation ---- */

static int net_open_tap(const struct net_opts *o, struct sbx_err *err)
{
	if (o->empty)
		return -1;
	if (o->fd >= 0) {
		int r = tap_adopt(o->fd, err);
		return r < 0 ? r : o->fd;
	}
	return tap_open(o->tap, NULL, err);
}

/* Attaches the tap (fd >= 0, owned from here) and says the link is up. */
static int net_attach(struct virtio_net *n, int fd, struct sbx_err *err)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EP_TAP};
	n->tap_fd = fd;
	if (epoll_ctl(n->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return sbx_err_set(err, errno, "virtio-net: epoll_ctl tap");
	n->tap_watched = true;
	uint16_t st = htole16(VIRTIO_NET_S_LINK_UP);
	memcpy(n->config + NET_CFG_STATUS, &st, sizeof(st));
	return 0;
}

static int net_event_fds(struct virtio_net *n, struct sbx_err *err)
{
	n->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	n->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	n->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (n->epoll_fd < 0 || n->kick_fd < 0 || n->timer_fd < 0)
		return sbx_err_set(err, errno, "virtio-net: epoll/eventfd/timerfd");
	struct epoll_event k = {.events = EPOLLIN, .data.u64 = EP_KICK};
	struct epoll_event t = {.events = EPOLLIN, .data.u64 = EP_TIMER};
	if (epoll_ctl(n->epoll_fd, EPOLL_CTL_ADD, n->kick_fd, &k) < 0 ||
	    epoll_ctl(n->epoll_fd, EPOLL_CTL_ADD, n->timer_fd, &t) < 0)
		return sbx_err_set(err, errno, "virtio-net: epoll_ctl");
	return 0;
}

/* The I/O thread blocks every signal: those are for the vCPU threads and main. */
static int net_start_thread(struct virtio_net *n, struct sbx_err *err)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&n->thread, NULL, net_thread, n);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return sbx_err_set(err, r, "virtio-net: start I/O thread");
	n->thread_started = true;
	return 0;
}

/* Everything but the MMIO registration and the thread; on failure the caller destroys n. */
static int net_init(struct virtio_net *n, struct vm *vm, uint64_t base, uint32_t irq,
		    const struct net_opts *o, struct sbx_err *err)
{
	n->tap_fd = n->epoll_fd = n->kick_fd = n->timer_fd = -1;
	n->offload_for = ~0ull;
	n->opts = *o;
	memcpy(n->config + NET_CFG_MAC, o->mac, 6);
	uint64_t t = now_ns();
	rate_limiter_init(&n->rx_rl, o->rx_bps, o->rx_pps, t);
	rate_limiter_init(&n->tx_rl, o->tx_bps, o->tx_pps, t);
	n->rx_frame = malloc(NET_FRAME_MAX);
	if (!n->rx_frame)
		return sbx_err_set(err, ENOMEM, "virtio-net: allocate");
	int r = virtio_mmio_init(&n->t, vm, base, irq, &net_ops, n, NET_FEATURES, err);
	if (r < 0)
		return r;
	n->mmio_inited = true;
	if ((r = net_event_fds(n, err)) < 0)
		return r;
	int fd = net_open_tap(o, err);
	if (fd < -1)
		return fd;
	return fd >= 0 ? net_attach(n, fd, err) : 0;
}

static int net_create(struct vm *vm, uint64_t base, uint32_t irq, const struct net_opts *o,
		      struct virtio_net **out, struct sbx_err *err)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	if (!n)
		return sbx_err_set(err, ENOMEM, "virtio-net: allocate");
	int r = net_init(n, vm, base, irq, o, err);
	if (r >= 0)
		r = net_start_thread(n, err);
	if (r >= 0)
		r = virtio_mmio_register(&n->t, err);
	if (r < 0) {
		net_destroy(n);
		return r;
	}
	*out = n;
	return 0;
}

int virtio_net_create(struct vm *vm, uint64_t base, uint32_t irq, const struct net_opts *o,
		      void **out, struct sbx_err *err)
{
	return net_create(vm, base, irq, o, (struct virtio_net **)out, err);
}

int virtio_net_restore(struct vm *vm, uint64_t base, uint32_t irq, struct snap_rd *sec,
		       const struct net_opts *fill, void **out, struct sbx_err *err)
{
	uint32_t flags = 0;
	struct net_opts o = {.enabled = true, .empty = true, .fd = -1};
	int r = snap_get_u32(sec, &flags, err);
	if (r >= 0)
		r = snap_get(sec, o.mac, 6, err);
	if (r >= 0 && (flags & ~NET_SNAP_EMPTY))
		r = sbx_err_setx(err, EINVAL, "snapshot state is corrupt (virtio-net record)");
	if (r < 0)
		return r;
	if (fill && fill->enabled) {
		uint8_t mac[6];
		memcpy(mac, o.mac, 6); /* the guest read this one at boot; the agent sets its own */
		o = *fill;
		memcpy(o.mac, mac, 6);
	}
	struct virtio_net *n = NULL;
	if ((r = net_create(vm, base, irq, &o, &n, err)) < 0)
		return r;
	pthread_mutex_lock(&n->t.lock); /* the I/O thread already runs */
	r = virtio_mmio_restore_transport(&n->t, sec, err);
	n->config_pending = n->tap_fd >= 0;
	pthread_mutex_unlock(&n->t.lock);
	if (r >= 0)
		r = snap_end(sec, err);
	if (r < 0) {
		net_destroy(n);
		return r;
	}
	*out = n;
	return 0;
}

void virtio_net_get_stats(void *dev, struct virtio_net_stats *out)
{
	struct virtio_net *n = dev;
	pthread_mutex_lock(&n->t.lock);
	*out = n->stats;
	pthread_mutex_unlock(&n->t.lock);
}

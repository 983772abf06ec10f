/*
 * virtio socket device (virtio 1.2 §5.10), stream sockets only, with Firecracker's host scheme
 * (docs/virtio.md): guest connections to CID 2 port P become connections to the unix socket
 * "<uds_path>_P"; host clients connect to uds_path and write "CONNECT <port>\n".
 *
 * One I/O thread per device waits in epoll on the listener, every host socket, and an eventfd
 * that QueueNotify kicks; it does all queue work under the transport lock. epoll events name a
 * connection by slot and generation, never by pointer, so a connection freed by a device reset
 * (on a vCPU thread) while the I/O thread holds a batch of events is simply not found.
 */
#include <endian.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "seccomp.h"
#include "virtio_devices.h"
#include "virtio_mmio.h"
#include "vsock_conn.h"

/* Queues, §5.10.2. */
#define VSOCK_QUEUE_RX 0u
#define VSOCK_QUEUE_TX 1u
#define VSOCK_QUEUE_EVENT 2u /* only for transport resets: used after a restore */
#define VSOCK_NUM_QUEUES 3u
#define VSOCK_QUEUE_SIZE 256u
#define VSOCK_CFG_SIZE 8u	       /* le64 guest_cid, §5.10.4 */
#define VSOCK_EVENT_TRANSPORT_RESET 0u /* §5.10.6.7 */

#define VSOCK_MAX_CONNS 128u
#define VSOCK_EPOLL_BATCH 32
#define VSOCK_LISTEN_BACKLOG 16
/* Host-initiated connections take local ports from here up (Linux's ephemeral range start). */
#define VSOCK_FIRST_LOCAL_PORT (1u << 30)
/* "_" + a decimal u32 appended to uds_path for guest-initiated connections. */
#define VSOCK_PORT_SUFFIX_MAX 11u
/* epoll tags: the two fixed fds, then connections as (generation << 32) | (slot + EP_CONN0). */
#define EP_KICK 0u
#define EP_LISTEN 1u
#define EP_CONN0 2u

struct vsock_stats {
	uint64_t bad_packets;	    /* malformed header, wrong CIDs, unknown op */
	uint64_t credit_violations; /* the guest sent more than we advertised */
	uint64_t conn_limit;	    /* dropped for lack of a connection slot */
	uint64_t connect_failures;  /* "<uds_path>_P" refused */
	uint64_t bad_rx_buffers;    /* rx chains too small for a header */
};

struct virtio_vsock {
	struct virtio_mmio t; /* first: the opaque handle is a struct virtio_mmio too */
	uint64_t guest_cid;
	uint8_t config[VSOCK_CFG_SIZE];
	char uds_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd, epoll_fd, kick_fd;
	pthread_t thread;
	bool thread_started;
	bool stop; /* under t.lock */
	struct vsock_conn *conns[VSOCK_MAX_CONNS];
	uint32_t conn_gen[VSOCK_MAX_CONNS]; /* bumped whenever a slot is filled */
	uint32_t next_local_port;
	struct vq_chain rx_chain, tx_chain;
	bool rx_held;	    /* rx_chain popped but not yet used (nothing to send after all) */
	bool reset_pending; /* restored: send TRANSPORT_RESET on resume (§5.10.6.7) */
	struct vsock_stats stats;
};

static void vsock_kick(struct virtio_vsock *vs)
{
	uint64_t one = 1;
	/* Only fails when the counter would overflow, and then a wake-up is pending anyway. */
	if (write(vs->kick_fd, &one, sizeof(one)) < 0)
		return;
}

static int conn_insert(struct virtio_vsock *vs, struct vsock_conn *c)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		if (vs->conns[i])
			continue;
		uint32_t gen = ++vs->conn_gen[i];
		if (c->fd >= 0) {
			struct epoll_event ev = {
			    .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
			    .data.u64 = ((uint64_t)gen << 32) | (i + EP_CONN0),
			};
			if (epoll_ctl(vs->epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
				return -errno;
		}
		c->host_readable = c->fd >= 0; /* bytes may predate the epoll registration */
		vs->conns[i] = c;
		return 0;
	}
	vs->stats.conn_limit++;
	return -ENOSPC;
}

/* Takes ownership of c: on failure it is freed. */
static struct vsock_conn *conn_add(struct virtio_vsock *vs, struct vsock_conn *c)
{
	if (c && conn_insert(vs, c) == 0)
		return c;
	vsock_conn_free(c);
	return NULL;
}

static struct vsock_conn *conn_find(struct virtio_vsock *vs, uint32_t local, uint32_t peer)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = vs->conns[i];
		if (c && c->local_port == local && c->peer_port == peer &&
		    (c->state == VSOCK_CONNECTING || c->state == VSOCK_ESTABLISHED ||
		     c->state == VSOCK_CLOSING))
			return c;
	}
	return NULL;
}

/* Answers a packet that has no connection with RST (§5.10.6.4), via a connection stub. */
static void reply_rst(struct virtio_vsock *vs, const struct vsock_hdr *h)
{
	if (h->op == VSOCK_OP_RST)
		return; /* never answer a reset */
	struct vsock_conn *c = vsock_conn_new(-1, VSOCK_CLOSING, h->dst_port, h->src_port);
	if (c) {
		c->guest_knows = true;
		c->need_rst = true;
	}
	conn_add(vs, c);
}

/* Guest REQUEST to host port P: connect to "<uds_path>_P" now (unix connects do not block). */
static void guest_connect(struct virtio_vsock *vs, const struct vsock_hdr *h)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	/* Fits: vsock_check_args() left room for the suffix. */
	int len = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", vs->uds_path, h->dst_port);
	int fd = len > 0 && (size_t)len < sizeof(sa.sun_path)
		     ? socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
		     : -1;
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		struct vsock_conn *c =
		    conn_add(vs, vsock_conn_new(fd, VSOCK_ESTABLISHED, h->dst_port, h->src_port));
		if (c) {
			c->guest_knows = true;
			c->need_response = true;
			vsock_conn_peer_credit(c, h);
			return;
		}
	} else {
		vs->stats.connect_failures++;
		if (fd >= 0)
			close(fd);
	}
	reply_rst(vs, h);
}

static void rx_data(struct virtio_vsock *vs, struct vsock_conn *c, const struct vq_chain *chain,
		    const struct vsock_hdr *h)
{
	if (c->state != VSOCK_ESTABLISHED || c->peer_shut_send) {
		vs->stats.bad_packets++;
		vsock_conn_abort(c);
		return;
	}
	int r = vsock_conn_deliver(c, chain, h->len);
	if (r == -ENOBUFS)
		vs->stats.credit_violations++;
	if (r < 0)
		vsock_conn_abort(c);
}

/* A packet from the guest for an existing connection. */
static void conn_packet(struct virtio_vsock *vs, struct vsock_conn *c, const struct vq_chain *chain,
			const struct vsock_hdr *h)
{
	if (c->state == VSOCK_CLOSING)
		return; /* our RST or final SHUTDOWN is on its way */
	vsock_conn_peer_credit(c, h);
	switch (h->op) {
	case VSOCK_OP_RESPONSE:
		if (c->state == VSOCK_CONNECTING && !c->need_request && vsock_conn_host_ok(c) == 0)
			c->state = VSOCK_ESTABLISHED;
		else
			vsock_conn_abort(c);
		return;
	case VSOCK_OP_RST:
		c->guest_knows = false; /* it is gone on the guest side: nothing to answer */
		vsock_conn_abort(c);
		return;
	case VSOCK_OP_SHUTDOWN:
		vsock_conn_guest_shutdown(c, h->flags);
		return;
	case VSOCK_OP_RW:
		rx_data(vs, c, chain, h);
		return;
	case VSOCK_OP_CREDIT_UPDATE:
		return; /* the credit fields were taken above */
	case VSOCK_OP_CREDIT_REQUEST:
		c->need_credit_update = true;
		return;
	}
	vs->stats.bad_packets++;
	vsock_conn_abort(c);
}

/* One tx chain: a header and h.len payload bytes (§5.10.6). */
static void tx_packet(struct virtio_vsock *vs, const struct vq_chain *chain)
{
	uint8_t raw[VSOCK_HDR_SIZE];
	struct vsock_hdr h;
	if (vq_chain_read(chain, 0, raw, sizeof(raw)) != sizeof(raw)) {
		vs->stats.bad_packets++;
		return;
	}
	vsock_hdr_decode(&h, raw);
	if (h.src_cid != vs->guest_cid || h.dst_cid != VSOCK_HOST_CID) {
		vs->stats.bad_packets++; /* not a conversation with us: drop (§5.10.6.1) */
		return;
	}
	if (h.type != VSOCK_TYPE_STREAM || h.len > VSOCK_MAX_PAYLOAD ||
	    h.len > chain->out_len - VSOCK_HDR_SIZE) {
		vs->stats.bad_packets++;
		reply_rst(vs, &h);
		return;
	}
	struct vsock_conn *c = conn_find(vs, h.dst_port, h.src_port);
	if (h.op == VSOCK_OP_REQUEST) {
		if (c)
			vs->stats.bad_packets++; /* duplicate: keep the existing connection */
		else
			guest_connect(vs, &h);
		return;
	}
	if (!c) {
		reply_rst(vs, &h);
		return;
	}
	conn_packet(vs, c, chain, &h);
	vsock_conn_check_done(c);
}

static void process_tx(struct virtio_vsock *vs)
{
	struct virtqueue *vq = virtio_mmio_queue(&vs->t, VSOCK_QUEUE_TX);
	if (!vq)
		return;
	while (virtqueue_pop(vq, &vs->tx_chain) == 1) {
		tx_packet(vs, &vs->tx_chain);
		virtqueue_push(vq, vs->tx_chain.head, 0);
	}
	virtio_mmio_signal(&vs->t, VSOCK_QUEUE_TX);
}

/* Gets an rx chain with room for a header; false when the guest has none to give. */
static bool rx_buffer(struct virtio_vsock *vs, struct virtqueue *vq)
{
	while (!vs->rx_held) {
		if (virtqueue_pop(vq, &vs->rx_chain) != 1)
			return false;
		if (vs->rx_chain.in_len >= VSOCK_HDR_SIZE && vs->rx_chain.in_len <= UINT32_MAX) {
			vs->rx_held = true;
			break;
		}
		vs->stats.bad_rx_buffers++;
		virtqueue_push(vq, vs->rx_chain.head, 0);
	}
	return true;
}

/* Round-robin: each connection sends at most one packet per pass, while rx buffers last. */
static void rx_pump(struct virtio_vsock *vs)
{
	struct virtqueue *vq = virtio_mmio_queue(&vs->t, VSOCK_QUEUE_RX);
	if (!vq)
		return;
	for (bool progress = true; progress;) {
		progress = false;
		for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
			struct vsock_conn *c = vs->conns[i];
			if (!c || !vsock_conn_wants_rx(c))
				continue;
			if (!rx_buffer(vs, vq))
				goto out;
			uint32_t n = vsock_conn_fill_rx(c, &vs->rx_chain, vs->guest_cid);
			if (n) {
				virtqueue_push(vq, vs->rx_chain.head, n);
				vs->rx_held = false;
				progress = true;
			}
		}
	}
out:
	virtio_mmio_signal(&vs->t, VSOCK_QUEUE_RX);
}

static uint32_t alloc_local_port(struct virtio_vsock *vs)
{
	for (;;) {
		uint32_t p = vs->next_local_port++;
		if (vs->next_local_port < VSOCK_FIRST_LOCAL_PORT)
			vs->next_local_port = VSOCK_FIRST_LOCAL_PORT;
		bool used = false;
		for (unsigned i = 0; i < VSOCK_MAX_CONNS && !used; i++)
			used = vs->conns[i] && vs->conns[i]->local_port == p;
		if (!used)
			return p;
	}
}

/* Host-side progress of one connection: handshake line, buffered writes, closing. */
static void host_step(struct virtio_vsock *vs, struct vsock_conn *c)
{
	if (c->state == VSOCK_HANDSHAKE && c->host_readable) {
		uint32_t port;
		int r = vsock_conn_handshake(c, &port);
		if (r < 0) {
			vsock_conn_abort(c); /* the guest never heard of it: just closes */
		} else if (r == 1) {
			c->state = VSOCK_CONNECTING;
			c->local_port = alloc_local_port(vs);
			c->peer_port = port;
			c->need_request = true;
		}
	}
	if (c->state == VSOCK_ESTABLISHED && c->ring_len && vsock_conn_flush(c) < 0)
		vsock_conn_abort(c);
	vsock_conn_check_done(c);
}

static void drop_all(struct virtio_vsock *vs)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		vsock_conn_free(vs->conns[i]);
		vs->conns[i] = NULL;
	}
	vs->rx_held = false;
}

/* One round of the I/O thread, under the lock. */
static void vsock_round(struct virtio_vsock *vs)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (vs->conns[i])
			host_step(vs, vs->conns[i]);
	process_tx(vs);
	rx_pump(vs);
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		if (vs->conns[i] && vs->conns[i]->state == VSOCK_DEAD) {
			vsock_conn_free(vs->conns[i]);
			vs->conns[i] = NULL;
		}
	}
}

static void accept_all(struct virtio_vsock *vs)
{
	for (;;) {
		int fd = accept4(vs->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				virtio_mmio_log(&vs->t, "accept on '%s': %s", vs->uds_path,
						strerror(errno));
			return;
		}
		conn_add(vs, vsock_conn_new(fd, VSOCK_HANDSHAKE, 0, 0));
	}
}

static void handle_event(struct virtio_vsock *vs, const struct epoll_event *ev)
{
	uint32_t tag = (uint32_t)ev->data.u64, gen = (uint32_t)(ev->data.u64 >> 32);
	if (tag == EP_KICK) {
		uint64_t v;
		if (read(vs->kick_fd, &v, sizeof(v)) < 0)
			return; /* EAGAIN: already drained */
	} else if (tag == EP_LISTEN) {
		accept_all(vs);
	} else if (tag - EP_CONN0 < VSOCK_MAX_CONNS) {
		struct vsock_conn *c = vs->conns[tag - EP_CONN0];
		if (!c || vs->conn_gen[tag - EP_CONN0] != gen)
			return; /* freed since epoll_wait returned */
		if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			c->host_readable = c->fd >= 0;
		if (ev->events & EPOLLHUP)
			c->host_hup = true;
	}
}

static void *vsock_thread(void *arg)
{
	struct virtio_vsock *vs = arg;
	struct epoll_event evs[VSOCK_EPOLL_BATCH];
	seccomp_enter_io_thread("virtio-vsock"); /* microvm/seccomp.h */
	for (;;) {
		int n = epoll_wait(vs->epoll_fd, evs, VSOCK_EPOLL_BATCH, -1);
		if (n < 0 && errno != EINTR) {
			virtio_mmio_log(&vs->t, "epoll_wait: %s", strerror(errno));
			return NULL;
		}
		pthread_mutex_lock(&vs->t.lock);
		if (vs->stop) {
			pthread_mutex_unlock(&vs->t.lock);
			return NULL;
		}
		for (int i = 0; i < n; i++)
			handle_event(vs, &evs[i]);
		vsock_round(vs);
		pthread_mutex_unlock(&vs->t.lock);
	}
}

static void vsock_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_vsock *vs = dev;
	memcpy(data, vs->config + off, len);
}

static void vsock_notify(void *dev, uint16_t q)
{
	if (q == VSOCK_QUEUE_RX || q == VSOCK_QUEUE_TX)
		vsock_kick(dev); /* the I/O thread does the work: vCPUs never touch sockets */
}

/* The driver reset the device: its connections and buffers are gone (§5.10.6.6). */
static void vsock_reset(void *dev)
{
	drop_all(dev);
}

static void vsock_destroy(void *dev)
{
	struct virtio_vsock *vs = dev;
	if (vs->thread_started) {
		pthread_mutex_lock(&vs->t.lock);
		/* What the guest queued right before it reset reaches the host: the I/O thread may
		 * not have run since the last kick. */
		vsock_round(vs);
		vs->stop = true;
		pthread_mutex_unlock(&vs->t.lock);
		vsock_kick(vs);
		pthread_join(vs->thread, NULL);
	}
	drop_all(vs);
	if (vs->listen_fd >= 0) {
		close(vs->listen_fd);
		unlink(vs->uds_path); /* we created it in vsock_listen() */
	}
	if (vs->epoll_fd >= 0)
		close(vs->epoll_fd);
	if (vs->kick_fd >= 0)
		close(vs->kick_fd);
	virtio_mmio_fini(&vs->t);
	free(vs);
}

static int vsock_save(void *dev, struct snap_w *w, struct sbx_err *err)
{
	struct virtio_vsock *vs = dev;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (vs->conns[i]) /* their host sockets cannot be carried into another process */
			return sbx_err_setx(err, EBUSY,
					    "virtio-vsock: snapshot with open connections");
	if (vs->rx_held) { /* hand the popped rx buffer back: the restored VM pops it again */
		vs->t.vqs[VSOCK_QUEUE_RX].last_avail--;
		vs->rx_held = false;
	}
	snap_put_u64(w, vs->guest_cid);
	snap_put_u32(w, 0); /* open connections: none (the format's statement of that) */
	return 0;
}

/* Event queue: one virtio_vsock_event {le32 id} = TRANSPORT_RESET, so the driver drops its
 * connections and re-reads guest_cid (virtio 1.2 §5.10.6.7). */
static void vsock_resume(void *dev)
{
	struct virtio_vsock *vs = dev;
	struct virtqueue *vq = virtio_mmio_queue(&vs->t, VSOCK_QUEUE_EVENT);
	if (!vs->reset_pending || !vq)
		return;
	vs->reset_pending = false;
	uint32_t ev = htole32(VSOCK_EVENT_TRANSPORT_RESET);
	if (virtqueue_pop(vq, &vs->rx_chain) != 1) {
		virtio_mmio_log(&vs->t, "no event buffer for the transport reset");
		return;
	}
	size_t n = vq_chain_write(&vs->rx_chain, 0, &ev, sizeof(ev));
	virtqueue_push(vq, vs->rx_chain.head, (uint32_t)n);
	virtio_mmio_signal(&vs->t, VSOCK_QUEUE_EVENT);
}

static const struct virtio_dev_ops vsock_ops = {
    .name = "vsock",
    .device_id = VIRTIO_ID_VSOCK,
    .num_queues = VSOCK_NUM_QUEUES,
    .queue_max_size = VSOCK_QUEUE_SIZE,
    .config_size = VSOCK_CFG_SIZE,
    .config_read = vsock_config_read,
    .notify = vsock_notify,
    .reset = vsock_reset,
    .destroy = vsock_destroy,
    .save = vsock_save,
    .resume = vsock_resume,
};

static int epoll_watch(struct virtio_vsock *vs, int fd, uint32_t tag, struct sbx_err *err)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
	if (epoll_ctl(vs->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return sbx_err_set(err, errno, "virtio-vsock: epoll_ctl");
	return 0;
}

static int vsock_listen(struct virtio_vsock *vs, struct sbx_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, vs->uds_path, sizeof(sa.sun_path));
	vs->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (vs->listen_fd < 0)
		return sbx_err_set(err, errno, "virtio-vsock: socket");
	if (bind(vs->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(vs->listen_fd);
		vs->listen_fd = -1; /* not ours to unlink */
		return sbx_err_set(err, e, "virtio-vsock: bind '%s'", vs->uds_path);
	}
	if (listen(vs->listen_fd, VSOCK_LISTEN_BACKLOG) < 0)
		return sbx_err_set(err, errno, "virtio-vsock: listen '%s'", vs->uds_path);
	vs->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	vs->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vs->epoll_fd < 0 || vs->kick_fd < 0)
		return sbx_err_set(err, errno, "virtio-vsock: epoll/eventfd");
	int r = epoll_watch(vs, vs->listen_fd, EP_LISTEN, err);
	return r < 0 ? r : epoll_watch(vs, vs->kick_fd, EP_KICK, err);
}

/* The I/O thread blocks every signal: those are for the vCPU threads and main. */
static int vsock_start_thread(struct virtio_vsock *vs, struct sbx_err *err)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&vs->thread, NULL, vsock_thread, vs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return sbx_err_set(err, r, "virtio-vsock: start I/O thread");
	vs->thread_started = true;
	return 0;
}

static int vsock_check_args(uint64_t guest_cid, const char *uds_path, struct sbx_err *err)
{
	/* §5.10.4: CIDs 0-2 are reserved and the top 32 bits are unused; ~0u is VMADDR_CID_ANY. */
	if (guest_cid <= VSOCK_HOST_CID || guest_cid >= UINT32_MAX)
		return sbx_err_setx(err, EINVAL, "virtio-vsock: invalid guest CID %llu",
				    (unsigned long long)guest_cid);
	if (!uds_path ||
	    strlen(uds_path) + VSOCK_PORT_SUFFIX_MAX >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return sbx_err_setx(err, ENAMETOOLONG, "virtio-vsock: socket path '%s' too long",
				    uds_path ? uds_path : "(null)");
	return 0;
}

int virtio_vsock_create(struct vm *vm, uint64_t base, uint32_t irq, uint64_t guest_cid,
			const char *uds_path, void **out, struct sbx_err *err)
{
	int r = vsock_check_args(guest_cid, uds_path, err);
	if (r < 0)
		return r;
	struct virtio_vsock *vs = calloc(1, sizeof(*vs));
	if (!vs)
		return sbx_err_set(err, ENOMEM, "virtio-vsock: allocate");
	vs->listen_fd = vs->epoll_fd = vs->kick_fd = -1;
	vs->guest_cid = guest_cid;
	vs->next_local_port = VSOCK_FIRST_LOCAL_PORT;
	snprintf(vs->uds_path, sizeof(vs->uds_path), "%s", uds_path);
	uint64_t cid_le = htole64(guest_cid);
	memcpy(vs->config, &cid_le, sizeof(cid_le));
	r = virtio_mmio_init(&vs->t, vm, base, irq, &vsock_ops, vs, 0, err);
	if (r < 0) {
		free(vs);
		return r;
	}
	r = vsock_listen(vs, err);
	if (r == 0)
		r = vsock_start_thread(vs, err);
	if (r == 0)
		r = virtio_mmio_register(&vs->t, err);
	if (r < 0) {
		vsock_destroy(vs);
		return r;
	}
	*out = vs;
	return 0;
}

int virtio_vsock_restore(struct vm *vm, uint64_t base, uint32_t irq, struct snap_rd *sec,
			 uint64_t guest_cid, const char *uds_path, void **out, struct sbx_err *err)
{
	uint64_t old_cid = 0;
	uint32_t nconns = 1;
	struct virtio_vsock *vs = NULL;
	int r = snap_get_u64(sec, &old_cid, err);
	if (r >= 0 && (r = snap_get_u32(sec, &nconns, err)) >= 0 && nconns != 0)
		r = sbx_err_setx(err, EINVAL, "snapshot state is corrupt (vsock connections)");
	if (r >= 0)
		r = virtio_vsock_create(vm, base, irq, guest_cid ? guest_cid : old_cid, uds_path,
					(void **)&vs, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vs->t.lock); /* the I/O thread already runs */
	r = virtio_mmio_restore_transport(&vs->t, sec, err);
	vs->reset_pending = true;
	pthread_mutex_unlock(&vs->t.lock);
	if (r >= 0)
		r = snap_end(sec, err);
	if (r < 0) {
		vsock_destroy(vs);
		return r;
	}
	*out = vs;
	return 0;
}

/*
 * virtio-vsock stream connection state, host socket I/O and credit accounting (see
 * vsock_conn.h). Host sockets are non-blocking; nothing here blocks the I/O thread.
 */
#include "vsock_conn.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Field offsets inside the 44-byte header, §5.10.6 (struct virtio_vsock_hdr, packed). */
#define H_SRC_CID 0
#define H_DST_CID 8
#define H_SRC_PORT 16
#define H_DST_PORT 20
#define H_LEN 24
#define H_TYPE 28
#define H_OP 30
#define H_FLAGS 32
#define H_BUF_ALLOC 36
#define H_FWD_CNT 40

/* Announce freed buffer space once this much is unannounced (see vsock_conn_note_fwd). */
#define VSOCK_CREDIT_UPDATE_THRESHOLD (VSOCK_BUF_ALLOC / 4)
#define VSOCK_IOV_MAX 64

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return le16toh(v);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

void vsock_hdr_decode(struct vsock_hdr *h, const uint8_t raw[VSOCK_HDR_SIZE])
{
	h->src_cid = get64(raw + H_SRC_CID);
	h->dst_cid = get64(raw + H_DST_CID);
	h->src_port = get32(raw + H_SRC_PORT);
	h->dst_port = get32(raw + H_DST_PORT);
	h->len = get32(raw + H_LEN);
	h->type = get16(raw + H_TYPE);
	h->op = get16(raw + H_OP);
	h->flags = get32(raw + H_FLAGS);
	h->buf_alloc = get32(raw + H_BUF_ALLOC);
	h->fwd_cnt = get32(raw + H_FWD_CNT);
}

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t raw[VSOCK_HDR_SIZE])
{
	put64(raw + H_SRC_CID, h->src_cid);
	put64(raw + H_DST_CID, h->dst_cid);
	put32(raw + H_SRC_PORT, h->src_port);
	put32(raw + H_DST_PORT, h->dst_port);
	put32(raw + H_LEN, h->len);
	put16(raw + H_TYPE, h->type);
	put16(raw + H_OP, h->op);
	put32(raw + H_FLAGS, h->flags);
	put32(raw + H_BUF_ALLOC, h->buf_alloc);
	put32(raw + H_FWD_CNT, h->fwd_cnt);
}

struct vsock_conn *vsock_conn_new(int fd, enum vsock_conn_state state, uint32_t local_port,
				  uint32_t peer_port)
{
	struct vsock_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	c->state = state;
	c->local_port = local_port;
	c->peer_port = peer_port;
	return c;
}

static void close_host(struct vsock_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->host_readable = false;
}

void vsock_conn_free(struct vsock_conn *c)
{
	if (!c)
		return;
	close_host(c);
	free(c->ring);
	free(c);
}

void vsock_conn_peer_credit(struct vsock_conn *c, const struct vsock_hdr *h)
{
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
}

void vsock_conn_abort(struct vsock_conn *c)
{
	close_host(c);
	c->need_request = c->need_response = c->need_shutdown = c->need_credit_update = false;
	c->need_rst = c->guest_knows;
	c->state = c->guest_knows ? VSOCK_CLOSING : VSOCK_DEAD;
}

/* Bytes left in the host's socket reached the host: count them, maybe announce the space. */
static void note_fwd(struct vsock_conn *c, uint32_t n)
{
	c->fwd_cnt += n;
	if (c->fwd_cnt - c->fwd_cnt_sent >= VSOCK_CREDIT_UPDATE_THRESHOLD)
		c->need_credit_update = true;
}

/* Copies [off, off+len) of the chain's readable bytes to the ring tail (caller checked room). */
static int ring_put(struct vsock_conn *c, const struct vq_chain *chain, uint64_t off, uint32_t len)
{
	if (!c->ring && !(c->ring = malloc(VSOCK_BUF_ALLOC)))
		return -ENOMEM;
	uint32_t tail = (c->ring_head + c->ring_len) % VSOCK_BUF_ALLOC;
	uint32_t first = VSOCK_BUF_ALLOC - tail < len ? VSOCK_BUF_ALLOC - tail : len;
	vq_chain_read(chain, off, c->ring + tail, first);
	vq_chain_read(chain, off + first, c->ring, len - first);
	c->ring_len += len;
	return 0;
}

static ssize_t send_iov(int fd, struct iovec *iov, int n)
{
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
	ssize_t r;
	do
		r = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return r < 0 ? -errno : r;
}

int vsock_conn_deliver(struct vsock_conn *c, const struct vq_chain *chain, uint32_t len)
{
	if (len > VSOCK_BUF_ALLOC - c->ring_len)
		return -ENOBUFS; /* the guest ignored our credit */
	uint32_t sent = 0;
	if (c->ring_len == 0) {
		/* Fast path: straight from guest memory to the host socket. */
		struct iovec iov[VSOCK_IOV_MAX];
		uint64_t got;
		int n = vq_chain_iov(chain, false, VSOCK_HDR_SIZE, len, iov, VSOCK_IOV_MAX, &got);
		ssize_t r = send_iov(c->fd, iov, n);
		if (r < 0)
			return (int)r;
		sent = (uint32_t)r;
		note_fwd(c, sent);
	}
	if (sent < len)
		return ring_put(c, chain, VSOCK_HDR_SIZE + (uint64_t)sent, len - sent);
	return 0;
}

int vsock_conn_flush(struct vsock_conn *c)
{
	while (c->ring_len > 0 && c->fd >= 0) {
		struct iovec iov[2];
		uint32_t first = VSOCK_BUF_ALLOC - c->ring_head;
		if (first > c->ring_len)
			first = c->ring_len;
		iov[0] = (struct iovec){c->ring + c->ring_head, first};
		iov[1] = (struct iovec){c->ring, c->ring_len - first};
		ssize_t r = send_iov(c->fd, iov, iov[1].iov_len ? 2 : 1);
		if (r < 0)
			return (int)r;
		if (r == 0)
			return 0; /* EAGAIN: EPOLLOUT will bring us back */
		c->ring_head = (c->ring_head + (uint32_t)r) % VSOCK_BUF_ALLOC;
		c->ring_len -= (uint32_t)r;
		note_fwd(c, (uint32_t)r);
	}
	return 0;
}

void vsock_conn_guest_shutdown(struct vsock_conn *c, uint32_t flags)
{
	if (flags & VSOCK_SHUTDOWN_SEND)
		c->peer_shut_send = true;
	if (flags & VSOCK_SHUTDOWN_RCV)
		c->peer_shut_rcv = true;
}

void vsock_conn_check_done(struct vsock_conn *c)
{
	if (c->state != VSOCK_ESTABLISHED)
		return;
	bool flushed = c->ring_len == 0;
	if (c->peer_shut_send && flushed && !c->shut_wr_done && c->fd >= 0) {
		shutdown(c->fd, SHUT_WR); /* the host reader sees EOF: half-close */
		c->shut_wr_done = true;
	}
	/* The guest will send no more and nothing can flow toward it: finish with RST (§5.10.6.5).
	 */
	if (c->peer_shut_send && flushed && (c->peer_shut_rcv || c->host_eof)) {
		vsock_conn_abort(c);
		return;
	}
	uint32_t want = 0;
	if (c->host_eof)
		want |= VSOCK_SHUTDOWN_SEND;
	if (c->host_eof && c->host_hup)
		want |= VSOCK_SHUTDOWN_RCV; /* the host closed, not just half-closed */
	if (want & ~c->shutdown_flags) {
		c->shutdown_flags |= want;
		c->need_shutdown = true;
	}
	if (want == VSOCK_SHUTDOWN_BOTH) {
		close_host(c); /* undelivered guest bytes have nobody left to read them */
		c->state = VSOCK_CLOSING;
	}
}

int vsock_conn_handshake(struct vsock_conn *c, uint32_t *port)
{
	/* One byte at a time so that no stream byte after the '\n' is consumed here. */
	for (;;) {
		char ch;
		ssize_t r = recv(c->fd, &ch, 1, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->host_readable = false;
			return 0;
		}
		if (r <= 0)
			return -ECONNRESET;
		if (ch != '\n') {
			if (c->line_len + 1 >= sizeof(c->line))
				return -EINVAL;
			c->line[c->line_len++] = ch;
			continue;
		}
		c->line[c->line_len] = '\0';
		char *end;
		if (strncmp(c->line, "CONNECT ", 8) || c->line[8] < '0' || c->line[8] > '9')
			return -EINVAL;
		errno = 0;
		unsigned long p = strtoul(c->line + 8, &end, 10);
		if (errno || *end || p > UINT32_MAX)
			return -EINVAL;
		*port = (uint32_t)p;
		return 1;
	}
}

int vsock_conn_host_ok(struct vsock_conn *c)
{
	char msg[32];
	int n = snprintf(msg, sizeof(msg), "OK %u\n", c->local_port);
	/* A fresh socket's buffer always has room for these few bytes; short means broken. */
	ssize_t r = send(c->fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	return r == n ? 0 : -EIO;
}

static uint32_t peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static bool can_send_data(const struct vsock_conn *c)
{
	return c->state == VSOCK_ESTABLISHED && c->host_readable && !c->host_eof &&
	       !c->peer_shut_rcv && peer_credit(c) > 0;
}

bool vsock_conn_wants_rx(const struct vsock_conn *c)
{
	if (c->state == VSOCK_HANDSHAKE || c->state == VSOCK_DEAD)
		return false;
	return c->need_rst || c->need_request || c->need_response || c->need_shutdown ||
	       c->need_credit_update || can_send_data(c);
}

/* Reads host bytes straight into the chain after the header; returns bytes read (0: none). */
static uint32_t read_host(struct vsock_conn *c, const struct vq_chain *chain)
{
	uint64_t room = chain->in_len - VSOCK_HDR_SIZE, got;
	uint32_t max = peer_credit(c);
	if (max > VSOCK_MAX_PAYLOAD)
		max = VSOCK_MAX_PAYLOAD;
	if (room < max)
		max = (uint32_t)room;
	if (max == 0)
		return 0;
	struct iovec iov[VSOCK_IOV_MAX];
	int n = vq_chain_iov(chain, true, VSOCK_HDR_SIZE, max, iov, VSOCK_IOV_MAX, &got);
	ssize_t r;
	do
		r = readv(c->fd, iov, n);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		return (uint32_t)r;
	if (r == 0) {
		c->host_eof = true;
		vsock_conn_check_done(c);
	} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
		c->host_readable = false;
	} else {
		vsock_conn_abort(c);
	}
	return 0;
}

/* Picks the next packet in protocol order; returns false when there is none. */
static bool next_packet(struct vsock_conn *c, const struct vq_chain *chain, struct vsock_hdr *h)
{
	if (c->need_rst) {
		h->op = VSOCK_OP_RST;
		c->need_rst = false;
		c->state = VSOCK_DEAD;
		return true;
	}
	if (c->need_request || c->need_response) {
		h->op = c->need_request ? VSOCK_OP_REQUEST : VSOCK_OP_RESPONSE;
		c->need_request = c->need_response = false;
		c->guest_knows = true;
		return true;
	}
	if (can_send_data(c) && (h->len = read_host(c, chain)) > 0) {
		h->op = VSOCK_OP_RW;
		c->tx_cnt += h->len;
		return true;
	}
	if (c->need_rst)
		return next_packet(c, chain, h); /* read_host aborted the connection */
	if (c->need_shutdown) {
		h->op = VSOCK_OP_SHUTDOWN;
		h->flags = c->shutdown_flags;
		c->need_shutdown = false;
		if (c->state == VSOCK_CLOSING)
			c->state = VSOCK_DEAD;
		return true;
	}
	if (c->need_credit_update) {
		h->op = VSOCK_OP_CREDIT_UPDATE;
		return true;
	}
	return false;
}

uint32_t vsock_conn_fill_rx(struct vsock_conn *c, const struct vq_chain *chain, uint64_t guest_cid)
{
	struct vsock_hdr h = {
	    .src_cid = VSOCK_HOST_CID,
	    .dst_cid = guest_cid,
	    .src_port = c->local_port,
	    .dst_port = c->peer_port,
	    .type = VSOCK_TYPE_STREAM,
	    .buf_alloc = VSOCK_BUF_ALLOC,
	};
	if (chain->in_len < VSOCK_HDR_SIZE || !next_packet(c, chain, &h))
		return 0;
	/* Every packet carries our counters, so each one is also a credit update. */
	h.fwd_cnt = c->fwd_cnt;
	c->fwd_cnt_sent = c->fwd_cnt;
	c->need_credit_update = false;
	uint8_t raw[VSOCK_HDR_SIZE];
	vsock_hdr_encode(&h, raw);
	vq_chain_write(chain, 0, raw, sizeof(raw));
	return VSOCK_HDR_SIZE + h.len;
}

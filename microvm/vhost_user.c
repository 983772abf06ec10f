/*
 * vhost-user front end: message I/O over the unix socket and the front-end requests a
 * virtio-fs device needs. Spec: QEMU docs/interop/vhost-user.rst.
 */
#include "vhost_user.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "../common/cleanup.h"

static const char *request_name(uint32_t req)
{
	switch (req) {
	case VHOST_USER_GET_FEATURES:
		return "GET_FEATURES";
	case VHOST_USER_SET_FEATURES:
		return "SET_FEATURES";
	case VHOST_USER_SET_OWNER:
		return "SET_OWNER";
	case VHOST_USER_SET_MEM_TABLE:
		return "SET_MEM_TABLE";
	case VHOST_USER_SET_VRING_NUM:
		return "SET_VRING_NUM";
	case VHOST_USER_SET_VRING_ADDR:
		return "SET_VRING_ADDR";
	case VHOST_USER_SET_VRING_BASE:
		return "SET_VRING_BASE";
	case VHOST_USER_GET_VRING_BASE:
		return "GET_VRING_BASE";
	case VHOST_USER_SET_VRING_KICK:
		return "SET_VRING_KICK";
	case VHOST_USER_SET_VRING_CALL:
		return "SET_VRING_CALL";
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		return "GET_PROTOCOL_FEATURES";
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		return "SET_PROTOCOL_FEATURES";
	case VHOST_USER_SET_VRING_ENABLE:
		return "SET_VRING_ENABLE";
	}
	return "request";
}

/*
 * The reply timeout is a socket option rather than a poll(): vhost-user requests are made on
 * vCPU threads, whose seccomp list (microvm/seccomp_table.c) has recvmsg but no poll.
 */
void vhost_user_init_fd(struct vhost_user *vu, int fd)
{
	*vu = (struct vhost_user){.fd = fd, .timeout_ms = VHOST_USER_REPLY_TIMEOUT_MS};
	struct timeval tv = {.tv_sec = vu->timeout_ms / 1000,
			     .tv_usec = (vu->timeout_ms % 1000) * 1000};
	if (fd >= 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

int vhost_user_connect(struct vhost_user *vu, const char *path, struct sbx_err *err)
{
	vhost_user_init_fd(vu, -1);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path))
		return sbx_err_setx(err, ENAMETOOLONG, "vhost-user socket path '%s' is too long",
				    path);
	strcpy(addr.sun_path, path);
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sbx_err_set(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return sbx_err_set(err, errno, "connect to vhost-user back end '%s'", path);
	vhost_user_init_fd(vu, steal_fd(fd));
	return 0;
}

void vhost_user_close(struct vhost_user *vu)
{
	if (vu->fd >= 0)
		close(vu->fd);
	vu->fd = -1;
}

size_t vhost_user_msg_len(const struct vhost_user_msg *m)
{
	return VHOST_USER_HDR_SIZE + m->size;
}

/* One sendmsg: the spec attaches a message's fds to its first byte. */
static int send_msg(struct vhost_user *vu, const struct vhost_user_msg *m, const int *fds,
		    unsigned nfds, struct sbx_err *err)
{
	if (vu->fd < 0)
		return sbx_err_setx(err, ENOTCONN, "vhost-user %s: not connected",
				    request_name(m->request));
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_REGIONS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = (void *)m, .iov_len = vhost_user_msg_len(m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sendmsg(vu->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return sbx_err_set(err, errno, "vhost-user %s: send", request_name(m->request));
	/* Messages are small; a short write on a unix stream only happens when the peer is gone. */
	if ((size_t)n != iov.iov_len)
		return sbx_err_setx(err, EPIPE, "vhost-user %s: short send",
				    request_name(m->request));
	return 0;
}

/* Reads exactly len bytes within the reply timeout; fds the peer attaches are closed. */
static int recv_exact(struct vhost_user *vu, void *buf, size_t len, const char *what,
		      struct sbx_err *err)
{
	size_t have = 0;
	while (have < len) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_REGIONS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = {.iov_base = (uint8_t *)buf + have, .iov_len = len - have};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.buf,
				    .msg_controllen = sizeof(ctl.buf)};
		ssize_t n = recvmsg(vu->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return sbx_err_setx(err, ETIMEDOUT, "vhost-user %s: no reply in %d ms",
					    what, vu->timeout_ms);
		if (n < 0)
			return sbx_err_set(err, errno, "vhost-user %s: receive", what);
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < nfd; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(fd);
			}
		}
		if (n == 0)
			return sbx_err_setx(err, ECONNRESET,
					    "vhost-user %s: back end closed the socket", what);
		have += (size_t)n;
	}
	return 0;
}

int vhost_user_check_reply(const struct vhost_user_msg *reply, size_t got, uint32_t request,
			   uint32_t want_size, struct sbx_err *err)
{
	const char *what = request_name(request);
	if (got < VHOST_USER_HDR_SIZE)
		return sbx_err_setx(err, EPROTO, "vhost-user %s: short reply header", what);
	if ((reply->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    !(reply->flags & VHOST_USER_FLAG_REPLY))
		return sbx_err_setx(err, EPROTO, "vhost-user %s: reply flags %#x", what,
				    reply->flags);
	if (reply->request != request)
		return sbx_err_setx(err, EPROTO, "vhost-user %s: reply is for request %u", what,
				    reply->request);
	if (reply->size != want_size || got != VHOST_USER_HDR_SIZE + (size_t)want_size)
		return sbx_err_setx(err, EPROTO, "vhost-user %s: reply of %u bytes, expected %u",
				    what, reply->size, want_size);
	return 0;
}

/*
 * Receives the reply to `request`. The header's size is checked before the payload is read, so
 * a hostile size can neither overflow the message nor make us wait for bytes that never come.
 */
static int recv_reply(struct vhost_user *vu, uint32_t request, uint32_t want_size,
		      struct vhost_user_msg *reply, struct sbx_err *err)
{
	const char *what = request_name(request);
	memset(reply, 0, sizeof(*reply));
	int r = recv_exact(vu, reply, VHOST_USER_HDR_SIZE, what, err);
	if (r < 0)
		return r;
	if (reply->size != want_size)
		return vhost_user_check_reply(reply, VHOST_USER_HDR_SIZE, request, want_size, err);
	r = recv_exact(vu, &reply->payload, want_size, what, err);
	if (r < 0)
		return r;
	return vhost_user_check_reply(reply, VHOST_USER_HDR_SIZE + want_size, request, want_size,
				      err);
}

static bool reply_ack(const struct vhost_user *vu)
{
	return vu->protocol_features & VHOST_USER_PROTOCOL_F_REPLY_ACK;
}

/*
 * Sends a request without a natural reply. With REPLY_ACK, asks for and checks the ack
 * (u64 0 = success), so a back end that refuses e.g. the memory table says so here.
 */
static int request(struct vhost_user *vu, struct vhost_user_msg *m, const int *fds, unsigned nfds,
		   struct sbx_err *err)
{
	m->flags = VHOST_USER_VERSION;
	if (reply_ack(vu))
		m->flags |= VHOST_USER_FLAG_NEED_REPLY;
	int r = send_msg(vu, m, fds, nfds, err);
	if (r < 0 || !reply_ack(vu))
		return r;
	struct vhost_user_msg ack;
	r = recv_reply(vu, m->request, sizeof(uint64_t), &ack, err);
	if (r < 0)
		return r;
	if (ack.payload.u64 != 0)
		return sbx_err_setx(err, EIO, "vhost-user %s: back end refused (status %llu)",
				    request_name(m->request), (unsigned long long)ack.payload.u64);
	return 0;
}

/* A request whose reply carries a value of `size` bytes (GET_*). */
static int query(struct vhost_user *vu, struct vhost_user_msg *m, uint32_t size,
		 struct vhost_user_msg *reply, struct sbx_err *err)
{
	m->flags = VHOST_USER_VERSION;
	int r = send_msg(vu, m, NULL, 0, err);
	if (r < 0)
		return r;
	return recv_reply(vu, m->request, size, reply, err);
}

static int get_u64(struct vhost_user *vu, uint32_t req, uint64_t *out, struct sbx_err *err)
{
	struct vhost_user_msg m = {.request = req}, reply;
	int r = query(vu, &m, sizeof(uint64_t), &reply, err);
	if (r >= 0)
		*out = reply.payload.u64;
	return r;
}

static int set_u64(struct vhost_user *vu, uint32_t req, uint64_t v, const int *fds, unsigned nfds,
		   struct sbx_err *err)
{
	struct vhost_user_msg m = {.request = req, .size = sizeof(uint64_t), .payload.u64 = v};
	return request(vu, &m, fds, nfds, err);
}

int vhost_user_handshake(struct vhost_user *vu, uint64_t required, struct sbx_err *err)
{
	int r = get_u64(vu, VHOST_USER_GET_FEATURES, &vu->backend_features, err);
	if (r < 0)
		return r;
	if ((vu->backend_features & required) != required)
		return sbx_err_setx(err, ENOTSUP,
				    "vhost-user back end lacks features %#llx (offers %#llx)",
				    (unsigned long long)(required & ~vu->backend_features),
				    (unsigned long long)vu->backend_features);
	if (vu->backend_features & VHOST_USER_F_PROTOCOL_FEATURES) {
		uint64_t offered = 0;
		r = get_u64(vu, VHOST_USER_GET_PROTOCOL_FEATURES, &offered, err);
		if (r < 0)
			return r;
		uint64_t want = offered & VHOST_USER_PROTOCOL_F_REPLY_ACK;
		/* Sent before the flag takes effect here: this message itself asks for no ack. */
		r = set_u64(vu, VHOST_USER_SET_PROTOCOL_FEATURES, want, NULL, 0, err);
		if (r < 0)
			return r;
		vu->protocol_features = want;
	}
	struct vhost_user_msg m = {.request = VHOST_USER_SET_OWNER};
	return request(vu, &m, NULL, 0, err);
}

int vhost_user_set_features(struct vhost_user *vu, uint64_t features, struct sbx_err *err)
{
	if (vu->backend_features & VHOST_USER_F_PROTOCOL_FEATURES)
		features |= VHOST_USER_F_PROTOCOL_FEATURES;
	return set_u64(vu, VHOST_USER_SET_FEATURES, features, NULL, 0, err);
}

int vhost_user_set_mem_table(struct vhost_user *vu, const struct vhost_user_region *regions,
			     const int *fds, unsigned n, struct sbx_err *err)
{
	if (n == 0 || n > VHOST_USER_MAX_REGIONS)
		return sbx_err_setx(err, EINVAL, "vhost-user SET_MEM_TABLE: %u regions (1..%u)", n,
				    VHOST_USER_MAX_REGIONS);
	struct vhost_user_msg m = {
	    .request = VHOST_USER_SET_MEM_TABLE,
	    .size = (uint32_t)(offsetof(struct vhost_user_mem_table, regions) +
			       n * sizeof(struct vhost_user_region)),
	    .payload.mem.nregions = n,
	};
	memcpy(m.payload.mem.regions, regions, n * sizeof(*regions));
	return request(vu, &m, fds, n, err);
}

static int set_state(struct vhost_user *vu, uint32_t req, uint32_t idx, uint32_t num,
		     struct sbx_err *err)
{
	struct vhost_user_msg m = {.request = req,
				   .size = sizeof(struct vhost_user_vring_state),
				   .payload.state = {.index = idx, .num = num}};
	return request(vu, &m, NULL, 0, err);
}

int vhost_user_set_vring_num(struct vhost_user *vu, uint32_t idx, uint32_t num, struct sbx_err *err)
{
	return set_state(vu, VHOST_USER_SET_VRING_NUM, idx, num, err);
}

int vhost_user_set_vring_base(struct vhost_user *vu, uint32_t idx, uint32_t base,
			      struct sbx_err *err)
{
	return set_state(vu, VHOST_USER_SET_VRING_BASE, idx, base, err);
}

int vhost_user_set_vring_enable(struct vhost_user *vu, uint32_t idx, bool enable,
				struct sbx_err *err)
{
	return set_state(vu, VHOST_USER_SET_VRING_ENABLE, idx, enable ? 1 : 0, err);
}

int vhost_user_set_vring_addr(struct vhost_user *vu, const struct vhost_user_vring_addr *a,
			      struct sbx_err *err)
{
	struct vhost_user_msg m = {.request = VHOST_USER_SET_VRING_ADDR,
				   .size = sizeof(struct vhost_user_vring_addr),
				   .payload.addr = *a};
	return request(vu, &m, NULL, 0, err);
}

static int set_vring_fd(struct vhost_user *vu, uint32_t req, uint32_t idx, int fd,
			struct sbx_err *err)
{
	uint64_t v = idx & VHOST_USER_VRING_IDX_MASK;
	if (fd < 0)
		v |= VHOST_USER_VRING_NOFD;
	return set_u64(vu, req, v, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, err);
}

int vhost_user_set_vring_kick(struct vhost_user *vu, uint32_t idx, int fd, struct sbx_err *err)
{
	return set_vring_fd(vu, VHOST_USER_SET_VRING_KICK, idx, fd, err);
}

int vhost_user_set_vring_call(struct vhost_user *vu, uint32_t idx, int fd, struct sbx_err *err)
{
	return set_vring_fd(vu, VHOST_USER_SET_VRING_CALL, idx, fd, err);
}

int vhost_user_get_vring_base(struct vhost_user *vu, uint32_t idx, uint32_t *base,
			      struct sbx_err *err)
{
	struct vhost_user_msg m = {.request = VHOST_USER_GET_VRING_BASE,
				   .size = sizeof(struct vhost_user_vring_state),
				   .payload.state = {.index = idx}},
			      reply;
	int r = query(vu, &m, sizeof(struct vhost_user_vring_state), &reply, err);
	if (r < 0)
		return r;
	if (reply.payload.state.index != idx)
		return sbx_err_setx(err, EPROTO,
				    "vhost-user GET_VRING_BASE: reply for ring %u, asked %u",
				    reply.payload.state.index, idx);
	/* A split ring's index is 16 bits: anything larger is not a ring position. */
	if (reply.payload.state.num > UINT16_MAX)
		return sbx_err_setx(err, EPROTO, "vhost-user GET_VRING_BASE: ring %u base %u", idx,
				    reply.payload.state.num);
	*base = reply.payload.state.num;
	return 0;
}

/*
 * Stream side of the wire protocol: blocking send/receive of whole frames and the incremental
 * reader used by event loops. The byte-level codecs live in proto.c.
 */
#include "proto.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cleanup.h"

/* ---- blocking stream helpers ---- */

/* A non-blocking fd handed to the "blocking" helpers still works: wait instead of failing. */
static int wait_fd(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	int r;
	do
		r = poll(&p, 1, -1);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

/* sendmsg with MSG_NOSIGNAL so a vanished peer is an EPIPE error, not a process-killing signal. */
static ssize_t write_iov(int fd, struct iovec *iov, int n)
{
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = n};
	ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
	if (w < 0 && errno == ENOTSOCK)
		w = writev(fd, iov, n);
	return w;
}

int sbx_frame_send(int fd, uint32_t type, const void *payload, size_t len, struct sbx_err *err)
{
	if (len > SBX_FRAME_MAX)
		return sbx_err_setx(err, E2BIG, "send frame type %#x: %zu bytes exceeds %u", type,
				    len, SBX_FRAME_MAX);
	uint8_t hdr[SBX_FRAME_HDR_SIZE];
	sbx_hdr_encode(hdr, type, (uint32_t)len);
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)payload, len}};
	int n = len ? 2 : 1, i = 0;
	while (i < n) {
		ssize_t w = write_iov(fd, iov + i, n - i);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLOUT) < 0)
				return sbx_err_set(err, errno, "send frame type %#x: poll", type);
			continue;
		}
		if (w < 0)
			return sbx_err_set(err, errno, "send frame type %#x", type);
		for (; i < n && (size_t)w >= iov[i].iov_len; i++)
			w -= (ssize_t)iov[i].iov_len;
		if (i < n) {
			iov[i].iov_base = (uint8_t *)iov[i].iov_base + w;
			iov[i].iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Reads exactly len bytes. Returns len, 0..len-1 on EOF (bytes read so far), <0 on error. */
static ssize_t read_full(int fd, uint8_t *buf, size_t len)
{
	size_t have = 0;
	while (have < len) {
		ssize_t r = read(fd, buf + have, len - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLIN) < 0)
				return -errno;
			continue;
		}
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		have += (size_t)r;
	}
	return (ssize_t)have;
}

int sbx_frame_recv(int fd, struct sbx_frame_hdr *hdr, uint8_t **payload, struct sbx_err *err)
{
	uint8_t raw[SBX_FRAME_HDR_SIZE];
	*payload = NULL;
	ssize_t n = read_full(fd, raw, sizeof(raw));
	if (n < 0)
		return sbx_err_set(err, (int)-n, "receive frame header");
	if (n == 0)
		return sbx_err_setx(err, ECONNRESET, "receive frame: connection closed");
	if ((size_t)n < sizeof(raw))
		return sbx_err_setx(err, EPROTO, "receive frame: EOF inside the header");
	int r = sbx_hdr_decode(raw, hdr, err);
	if (r < 0 || hdr->len == 0)
		return r;
	cleanup_free uint8_t *p = malloc(hdr->len);
	if (!p)
		return sbx_err_set(err, ENOMEM, "receive frame: allocate %u bytes", hdr->len);
	n = read_full(fd, p, hdr->len);
	if (n < 0)
		return sbx_err_set(err, (int)-n, "receive frame type %#x payload", hdr->type);
	if ((size_t)n < hdr->len)
		return sbx_err_setx(err, EPROTO,
				    "receive frame type %#x: EOF after %zd of %u bytes", hdr->type,
				    n, hdr->len);
	*payload = steal_ptr(p);
	return 0;
}

/* ---- incremental reader ---- */

void sbx_frame_reader_reset(struct sbx_frame_reader *r)
{
	free(r->payload);
	memset(r, 0, sizeof(*r));
}

/* Hands the finished frame to the caller and rearms the reader for the next header. */
static int reader_emit(struct sbx_frame_reader *r, struct sbx_frame_hdr *hdr, uint8_t **payload)
{
	*hdr = r->hdr;
	*payload = r->payload;
	r->payload = NULL;
	sbx_frame_reader_reset(r);
	return 1;
}

int sbx_frame_reader_feed(struct sbx_frame_reader *r, const uint8_t *buf, size_t len, size_t *used,
			  struct sbx_frame_hdr *hdr, uint8_t **payload, struct sbx_err *err)
{
	size_t off = 0;
	*used = 0;
	*payload = NULL;
	if (r->hdr_have < SBX_FRAME_HDR_SIZE) {
		size_t take = SBX_FRAME_HDR_SIZE - r->hdr_have;
		take = take < len ? take : len;
		memcpy(r->hdr_buf + r->hdr_have, buf, take);
		r->hdr_have += take;
		off = *used = take;
		if (r->hdr_have < SBX_FRAME_HDR_SIZE)
			return 0;
		int rc = sbx_hdr_decode(r->hdr_buf, &r->hdr, err);
		if (rc < 0)
			return rc;
		if (r->hdr.len == 0)
			return reader_emit(r, hdr, payload);
		r->payload = malloc(r->hdr.len);
		if (!r->payload)
			return sbx_err_set(err, ENOMEM, "frame reader: allocate %u bytes",
					   r->hdr.len);
	}
	size_t take = r->hdr.len - r->payload_have;
	take = take < len - off ? take : len - off;
	memcpy(r->payload + r->payload_have, buf + off, take);
	r->payload_have += take;
	*used = off + take;
	return r->payload_have == r->hdr.len ? reader_emit(r, hdr, payload) : 0;
}

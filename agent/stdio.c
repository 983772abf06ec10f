/*
 * The workload's stdio: three pipes, or one pty when RUN asked for a terminal, plus the byte
 * queues the event loop uses to decouple the host stream from the workload's pipes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "agent.h"

/* ---- byte queue ---- */

int byteq_push(struct byteq *q, const void *data, size_t len)
{
	if (q->head && q->head + q->len + len > q->cap) {
		/* Reuse the consumed front before growing. */
		memmove(q->buf, q->buf + q->head, q->len);
		q->head = 0;
	}
	if (q->len + len > q->cap) {
		size_t cap = q->cap ? q->cap : 4096;
		while (cap < q->len + len)
			cap *= 2;
		uint8_t *p = realloc(q->buf, cap);
		if (!p)
			return -ENOMEM;
		q->buf = p;
		q->cap = cap;
	}
	memcpy(q->buf + q->head + q->len, data, len);
	q->len += len;
	return 0;
}

int byteq_push_frame(struct byteq *q, uint32_t type, const void *payload, size_t len)
{
	uint8_t hdr[SBX_FRAME_HDR_SIZE];
	sbx_hdr_encode(hdr, type, (uint32_t)len);
	int r = byteq_push(q, hdr, sizeof(hdr));
	if (r == 0 && len)
		r = byteq_push(q, payload, len);
	return r;
}

void byteq_pop(struct byteq *q, size_t n)
{
	q->head += n;
	q->len -= n;
	if (q->len == 0)
		q->head = 0;
}

void byteq_free(struct byteq *q)
{
	free(q->buf);
	memset(q, 0, sizeof(*q));
}

/* ---- stdio channels ---- */

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

int stdio_set_winsize(int fd, uint16_t rows, uint16_t cols)
{
	struct winsize ws = {.ws_row = rows, .ws_col = cols};
	return ioctl(fd, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

static int stdio_create_pty(struct agent_stdio *s, const struct sbx_run_req *req,
			    struct sbx_err *err)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return sbx_err_set(err, errno, "open pty master");
	s->in_w = s->out_r = m;
	char name[64];
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0)
		return sbx_err_set(err, errno, "unlock pty");
	int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		return sbx_err_set(err, errno, "open pty slave '%s'", name);
	s->child[0] = s->child[1] = s->child[2] = slave;
	if ((req->rows || req->cols) && stdio_set_winsize(m, req->rows, req->cols) < 0)
		return sbx_err_set(err, errno, "set pty window size");
	if (set_nonblock(m) < 0)
		return sbx_err_set(err, errno, "pty master O_NONBLOCK");
	return 0;
}

/* One pipe; `agent_end` (0 read / 1 write) stays with the agent, non-blocking. */
static int stdio_pipe(int *agent_fd, int *child_fd, int agent_end, struct sbx_err *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return sbx_err_set(err, errno, "create stdio pipe");
	*agent_fd = p[agent_end];
	*child_fd = p[!agent_end];
	if (set_nonblock(*agent_fd) < 0)
		return sbx_err_set(err, errno, "stdio pipe O_NONBLOCK");
	return 0;
}

static int stdio_create_pipes(struct agent_stdio *s, const struct sbx_run_req *req,
			      struct sbx_err *err)
{
	int r = stdio_pipe(&s->out_r, &s->child[1], 0, err);
	if (r == 0)
		r = stdio_pipe(&s->err_r, &s->child[2], 0, err);
	if (r < 0)
		return r;
	if (req->open_stdin)
		return stdio_pipe(&s->in_w, &s->child[0], 1, err);
	/* The agent's /dev/null: the container's one is not mounted yet. */
	s->child[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (s->child[0] < 0)
		return sbx_err_set(err, errno, "open /dev/null");
	return 0;
}

int stdio_create(struct agent_stdio *s, const struct sbx_run_req *req, struct sbx_err *err)
{
	*s = (struct agent_stdio){
	    .tty = req->terminal, .in_w = -1, .out_r = -1, .err_r = -1, .child = {-1, -1, -1}};
	int r = req->terminal ? stdio_create_pty(s, req, err) : stdio_create_pipes(s, req, err);
	if (r < 0)
		stdio_destroy(s);
	return r;
}

/* The agent must not keep the workload's ends: EOF/EIO on ours means "all writers are gone". */
void stdio_close_child(struct agent_stdio *s)
{
	for (int i = 0; i < 3; i++) {
		if (s->child[i] < 0)
			continue;
		close(s->child[i]);
		for (int j = i + 1; j < 3; j++)
			if (s->child[j] == s->child[i])
				s->child[j] = -1;
		s->child[i] = -1;
	}
}

void stdio_destroy(struct agent_stdio *s)
{
	stdio_close_child(s);
	if (s->in_w >= 0 && s->in_w != s->out_r)
		close(s->in_w);
	if (s->out_r >= 0)
		close(s->out_r);
	if (s->err_r >= 0)
		close(s->err_r);
	s->in_w = s->out_r = s->err_r = -1;
}

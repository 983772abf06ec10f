#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "tty.h"

/* Stop reading stdin while this much is queued for the guest (backpressure, never unbounded). */
#define OUTQ_HIGH_WATER (1u << 20)
#define READ_CHUNK SBX_DATA_MAX

enum session_state { S_WAIT_CONN, S_WAIT_HELLO, S_RUNNING, S_DONE };

struct outq {
	uint8_t *data;
	size_t off, len, cap;
};

struct session {
	const struct session_cfg *cfg;
	struct session_result *res;
	enum session_state state;
	int conn;
	bool stdin_open;
	bool stdout_broken, stderr_broken;
	struct outq out;
	struct sbx_frame_reader reader;
	struct timespec deadline;
};

static int outq_push(struct outq *q, uint32_t type, const void *payload, size_t len)
{
	if (q->off == q->len)
		q->off = q->len = 0;
	size_t need = q->len + SBX_FRAME_HDR_SIZE + len;
	if (need > q->cap) {
		size_t cap = q->cap ? q->cap : 4096;
		while (cap < need)
			cap *= 2;
		uint8_t *d = realloc(q->data, cap);
		if (!d)
			return -ENOMEM;
		q->data = d;
		q->cap = cap;
	}
	sbx_hdr_encode(q->data + q->len, type, (uint32_t)len);
	if (len)
		memcpy(q->data + q->len + SBX_FRAME_HDR_SIZE, payload, len);
	q->len += SBX_FRAME_HDR_SIZE + len;
	return 0;
}

static int outq_flush(struct outq *q, int fd)
{
	while (q->off < q->len) {
		ssize_t n = send(fd, q->data + q->off, q->len - q->off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		q->off += (size_t)n;
	}
	return 0;
}

/* Blocking full write to our own stdout/stderr; a closed reader just drops the rest. */
static void write_out(int fd, const uint8_t *buf, size_t len, bool *broken)
{
	while (len && !*broken) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = {.fd = fd, .events = POLLOUT};
				poll(&p, 1, -1);
				continue;
			}
			*broken = true;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

static int handle_hello(struct session *s, const uint8_t *p, size_t len, struct sbx_err *err)
{
	uint32_t version;
	uint64_t ready_ns;
	if (s->state != S_WAIT_HELLO)
		return sbx_err_setx(err, EPROTO, "agent sent HELLO twice");
	if (sbx_hello_decode(p, len, &version, &ready_ns) < 0)
		return sbx_err_setx(err, EPROTO, "malformed HELLO from the agent");
	if (version != SBX_PROTO_VERSION)
		return sbx_err_setx(err, EPROTO,
				    "agent speaks protocol %u, expected %u (rebuild the initramfs)",
				    version, SBX_PROTO_VERSION);
	s->res->guest_ready_ns = ready_ns;
	s->res->hello = true;
	if (s->cfg->on_ready)
		s->cfg->on_ready(s->cfg->ready_ctx);
	if (outq_push(&s->out, SBX_MSG_RUN, s->cfg->run_payload, s->cfg->run_len) < 0)
		return sbx_err_set(err, ENOMEM, "queue RUN");
	s->state = S_RUNNING;
	if (s->cfg->tty) {
		/* The window may have changed while the VM booted. */
		uint16_t rows, cols;
		uint8_t ws[4];
		if (tty_winsize(STDIN_FILENO, &rows, &cols) ||
		    tty_winsize(STDOUT_FILENO, &rows, &cols))
			if (outq_push(&s->out, SBX_MSG_WINSIZE, ws,
				      sbx_winsize_encode(ws, rows, cols)) < 0)
				return sbx_err_set(err, ENOMEM, "queue WINSIZE");
	}
	return 0;
}

static int handle_frame(struct session *s, const struct sbx_frame_hdr *h, const uint8_t *p,
			struct sbx_err *err)
{
	if (h->type == SBX_MSG_HELLO)
		return handle_hello(s, p, h->len, err);
	if (s->state != S_RUNNING)
		return sbx_err_setx(err, EPROTO, "agent sent message %#x before HELLO", h->type);
	switch (h->type) {
	case SBX_MSG_CREATED:
	case SBX_MSG_STARTED:
	case SBX_MSG_OOM: /* the guest's OOM kill count (OCI events) */ {
		uint32_t pid = 0;
		if (sbx_u32_decode(p, h->len, &pid) < 0)
			return sbx_err_setx(err, EPROTO, "malformed frame %#x from the agent",
					    h->type);
		if (s->cfg->hooks && s->cfg->hooks->on_event)
			s->cfg->hooks->on_event(s->cfg->hooks->ctx, s, h->type, pid);
		return 0;
	}
	case SBX_MSG_STDOUT:
		write_out(STDOUT_FILENO, p, h->len, &s->stdout_broken);
		return 0;
	case SBX_MSG_STDERR:
		write_out(STDERR_FILENO, p, h->len, &s->stderr_broken);
		return 0;
	case SBX_MSG_EXIT: {
		int32_t code;
		uint32_t signo;
		if (sbx_exit_decode(p, h->len, &code, &signo) < 0 || code < 0 || code > 255)
			return sbx_err_setx(err, EPROTO, "malformed EXIT from the agent");
		s->res->exit_code = code;
		s->res->completed = true;
		s->state = S_DONE;
		return 0;
	}
	case SBX_MSG_ERROR: {
		int32_t errnum, code;
		char msg[SBX_ERR_MSG_MAX];
		if (sbx_error_decode(p, h->len, &errnum, &code, msg, sizeof(msg)) < 0)
			return sbx_err_setx(err, EPROTO, "malformed ERROR from the agent");
		tty_restore();
		const struct session_hooks *hk = s->cfg->hooks;
		if (!(hk && hk->on_error && hk->on_error(hk->ctx, msg)))
			fprintf(stderr, "sandbox: %s\n", msg);
		s->res->exit_code = code >= 1 && code <= 255 ? code : 125;
		s->res->completed = true;
		s->state = S_DONE;
		return 0;
	}
	}
	return sbx_err_setx(err, EPROTO, "agent sent unexpected message type %#x", h->type);
}

static int vmm_died(struct session *s, struct sbx_err *err)
{
	char why[128];
	vmm_wait(s->cfg->vmm, 0);
	vmm_describe_exit(s->cfg->vmm, why, sizeof(why));
	return sbx_err_setx(err, EPIPE, "%s before the container exited", why);
}

/*
 * A connection that ends before HELLO while the VM lives is a dial the guest gave up on: its
 * vsock connect timed out (a starved VMM answered late), the guest reset it, and the agent
 * dials again. Wait for that next connection instead of failing the run.
 */
static int redial_agent(struct session *s)
{
	close(s->conn);
	s->conn = -1;
	sbx_frame_reader_reset(&s->reader);
	s->state = S_WAIT_CONN;
	return 0;
}

static int read_conn(struct session *s, struct sbx_err *err)
{
	uint8_t buf[READ_CHUNK];
	ssize_t n = read(s->conn, buf, sizeof(buf));
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return 0;
		return sbx_err_set(err, errno, "read from the guest agent");
	}
	if (n == 0) {
		/* Usually the VM is going away: its exit status says why better than the socket. */
		if (s->cfg->vmm && vmm_wait(s->cfg->vmm, 2000) == 0)
			return vmm_died(s, err);
		if (s->state == S_WAIT_HELLO && !(s->cfg->hooks && s->cfg->hooks->connected))
			return redial_agent(s);
		return sbx_err_setx(
		    err, ECONNRESET,
		    "the guest agent closed the connection before the container exited");
	}
	size_t off = 0;
	while (off < (size_t)n && s->state != S_DONE) {
		size_t used;
		struct sbx_frame_hdr h;
		uint8_t *payload = NULL;
		int r = sbx_frame_reader_feed(&s->reader, buf + off, (size_t)n - off, &used, &h,
					      &payload, err);
		if (r < 0)
			return sbx_err_wrap(err, "from the guest agent");
		off += used;
		if (r == 1) {
			r = handle_frame(s, &h, payload, err);
			free(payload);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int read_stdin(struct session *s, struct sbx_err *err)
{
	uint8_t buf[READ_CHUNK];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		s->stdin_open = false;
		return outq_push(&s->out, SBX_MSG_STDIN_CLOSE, NULL, 0) < 0
			   ? sbx_err_set(err, ENOMEM, "queue STDIN_CLOSE")
			   : 0;
	}
	if (outq_push(&s->out, SBX_MSG_STDIN, buf, (size_t)n) < 0)
		return sbx_err_set(err, ENOMEM, "queue STDIN");
	return 0;
}

static int handle_signal(struct session *s, struct sbx_err *err)
{
	struct signalfd_siginfo si;
	if (read(s->cfg->sigfd, &si, sizeof(si)) != sizeof(si))
		return 0;
	int sig = (int)si.ssi_signo;
	if (sig == SIGWINCH) {
		uint16_t rows, cols;
		uint8_t ws[4];
		if (s->state == S_RUNNING && s->cfg->tty && tty_winsize(STDIN_FILENO, &rows, &cols))
			outq_push(&s->out, SBX_MSG_WINSIZE, ws, sbx_winsize_encode(ws, rows, cols));
		return 0;
	}
	if (s->state == S_RUNNING) {
		uint8_t b[4];
		if (outq_push(&s->out, SBX_MSG_SIGNAL, b, sbx_u32_encode(b, (uint32_t)sig)) < 0)
			return sbx_err_set(err, ENOMEM, "queue SIGNAL");
		return 0;
	}
	if (sig == SIGUSR1 || sig == SIGUSR2)
		return 0;
	s->res->exit_code = 128 + sig;
	return sbx_err_setx(err, EINTR, "interrupted by signal %d while the VM was booting", sig);
}

static int accept_agent(struct session *s, struct sbx_err *err)
{
	s->conn = accept4(s->cfg->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (s->conn < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return 0;
		return sbx_err_set(err, errno, "accept the guest agent's connection");
	}
	s->state = S_WAIT_HELLO;
	return 0;
}

static int ms_until(const struct timespec *deadline)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ms = (deadline->tv_sec - now.tv_sec) * 1000LL +
		       (deadline->tv_nsec - now.tv_nsec) / 1000000LL;
	return ms < 0 ? 0 : (ms > 1000000 ? 1000000 : (int)ms);
}

enum { P_LISTEN, P_CONN, P_STDIN, P_SIG, P_VMM, P_CTL, P_N };

pid_t session_vmm_pid(const struct session *s)
{
	return s->cfg->vmm->pid;
}

int session_send(struct session *s, uint32_t type, const void *payload, size_t len)
{
	if (s->state != S_RUNNING)
		return -ENOTCONN;
	return outq_push(&s->out, type, payload, len);
}

static void fill_pollfds(struct session *s, struct pollfd *p)
{
	for (int i = 0; i < P_N; i++)
		p[i] = (struct pollfd){.fd = -1};
	const struct session_hooks *h = s->cfg->hooks;
	if (s->state == S_WAIT_CONN ||
	    (s->state == S_RUNNING && h && h->want_accept && h->want_accept(h->ctx)))
		p[P_LISTEN] = (struct pollfd){.fd = s->cfg->listen_fd, .events = POLLIN};
	if (s->conn >= 0)
		p[P_CONN] = (struct pollfd){
		    .fd = s->conn, .events = POLLIN | (s->out.off < s->out.len ? POLLOUT : 0)};
	if (s->state == S_RUNNING && s->stdin_open && s->out.len - s->out.off < OUTQ_HIGH_WATER)
		p[P_STDIN] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
	p[P_SIG] = (struct pollfd){.fd = s->cfg->sigfd, .events = POLLIN};
	p[P_VMM] = (struct pollfd){.fd = s->cfg->vmm ? s->cfg->vmm->pidfd : -1, .events = POLLIN};
	if (s->state == S_RUNNING && s->cfg->hooks && s->cfg->hooks->on_ctl)
		p[P_CTL] = (struct pollfd){.fd = s->cfg->hooks->ctl_fd, .events = POLLIN};
}

static int session_step(struct session *s, struct sbx_err *err)
{
	struct pollfd p[P_N];
	fill_pollfds(s, p);
	int timeout = s->state == S_RUNNING ? -1 : ms_until(&s->deadline);
	int n = poll(p, P_N, timeout);
	if (n < 0)
		return errno == EINTR ? 0 : sbx_err_set(err, errno, "poll");
	if (n == 0)
		return sbx_err_setx(err, ETIMEDOUT,
				    "the guest agent did not answer within %d s (boot too slow or "
				    "failed; rerun with --debug to see the guest console)",
				    s->cfg->boot_timeout_ms / 1000);
	int r = 0;
	if (p[P_SIG].revents)
		r = handle_signal(s, err);
	if (!r && p[P_CONN].revents & (POLLIN | POLLHUP | POLLERR))
		r = read_conn(s, err);
	if (!r && s->state != S_DONE && p[P_CONN].revents & POLLOUT)
		if ((r = outq_flush(&s->out, s->conn)) < 0)
			r = sbx_err_set(err, -r, "write to the guest agent");
	if (!r && s->state == S_WAIT_CONN && p[P_LISTEN].revents)
		r = accept_agent(s, err);
	else if (!r && s->state == S_RUNNING && p[P_LISTEN].revents) {
		int fd = accept4(s->cfg->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			s->cfg->hooks->on_accept(s->cfg->hooks->ctx, fd);
	}
	if (!r && s->state == S_RUNNING && p[P_STDIN].revents)
		r = read_stdin(s, err);
	if (!r && s->state == S_RUNNING && p[P_CTL].revents)
		s->cfg->hooks->on_ctl(s->cfg->hooks->ctx, s);
	/* Only after draining the connection: the agent's last frames may race the VMM's exit. */
	if (!r && s->state != S_DONE && p[P_VMM].revents && !(p[P_CONN].revents & POLLIN))
		r = vmm_died(s, err);
	return r;
}

int session_run(const struct session_cfg *cfg, struct session_result *res, struct sbx_err *err)
{
	struct session s = {.cfg = cfg, .res = res, .state = S_WAIT_CONN, .conn = -1};
	s.stdin_open = cfg->interactive;
	if (cfg->hooks && cfg->hooks->connected) {
		s.conn = cfg->hooks->conn_fd;
		s.state = S_WAIT_HELLO;
		fcntl(s.conn, F_SETFL, fcntl(s.conn, F_GETFL) | O_NONBLOCK);
	}
	res->completed = false;
	res->hello = false;
	res->exit_code = 125;
	clock_gettime(CLOCK_MONOTONIC, &s.deadline);
	s.deadline.tv_sec += cfg->boot_timeout_ms / 1000;
	if (cfg->interactive)
		fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);

	int r = 0;
	while (s.state != S_DONE && r == 0)
		r = session_step(&s, err);
	if (cfg->interactive)
		fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) & ~O_NONBLOCK);
	if (s.conn >= 0)
		close(s.conn);
	free(s.out.data);
	free(s.reader.payload);
	return r;
}

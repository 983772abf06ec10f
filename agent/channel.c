/*
 * The agent's event loop once the container runs: host frames in (STDIN, STDIN_CLOSE, SIGNAL,
 * WINSIZE), workload output out (STDOUT, STDERR), then exactly one EXIT or ERROR.
 *
 * Nothing here blocks: the host stream and every pipe are non-blocking and buffered in bounded
 * queues. A full output queue stops reading the workload's output (backpressure to the
 * workload), a full stdin queue stops reading the host stream; so a 10 MiB output while the
 * host also pushes stdin cannot deadlock as long as the host reads while it writes.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "agent.h"

#define OUTQ_HIGH (256u * 1024u) /* stop reading the workload's output above this */
#define INQ_HIGH (256u * 1024u)	 /* stop reading the host above this much pending stdin */
#define EOT 0x04		 /* VEOF: a pty has no half-close, ^D is how a terminal says EOF */

struct chan {
	int host, sigfd;
	struct container *c;
	struct agent_stdio *s;
	struct sbx_frame_reader rd;
	struct byteq out, in;
	bool in_closing, host_gone, exec_done, init_reaped, have_status;
	/* The container cgroup's memory.events (-1: none) and the OOM kill count sent so far:
	 * OOM frames go out as the count rises, each with the new total, never twice. */
	int oom_fd;
	uint32_t oom_sent;
	bool oom_watched; /* opened once the workload exec'd: its init makes the cgroup first */
	int init_status, wstatus;
	/* The exec pipe's bytes not yet understood (process.c lists what it carries). */
	uint8_t exec_buf[2 + 1 + 8 + SBX_ERR_MSG_MAX];
	size_t exec_len;
	bool exec_reached; /* 'E' seen: the workload got to its execve */
	bool host_sigkill; /* the host asked for SIGKILL, which kills the init itself */
	/* Set when the run ends in ERROR instead of EXIT (exec failure, protocol violation). */
	bool failed;
	int fail_errno, fail_code;
	char fail_msg[SBX_ERR_MSG_MAX];
};

static void chan_fail(struct chan *ch, int errnum, int code, const char *msg)
{
	if (ch->failed)
		return;
	ch->failed = true;
	ch->fail_errno = errnum;
	ch->fail_code = code;
	snprintf(ch->fail_msg, sizeof(ch->fail_msg), "%s", msg);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A broken host stream is terminal: stop the container; there is nobody to report to. */
static void host_lost(struct chan *ch)
{
	ch->host_gone = true;
	if (ch->c->init_pid > 0 && !ch->init_reaped)
		kill(ch->c->init_pid, SIGKILL);
}

static void queue_frame(struct chan *ch, uint32_t type, const void *p, size_t len)
{
	if (byteq_push_frame(&ch->out, type, p, len) < 0) {
		agent_console("out of memory queueing a frame; dropping the host stream");
		host_lost(ch);
	}
}

/* ---- host -> agent ---- */

/* START: one byte through the start pipe lets the held workload exec (a second START: no-op). */
static void release_held(struct chan *ch)
{
	if (ch->c->start_w < 0)
		return;
	ssize_t w = write(ch->c->start_w, "S", 1);
	(void)w;
	close_fd(&ch->c->start_w);
}

static void on_stdin(struct chan *ch, const uint8_t *p, size_t len)
{
	if (ch->s->in_w < 0 || ch->in_closing)
		return; /* stdin not open (or already closed): discard, per docs/protocol.md */
	if (byteq_push(&ch->in, p, len) < 0)
		chan_fail(ch, ENOMEM, AGENT_EXIT_SETUP, "stdin buffer: out of memory");
}

static void on_frame(struct chan *ch, const struct sbx_frame_hdr *h, const uint8_t *p)
{
	uint32_t sig;
	uint16_t rows, cols;
	switch (h->type) {
	case SBX_MSG_STDIN:
		on_stdin(ch, p, h->len);
		break;
	case SBX_MSG_STDIN_CLOSE:
		if (ch->s->tty && ch->s->in_w >= 0 && !ch->in_closing)
			on_stdin(ch, &(uint8_t){EOT}, 1);
		ch->in_closing = true;
		break;
	case SBX_MSG_SIGNAL:
		if (sbx_u32_decode(p, h->len, &sig) == 0 && sig >= 1 && sig <= 64 &&
		    !ch->init_reaped) {
			ch->host_sigkill |= sig == SIGKILL;
			kill(ch->c->init_pid, (int)sig);
		}
		break;
	case SBX_MSG_WINSIZE:
		if (ch->s->tty && sbx_winsize_decode(p, h->len, &rows, &cols) == 0)
			stdio_set_winsize(ch->s->out_r, rows, cols);
		break;
	case SBX_MSG_START:
		release_held(ch);
		break;
	case SBX_MSG_EXEC:
		if (!ch->init_reaped)
			agent_exec_fork(ch->c->init_pid);
		break;
	default: {
		char msg[96];
		snprintf(msg, sizeof(msg), "protocol: unexpected frame type %#x after RUN",
			 h->type);
		chan_fail(ch, EPROTO, AGENT_EXIT_SETUP, msg);
		if (!ch->init_reaped) /* a reaped pid may already belong to someone else */
			kill(ch->c->init_pid, SIGKILL);
	}
	}
}

static void read_host(struct chan *ch)
{
	uint8_t buf[SBX_DATA_MAX];
	ssize_t n = recv(ch->host, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		host_lost(ch);
		return;
	}
	for (size_t off = 0; off < (size_t)n && !ch->host_gone;) {
		struct sbx_frame_hdr h;
		uint8_t *payload;
		size_t used;
		struct sbx_err err = {0};
		int r = sbx_frame_reader_feed(&ch->rd, buf + off, (size_t)n - off, &used, &h,
					      &payload, &err);
		off += used;
		if (r < 0) {
			agent_console("host stream: %s", err.msg);
			host_lost(ch);
		} else if (r == 1) {
			on_frame(ch, &h, payload);
			free(payload);
		}
	}
}

/* ---- agent -> host and -> workload ---- */

static void write_host(struct chan *ch)
{
	ssize_t n = send(ch->host, byteq_data(&ch->out), ch->out.len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n > 0)
		byteq_pop(&ch->out, (size_t)n);
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		host_lost(ch);
}

static void write_stdin(struct chan *ch)
{
	if (ch->in.len) {
		ssize_t n = write(ch->s->in_w, byteq_data(&ch->in), ch->in.len);
		if (n > 0)
			byteq_pop(&ch->in, (size_t)n);
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			byteq_pop(&ch->in, ch->in.len); /* reader gone (EPIPE): drop */
	}
	/* Pipes close for EOF; a pty stays open (the ^D queued above was its EOF). */
	if (ch->in_closing && ch->in.len == 0 && !ch->s->tty)
		close_fd(&ch->s->in_w);
}

/* Reads one chunk of output; EOF (or EIO: a pty whose slave side is all closed) ends it. */
static void read_output(struct chan *ch, int *fd, uint32_t type)
{
	uint8_t buf[SBX_DATA_MAX];
	ssize_t n = read(*fd, buf, sizeof(buf));
	if (n > 0) {
		queue_frame(ch, type, buf, (size_t)n);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (ch->s->tty) /* in_w shares the master */
		ch->s->in_w = -1;
	close_fd(fd);
}

/* ---- the container's end ---- */

/* Takes the leading markers off the exec pipe's bytes: 'R' (created), then 'E' (exec step). */
static void exec_pipe_markers(struct chan *ch)
{
	size_t used = 0;
	if (used < ch->exec_len && ch->c->hold && !ch->c->held && ch->exec_buf[used] == 'R') {
		/* The held workload is ready (process.c, HOLD_READY): the container is created. */
		ch->c->held = true;
		used++;
		uint8_t pid[4];
		queue_frame(ch, SBX_MSG_CREATED, pid,
			    sbx_u32_encode(pid, (uint32_t)ch->c->init_pid));
	}
	if (used < ch->exec_len && !ch->exec_reached && ch->exec_buf[used] == 'E') {
		ch->exec_reached = true;
		used++;
	}
	memmove(ch->exec_buf, ch->exec_buf + used, ch->exec_len - used);
	ch->exec_len -= used;
}

/* EOF on the exec pipe: every copy of its write end is closed, by execve or by death. */
static void exec_pipe_closed(struct chan *ch)
{
	close_fd(&ch->c->exec_r);
	ch->exec_done = true;
	int32_t e, code;
	char msg[SBX_ERR_MSG_MAX];
	if (ch->exec_len && ch->exec_buf[0] == 'F' &&
	    sbx_error_decode(ch->exec_buf + 1, ch->exec_len - 1, &e, &code, msg, sizeof(msg)) ==
		0) {
		chan_fail(ch, e, code, msg);
		return;
	}
	if (ch->exec_len) {
		chan_fail(ch, EIO, AGENT_EXIT_SETUP, "container setup failed without a reason");
		return;
	}
	if (!ch->exec_reached)
		return; /* it never ran: queue_final says why (a dead init, or a signal) */
	agent_stage(AGENT_STAGE_EXECED);
	uint8_t pid[4];
	queue_frame(ch, SBX_MSG_STARTED, pid, sbx_u32_encode(pid, (uint32_t)ch->c->init_pid));
}

static void read_exec_pipe(struct chan *ch)
{
	size_t room = sizeof(ch->exec_buf) - ch->exec_len;
	ssize_t n = read(ch->c->exec_r, ch->exec_buf + ch->exec_len, room);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		ch->exec_len += (size_t)n;
		exec_pipe_markers(ch);
	}
	/* The rest comes with EOF, unless it is longer than any failure report (garbage). */
	if (n <= 0 || ch->exec_len == sizeof(ch->exec_buf))
		exec_pipe_closed(ch);
}

static void read_status_pipe(struct chan *ch)
{
	int st;
	ssize_t n = read(ch->c->status_r, &st, sizeof(st));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == (ssize_t)sizeof(st)) {
		ch->wstatus = st;
		ch->have_status = true;
		agent_stage(AGENT_MARK_STATUS);
		return;
	}
	close_fd(&ch->c->status_r);
}

static void reap(struct chan *ch)
{
	struct signalfd_siginfo si;
	while (read(ch->sigfd, &si, sizeof(si)) > 0)
		;
	int st;
	pid_t p;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		if (p == ch->c->init_pid) {
			ch->init_reaped = true;
			ch->init_status = st;
		}
}

/* ---- loop ---- */

enum { P_SIG, P_EXEC, P_STATUS, P_HOST, P_OUT, P_ERR, P_IN, P_OOM, P_N };

static bool chan_done(const struct chan *ch)
{
	if (ch->host_gone)
		return ch->init_reaped;
	/* All output drained and the status known: only then is EXIT allowed to go out. */
	return ch->exec_done && ch->s->out_r < 0 && ch->s->err_r < 0 && ch->c->status_r < 0 &&
	       ch->init_reaped;
}

static void chan_fill_poll(const struct chan *ch, struct pollfd *p)
{
	for (int i = 0; i < P_N; i++)
		p[i] = (struct pollfd){.fd = -1};
	p[P_SIG] = (struct pollfd){.fd = ch->sigfd, .events = POLLIN};
	p[P_EXEC] = (struct pollfd){.fd = ch->c->exec_r, .events = POLLIN};
	p[P_STATUS] = (struct pollfd){.fd = ch->c->status_r, .events = POLLIN};
	/* cgroup files signal a change as POLLPRI (and POLLERR) until read again. */
	p[P_OOM] = (struct pollfd){.fd = ch->oom_fd, .events = POLLPRI};
	if (!ch->host_gone) {
		p[P_HOST].fd = ch->host;
		p[P_HOST].events =
		    (ch->in.len < INQ_HIGH ? POLLIN : 0) | (ch->out.len ? POLLOUT : 0);
	}
	/* Output waits for the exec verdict so that STARTED precedes any STDOUT. */
	if (ch->exec_done && ch->out.len < OUTQ_HIGH) {
		p[P_OUT] = (struct pollfd){.fd = ch->s->out_r, .events = POLLIN};
		p[P_ERR] = (struct pollfd){.fd = ch->s->err_r, .events = POLLIN};
	}
	if (ch->s->in_w >= 0 && (ch->in.len || (ch->in_closing && !ch->s->tty)))
		p[P_IN] = (struct pollfd){.fd = ch->s->in_w, .events = POLLOUT};
}

/* A frame for each rise of the guest's OOM kill count (docs/oci.md, events). */
static void report_ooms(struct chan *ch, uint32_t count)
{
	if (count <= ch->oom_sent || ch->host_gone)
		return;
	uint8_t b[4];
	queue_frame(ch, SBX_MSG_OOM, b, sbx_u32_encode(b, count));
	ch->oom_sent = count;
}

/* Reads the count through the watch fd; a file that went away is watched no more. */
static void read_ooms(struct chan *ch)
{
	uint32_t n;
	if (ch->oom_fd < 0)
		return;
	if (container_security_oom_read(ch->oom_fd, &n) < 0)
		close_fd(&ch->oom_fd);
	else
		report_ooms(ch, n);
}

static void watch_ooms(struct chan *ch)
{
	ch->oom_watched = true;
	ch->oom_fd = container_security_oom_watch();
	read_ooms(ch);
}

static int chan_step(struct chan *ch)
{
	struct pollfd p[P_N];
	if (ch->exec_done && !ch->oom_watched)
		watch_ooms(ch);
	chan_fill_poll(ch, p);
	if (poll(p, P_N, -1) < 0)
		return errno == EINTR ? 0 : -errno;
	const short in_ev = POLLIN | POLLHUP | POLLERR;
	if (p[P_SIG].revents)
		reap(ch);
	if (p[P_EXEC].revents & in_ev)
		read_exec_pipe(ch);
	if (p[P_STATUS].revents & in_ev)
		read_status_pipe(ch);
	if (p[P_HOST].revents & in_ev)
		read_host(ch);
	if ((p[P_HOST].revents & POLLOUT) && !ch->host_gone)
		write_host(ch);
	if (p[P_OUT].revents & in_ev)
		read_output(ch, &ch->s->out_r, SBX_MSG_STDOUT);
	if (p[P_ERR].revents & in_ev)
		read_output(ch, &ch->s->err_r, SBX_MSG_STDERR);
	if (p[P_IN].revents && ch->s->in_w >= 0)
		write_stdin(ch);
	if (p[P_OOM].revents & (POLLPRI | POLLERR))
		read_ooms(ch);
	return 0;
}

/*
 * The workload never reached its exec and its init reported no status: the init itself died
 * (killed, or it exited during setup). That is a failure to start, not the workload's exit
 * status (runc reports it as its own error too). A SIGKILL the host asked for is the
 * exception: then the container was killed on request and EXIT says so.
 */
static void init_died_before_exec(struct chan *ch, int st)
{
	char msg[96];
	if (WIFSIGNALED(st))
		snprintf(msg, sizeof(msg), "container init died before exec: signal %d (%s)",
			 WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(msg, sizeof(msg), "container init died before exec: exit %d",
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	agent_console("%s", msg);
	chan_fail(ch, ESRCH, AGENT_EXIT_SETUP, msg);
}

static void queue_final(struct chan *ch)
{
	int st = ch->have_status ? ch->wstatus : ch->init_status;
	/* Before EXIT, so the host has it when the container stops (docs/oci.md, events):
	 * kills of the last moments, whose notification the loop did not see. */
	if (ch->oom_fd >= 0)
		read_ooms(ch);
	else
		report_ooms(ch, container_security_oom_kills());
	if (!ch->failed && !ch->exec_reached && !ch->have_status && !ch->host_sigkill)
		init_died_before_exec(ch, ch->init_status);
	if (ch->failed) {
		uint8_t buf[8 + SBX_ERR_MSG_MAX];
		size_t n =
		    sbx_error_encode(buf, sizeof(buf), ch->fail_errno, ch->fail_code, ch->fail_msg);
		queue_frame(ch, SBX_MSG_ERROR, buf, n);
		return;
	}
	int32_t code = AGENT_EXIT_SETUP;
	uint32_t signo = 0;
	if (WIFEXITED(st)) {
		code = WEXITSTATUS(st);
	} else if (WIFSIGNALED(st)) {
		signo = (uint32_t)WTERMSIG(st);
		code = 128 + (int32_t)signo;
	}
	uint8_t buf[8];
	queue_frame(ch, SBX_MSG_EXIT, buf, sbx_exit_encode(buf, code, signo));
}

/* The last frames: blocking is fine now, but not forever if the host stopped reading. */
static void flush_host(struct chan *ch)
{
	while (ch->out.len && !ch->host_gone) {
		struct pollfd p = {.fd = ch->host, .events = POLLOUT};
		int r = poll(&p, 1, 30000);
		if (r == 0 || (r < 0 && errno != EINTR)) {
			agent_console("host stopped reading; %zu bytes unsent", ch->out.len);
			return;
		}
		if (r > 0)
			write_host(ch);
	}
}

static int chan_open_sigfd(struct sbx_err *err)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? sbx_err_set(err, errno, "signalfd SIGCHLD") : fd;
}

int channel_run(int fd, struct container *c, struct agent_stdio *s, struct sbx_err *err)
{
	struct chan ch = {.host = fd, .c = c, .s = s};
	ch.sigfd = chan_open_sigfd(err);
	if (ch.sigfd < 0)
		return ch.sigfd;
	ch.oom_fd = -1;
	reap(&ch); /* SIGCHLD may have fired before the signalfd existed */
	int r = 0;
	while (r == 0 && !chan_done(&ch))
		r = chan_step(&ch);
	if (r < 0) {
		sbx_err_set(err, -r, "agent event loop: poll");
		host_lost(&ch);
	}
	if (!ch.host_gone) {
		queue_final(&ch);
		flush_host(&ch);
	}
	if (ch.init_reaped)
		c->init_pid = -1; /* nothing left for container_destroy to kill */
	close(ch.sigfd);
	close_fd(&ch.oom_fd);
	sbx_frame_reader_reset(&ch.rd);
	byteq_free(&ch.out);
	byteq_free(&ch.in);
	if (ch.host_gone && r == 0)
		r = sbx_err_setx(err, ECONNRESET, "host connection lost; container killed");
	return r;
}

/*
 * Exec sessions (OCI `sandbox exec`): a second process inside a running container. The host
 * asks on the main stream (EXEC); a forked agent process dials the host again, which hands that
 * connection to the `sandbox exec` client; from there it is an ordinary run (HELLO, RUN, stdio,
 * EXIT) whose process joins the container instead of creating one (process.c).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "agent.h"

int (*agent_exec_dial)(struct sbx_err *err);

static int send_error(int fd, const struct sbx_err *why)
{
	struct sbx_err err = {0};
	uint8_t buf[8 + SBX_ERR_MSG_MAX];
	size_t n = sbx_error_encode(buf, sizeof(buf), why->code, AGENT_EXIT_SETUP, why->msg);
	return sbx_frame_send(fd, SBX_MSG_ERROR, buf, n, &err);
}

static int recv_run(int fd, struct sbx_run_req *req, struct sbx_err *err)
{
	struct sbx_frame_hdr h;
	cleanup_free uint8_t *p = NULL;
	int r = sbx_frame_recv(fd, &h, &p, err);
	if (r < 0)
		return r;
	if (h.type != SBX_MSG_RUN)
		return sbx_err_setx(err, EPROTO, "exec: expected RUN, got frame type %#x", h.type);
	return sbx_run_decode(p, h.len, req, err);
}

/* The exec session's process: never returns. */
__attribute__((noreturn)) static void exec_session(pid_t init_pid)
{
	struct sbx_err err = {0};
	/* Nothing of the main session may leak into this one (its stream, pipes, pty). */
	if (syscall(SYS_close_range, 3, ~0u, 0) < 0)
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	int fd = agent_exec_dial(&err);
	if (fd < 0) {
		agent_console("exec: %s", err.msg);
		_exit(1);
	}
	uint8_t hello[12];
	struct sbx_run_req req = {0};
	if (sbx_frame_send(fd, SBX_MSG_HELLO, hello,
			   sbx_hello_encode(hello, SBX_PROTO_VERSION, agent_boottime_ns()),
			   &err) < 0)
		_exit(1);
	if (recv_run(fd, &req, &err) < 0) {
		send_error(fd, &err);
		_exit(1);
	}
	struct agent_stdio s;
	struct container c;
	if (stdio_create(&s, &req, &err) < 0) {
		send_error(fd, &err);
		_exit(1);
	}
	if (container_join_spawn(&c, init_pid, &req, &s, &err) < 0) {
		stdio_destroy(&s);
		send_error(fd, &err);
		_exit(1);
	}
	int r = channel_run(fd, &c, &s, &err);
	container_destroy(&c);
	stdio_destroy(&s);
	_exit(r < 0 ? 1 : 0);
}

void agent_exec_fork(pid_t init_pid)
{
	if (!agent_exec_dial) {
		agent_console("exec: not supported here");
		return;
	}
	pid_t pid = fork();
	if (pid < 0)
		agent_console("exec: fork: %m");
	if (pid == 0)
		exec_session(init_pid);
}

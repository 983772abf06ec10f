/*
 * Exec sessions (OCI `sandbox exec`): a second process inside a running container. The host
 * asks on the main stream (EXEC); a forked agent process dials the host again, which hands that
 * connection to the `sandbox exec` client; from there it is an ordinary run (HELLO, RUN, stdio,
 * EXIT) whose process joins the container instead of creating one (process.c).
 *
 * Every dial first presents the run's exec secret (EXEC_AUTH, docs/protocol.md): the host
 * hands a connection to `sandbox exec` only with it, so something else in the guest that
 * reaches the vsock listener cannot pose as an exec session. The secret lives in a page that
 * forks do not inherit (MADV_WIPEONFORK): the container's processes, all forks of the agent,
 * never hold it; an exec session gets it through a pipe from PID 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "agent.h"

int (*agent_exec_dial)(struct sbx_err *err);

static uint8_t *kept_secret; /* SBX_EXEC_SECRET_LEN bytes in a MADV_WIPEONFORK page; or NULL */

void agent_exec_keep_secret(struct sbx_run_req *req)
{
	if (!req->has_exec_secret)
		return;
	if (!kept_secret) {
		void *p =
		    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED || madvise(p, 4096, MADV_WIPEONFORK) < 0) {
			/* Without the page no exec can authenticate: the host refuses them all. */
			agent_console("exec: no page for the exec secret: %m");
			if (p != MAP_FAILED)
				munmap(p, 4096);
			explicit_bzero(req->exec_secret, sizeof(req->exec_secret));
			return;
		}
		kept_secret = p;
	}
	memcpy(kept_secret, req->exec_secret, SBX_EXEC_SECRET_LEN);
	explicit_bzero(req->exec_secret, sizeof(req->exec_secret));
}

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

/* The exec session's process: never returns. secret: NULL when the run has none. */
__attribute__((noreturn)) static void exec_session(pid_t init_pid, uint8_t *secret)
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
	if (secret) {
		int r = sbx_frame_send(fd, SBX_MSG_EXEC_AUTH, secret, SBX_EXEC_SECRET_LEN, &err);
		explicit_bzero(secret, SBX_EXEC_SECRET_LEN);
		if (r < 0)
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
	int p[2] = {-1, -1};
	if (kept_secret && pipe2(p, O_CLOEXEC) < 0) {
		agent_console("exec: pipe: %m");
		return;
	}
	pid_t pid = fork();
	if (pid < 0)
		agent_console("exec: fork: %m");
	if (pid == 0) {
		uint8_t secret[SBX_EXEC_SECRET_LEN];
		bool have = false;
		if (p[0] >= 0) {
			close(p[1]);
			have = read(p[0], secret, sizeof(secret)) == (ssize_t)sizeof(secret);
			close(p[0]);
			if (!have)
				_exit(1); /* the host would refuse the connection anyway */
		}
		exec_session(init_pid, have ? secret : NULL);
	}
	if (p[0] >= 0) {
		close(p[0]);
		/* 32 bytes fit in any pipe: this write cannot block */
		if (pid > 0 && write(p[1], kept_secret, SBX_EXEC_SECRET_LEN) < 0)
			agent_console("exec: hand over the secret: %m");
		close(p[1]);
	}
}

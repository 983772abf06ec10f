/*
 * Host side of the agent protocol for host-mode agent tests (no VM): a busybox rootfs in a
 * temp dir, the agent library served in a forked child (its TEST HOOK: private mount namespace,
 * directory rootfs), and a host loop that plays `sandbox run` over a socketpair.
 * Needs root (namespaces, mounts) and /bin/busybox (busybox-static); tests skip otherwise.
 */
#ifndef SANDBOX_TEST_AGENT_HARNESS_H
#define SANDBOX_TEST_AGENT_HARNESS_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../agent/agent.h"
#include "../../common/cleanup.h"
#include "../../common/proto.h"

static char h_rootfs[256], h_rundir[256];
static bool h_force_move; /* take the agent's initramfs (move + chroot) root switch */

static const char *const h_applets[] = {"sh",	    "echo", "cat",  "sleep", "test", "true",
					"false",    "yes",  "head", "id",    "stty", "pwd",
					"hostname", "env",  "tty",  "wc",    "kill"};

/* Builds <tmp>/rootfs with /bin/busybox and relative applet links (valid inside the root). */
static void h_setup(void)
{
	if (geteuid() != 0 || access("/bin/busybox", X_OK) != 0) {
		fprintf(stderr, "agent tests need root and /bin/busybox\n");
		exit(77);
	}
	char tmpl[] = "/tmp/test-agent.XXXXXX", cmd[1200];
	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	snprintf(h_rootfs, sizeof(h_rootfs), "%s/rootfs", tmpl);
	snprintf(h_rundir, sizeof(h_rundir), "%s/run", tmpl);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/bin %s/tmp %s && cp /bin/busybox %s/bin/", h_rootfs,
		 h_rootfs, h_rundir, h_rootfs);
	ck_assert_int_eq(system(cmd), 0);
	for (size_t i = 0; i < ARRAY_SIZE(h_applets); i++) {
		char link[512];
		snprintf(link, sizeof(link), "%s/bin/%s", h_rootfs, h_applets[i]);
		ck_assert_int_eq(symlink("busybox", link), 0);
	}
}

static void h_teardown(void)
{
	char cmd[600];
	char *slash = strrchr(h_rootfs, '/');
	*slash = '\0';
	snprintf(cmd, sizeof(cmd), "rm -rf %s", h_rootfs);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", h_rootfs);
}

/* Forks the agent (library entry point, test-mode isolation); returns the host's end. */
static int h_agent_start(pid_t *pid)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	*pid = fork();
	ck_assert_int_ge(*pid, 0);
	if (*pid == 0) {
		close(sv[0]);
		struct sbx_err err = {0};
		const struct agent_cfg cfg = {
		    .run_dir = h_rundir, .test_rootfs = h_rootfs, .test_force_move = h_force_move};
		if (agent_test_isolate(h_rundir, &err) < 0 || agent_serve(sv[1], &cfg, &err) < 0) {
			fprintf(stderr, "agent: %s\n", err.msg);
			_exit(1);
		}
		_exit(0);
	}
	close(sv[1]);
	return sv[0];
}

/* What the host saw. */
struct h_result {
	bool hello, started, exited, failed;
	int32_t code, err_errno;
	uint32_t signo;
	char msg[SBX_ERR_MSG_MAX];
	struct byteq out, err;
	int frames_after_final;
	int agent_status;
};

/* What the host does besides reading. */
struct h_plan {
	const char *stdin_data; /* sent in SBX_DATA_MAX chunks, then STDIN_CLOSE */
	size_t stdin_len;
	bool close_stdin;
	int signal_on_start; /* SIGNAL sent right after STARTED */
	bool drop_on_start;  /* close the connection right after STARTED */
	bool bogus_on_start; /* send a second RUN right after STARTED (a protocol error) */
};

static void h_on_frame(struct h_result *res, int fd, const struct h_plan *plan,
		       const struct sbx_frame_hdr *h, const uint8_t *p)
{
	struct sbx_err err = {0};
	uint32_t ver;
	uint64_t ns;
	if (res->exited || res->failed)
		res->frames_after_final++;
	switch (h->type) {
	case SBX_MSG_HELLO:
		ck_assert_int_eq(sbx_hello_decode(p, h->len, &ver, &ns), 0);
		ck_assert_uint_eq(ver, SBX_PROTO_VERSION);
		res->hello = true;
		break;
	case SBX_MSG_STARTED:
		res->started = true;
		if (plan->signal_on_start) {
			uint8_t b[4];
			sbx_u32_encode(b, (uint32_t)plan->signal_on_start);
			ck_assert_int_eq(sbx_frame_send(fd, SBX_MSG_SIGNAL, b, 4, &err), 0);
		}
		if (plan->bogus_on_start)
			ck_assert_int_eq(
			    sbx_frame_send(fd, SBX_MSG_RUN, "\1\0\0\0\0\0\0\0", 8, &err), 0);
		break;
	case SBX_MSG_STDOUT:
		byteq_push(&res->out, p, h->len);
		break;
	case SBX_MSG_STDERR:
		byteq_push(&res->err, p, h->len);
		break;
	case SBX_MSG_EXIT:
		ck_assert_int_eq(sbx_exit_decode(p, h->len, &res->code, &res->signo), 0);
		res->exited = true;
		break;
	case SBX_MSG_ERROR:
		ck_assert_int_eq(sbx_error_decode(p, h->len, &res->err_errno, &res->code, res->msg,
						  sizeof(res->msg)),
				 0);
		res->failed = true;
		break;
	default:
		ck_abort_msg("unexpected frame type %#x", h->type);
	}
}

/* Sends one chunk of stdin (or STDIN_CLOSE once all is out). */
static void h_send_stdin(int fd, const struct h_plan *plan, size_t *sent, bool *closed)
{
	struct sbx_err err = {0};
	if (*sent < plan->stdin_len) {
		size_t n = plan->stdin_len - *sent;
		n = n > SBX_DATA_MAX ? SBX_DATA_MAX : n;
		ck_assert_int_eq(
		    sbx_frame_send(fd, SBX_MSG_STDIN, plan->stdin_data + *sent, n, &err), 0);
		*sent += n;
	} else {
		ck_assert_int_eq(sbx_frame_send(fd, SBX_MSG_STDIN_CLOSE, NULL, 0, &err), 0);
		*closed = true;
	}
}

/* Reads frames until the agent closes; writes stdin only when the socket is writable, and
 * reads at the same time, as a real host must (that is what keeps big streams deadlock-free). */
static void h_loop(int fd, const struct h_plan *plan, struct h_result *res)
{
	struct sbx_frame_reader rd = {0};
	size_t sent = 0;
	bool closed = !plan->close_stdin && !plan->stdin_len;
	for (;;) {
		bool want_out = res->started && !closed;
		struct pollfd p = {.fd = fd, .events = POLLIN | (want_out ? POLLOUT : 0)};
		ck_assert_int_ge(poll(&p, 1, 20000), 1);
		if (p.revents & POLLOUT)
			h_send_stdin(fd, plan, &sent, &closed);
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		uint8_t buf[65536];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (size_t off = 0; off < (size_t)n;) {
			struct sbx_frame_hdr h;
			uint8_t *payload;
			size_t used;
			struct sbx_err err = {0};
			int r = sbx_frame_reader_feed(&rd, buf + off, (size_t)n - off, &used, &h,
						      &payload, &err);
			ck_assert_msg(r >= 0, "host reader: %s", err.msg);
			off += used;
			if (r == 1) {
				h_on_frame(res, fd, plan, &h, payload);
				free(payload);
				if (h.type == SBX_MSG_STARTED && plan->drop_on_start)
					goto out;
			}
		}
	}
out:
	sbx_frame_reader_reset(&rd);
}

/* One whole run: RUN built from req, the plan played, the agent reaped. */
static void h_run(struct sbx_run_req *req, const struct h_plan *plan, struct h_result *res)
{
	memset(res, 0, sizeof(*res));
	pid_t pid;
	int fd = h_agent_start(&pid);
	uint8_t *buf;
	size_t len;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_encode(req, &buf, &len, &err), 0);
	ck_assert_int_eq(sbx_frame_send(fd, SBX_MSG_RUN, buf, len, &err), 0);
	free(buf);
	h_loop(fd, plan, res);
	close(fd);
	ck_assert_int_eq(waitpid(pid, &res->agent_status, 0), pid);
}

/* Shorthand: run argv with defaults (no tty, no stdin). */
static void h_run_argv(char **argv, struct h_result *res)
{
	size_t argc = 0;
	while (argv[argc])
		argc++;
	struct sbx_run_req req = {.argv = argv, .argc = argc};
	struct h_plan plan = {0};
	h_run(&req, &plan, res);
}

static void h_result_free(struct h_result *res)
{
	byteq_free(&res->out);
	byteq_free(&res->err);
}

#endif

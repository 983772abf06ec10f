/*
 * One conversation with the host (docs/protocol.md, "Ordering"): HELLO out, RUN in, build the
 * container, hand over to the event loop. Every failure after HELLO is reported to the host as
 * an ERROR frame (exit code 125) so that nothing fails silently in the guest.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/cleanup.h"
#include "agent.h"
#include "net.h"
#ifdef SANDBOX_TEST_HOOKS
#include "testhooks.h" /* test agent only: the agent dies on request (docs/security.md) */
#endif

static int send_hello(int fd, struct sbx_err *err)
{
	uint8_t buf[12];
	size_t n = sbx_hello_encode(buf, SBX_PROTO_VERSION, agent_boottime_ns());
	return sbx_frame_send(fd, SBX_MSG_HELLO, buf, n, err);
}

/* Sends the setup failure in `why` as the run's one ERROR frame. */
static int send_error(int fd, int code, const struct sbx_err *why, struct sbx_err *err)
{
	uint8_t buf[8 + SBX_ERR_MSG_MAX];
	size_t n = sbx_error_encode(buf, sizeof(buf), why->code, code, why->msg);
	agent_console("%s", why->msg);
	return sbx_frame_send(fd, SBX_MSG_ERROR, buf, n, err);
}

/* Waits for RUN; anything else first is a protocol error. 1 = got RUN, <0 = stream failed. */
static int recv_run(int fd, struct sbx_run_req *req, struct sbx_err *why, struct sbx_err *err)
{
	struct sbx_frame_hdr h;
	cleanup_free uint8_t *p = NULL;
	int r = sbx_frame_recv(fd, &h, &p, why);
	if (r == -ECONNRESET || r == -EPIPE || r == -EIO) {
		*err = *why;
		return r;
	}
	if (r < 0)
		return 0; /* malformed frame: report it, then give up */
	if (h.type != SBX_MSG_RUN) {
		sbx_err_setx(why, EPROTO, "protocol: expected RUN, got frame type %#x", h.type);
		return 0;
	}
	r = sbx_run_decode(p, h.len, req, why);
	/* Before the container exists, and no copy left in freed memory: see agent.h. */
	agent_exec_keep_secret(req);
	container_security_note_run(req);
	if (p)
		explicit_bzero(p, h.len);
	return r < 0 ? 0 : 1;
}

static void set_clock(const struct agent_cfg *cfg, uint64_t time_ns)
{
	if (!cfg->set_clock || !time_ns)
		return;
	struct timespec ts = {.tv_sec = (time_t)(time_ns / 1000000000u),
			      .tv_nsec = (long)(time_ns % 1000000000u)};
	/* A wrong clock breaks TLS and make, not the container: log and go on. */
	if (clock_settime(CLOCK_REALTIME, &ts) < 0)
		agent_console("clock_settime: %s", strerror(errno));
}

/*
 * SIGCHLD is taken through a signalfd, so it must stay blocked; SIGPIPE is ignored so a closed
 * stdin pipe is an EPIPE error, not the death of the agent. The workload resets both.
 */
static void agent_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int run_container(int fd, const struct agent_cfg *cfg, const struct sbx_run_req *req,
			 struct sbx_err *why, struct sbx_err *err)
{
	char root[256];
	struct agent_stdio s;
	struct container c;
	int r = container_prepare_rootfs(cfg, req, root, sizeof(root), why);
	if (r >= 0)
		agent_stage(AGENT_MARK_OVERLAY);
	if (r >= 0 && req->rootfs) /* tests without a rootfs run with the agent's own network */
		r = agent_net_setup(req, root, why);
	if (r < 0)
		return send_error(fd, AGENT_EXIT_SETUP, why, err);
	agent_stage(AGENT_MARK_NET);
	r = stdio_create(&s, req, why);
	if (r < 0)
		return send_error(fd, AGENT_EXIT_SETUP, why, err);
	agent_stage(AGENT_MARK_STDIO);
	r = container_spawn(&c, root, req, cfg->test_force_move, &s, why);
	if (r < 0) {
		stdio_destroy(&s);
		return send_error(fd, AGENT_EXIT_SETUP, why, err);
	}
	if (cfg->hold_mnt_ns)
		(void)container_hold_mnt_ns(c.init_pid); /* never closed: see agent.h */
	r = channel_run(fd, &c, &s, err);
	container_destroy(&c);
	stdio_destroy(&s);
	return r;
}

/* What must differ between runs of one template (template.c): RNG state, CID in the env. */
static int renew_identity(const struct agent_cfg *cfg, struct sbx_run_req *req, char **env_storage,
			  struct sbx_err *why)
{
	if (cfg->seed_rng && req->seed_len) {
		int r = agent_seed_rng(req->seed, req->seed_len, why);
		if (r < 0)
			return sbx_err_wrap(why, "seed the guest RNG");
	}
	if (cfg->vsock_cid)
		return agent_env_add_cid(req, cfg->vsock_cid, env_storage, why);
	return 0;
}

int agent_serve(int fd, const struct agent_cfg *cfg, struct sbx_err *err)
{
	struct sbx_run_req req = {0};
	struct sbx_err why = {0};
	cleanup_free char *env_storage = NULL;
	agent_signals();
	int r = send_hello(fd, err);
	if (r < 0)
		return sbx_err_wrap(err, "send HELLO");
	r = recv_run(fd, &req, &why, err);
	if (r < 0)
		return sbx_err_wrap(err, "receive RUN");
	if (r == 0)
		return send_error(fd, AGENT_EXIT_SETUP, &why, err);
	agent_stage(AGENT_MARK_RUN);
	/* The clock first: a template's clock is as old as the template. */
	set_clock(cfg, req.time_ns);
	r = renew_identity(cfg, &req, &env_storage, &why);
	if (r < 0) {
		sbx_run_req_free(&req);
		return send_error(fd, AGENT_EXIT_SETUP, &why, err);
	}
	agent_stage(AGENT_MARK_IDENTITY);
#ifdef SANDBOX_TEST_HOOKS
	agent_testhooks_arm(cfg, &req, fd);
#endif
	r = run_container(fd, cfg, &req, &why, err);
	sbx_run_req_free(&req);
	return r;
}

/*
 * The host end of one container session: waits for the agent to dial in, sends RUN, then relays
 * stdio, signals and window-size changes until the agent reports EXIT or ERROR.
 */
#ifndef SANDBOX_SESSION_H
#define SANDBOX_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/error.h"
#include "../common/proto.h"
#include "vmm_proc.h"

struct session;

/* OCI monitor hooks (shim/monitor.c); `sandbox run` leaves them NULL. */
struct session_hooks {
	int ctl_fd; /* polled for POLLIN once the agent said HELLO; on_ctl is called then */
	void (*on_ctl)(void *ctx, struct session *s);
	/* CREATED and STARTED from the agent: value is the guest pid they carry. */
	void (*on_event)(void *ctx, struct session *s, uint32_t type, uint32_t value);
	/* The agent's ERROR text (sanitised): true when the hook reported it, false to have it
	 * printed as usual (e.g. the monitor hands it to a waiting `create` instead). */
	bool (*on_error)(void *ctx, const char *msg);
	/* While want_accept says so, connections on listen_fd go to on_accept (exec sessions). */
	bool (*want_accept)(void *ctx);
	void (*on_accept)(void *ctx, int fd);
	/* `sandbox exec`: conn_fd is already the agent's connection; there is no VMM (vmm NULL). */
	bool connected;
	int conn_fd;
	void *ctx;
};

struct session_cfg {
	int listen_fd; /* unix socket the VMM connects guest port 1024 to */
	struct vmm_proc *vmm;
	int sigfd; /* signalfd of the forwarded signals (blocked by the caller) */
	const uint8_t *run_payload;
	size_t run_len;
	bool tty;
	bool interactive;
	int boot_timeout_ms; /* agent must say HELLO within this */
	/* Called once at HELLO: the VM is up (a restore is complete), e.g. to drop a lock. */
	void (*on_ready)(void *ctx);
	void *ready_ctx;
	const struct session_hooks *hooks; /* NULL: none */
};

struct session_result {
	int exit_code;	/* what `sandbox run` exits with */
	bool completed; /* the agent sent EXIT or ERROR */
	bool hello;	/* the agent said HELLO (the VM came up) */
	uint64_t guest_ready_ns;
};

/*
 * Returns 0 when the agent reported an outcome (res->exit_code set), or a negative errno with err
 * explaining what went wrong (VMM died, boot timeout, protocol error, interrupted during boot, in
 * which case res->exit_code is 128+signal).
 */
int session_run(const struct session_cfg *cfg, struct session_result *res, struct sbx_err *err);

/* Queues a frame to the agent (from a hook); -ENOMEM, or -ENOTCONN before the RUN went out. */
int session_send(struct session *s, uint32_t type, const void *payload, size_t len);
/* The VMM process of the session (e.g. to stop its vCPUs with SIGSTOP). */
pid_t session_vmm_pid(const struct session *s);

#endif

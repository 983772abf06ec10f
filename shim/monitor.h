/*
 * The per-container monitor: the host process that stands for an OCI container (the pid in
 * --pid-file and state.json). It starts the VM from the template, has the agent build the
 * container with its first process held before execve, reports "created" to `create`, serves
 * start/kill on <root>/<id>/monitor.sock, and exits with the container's status (128+N for
 * signal N) once its first process ended and the VM is stopped. docs/oci.md has the picture.
 */
#ifndef SANDBOX_MONITOR_H
#define SANDBOX_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oci_spec.h"
#include "run_opts.h"

struct monitor_cfg {
	const char *id;
	const char *bundle; /* absolute */
	const struct oci_spec *spec;
	/* create: the monitor writes "ok\n" or "error: MSG\n" here once, then closes it; -1: none
	 */
	int notify_fd;
	bool auto_start;	    /* run: START as soon as the container is created */
	const char *console_socket; /* send the pty master there (SCM_RIGHTS), or NULL */
	/* Detached image runs (shim/detach.c): the process and disk come from these prepared
	 * `sandbox run` options instead of spec->process and the bundle; spec then carries only
	 * annotations (no hooks) and bundle is "". */
	const struct run_opts *opts;
};

/* Runs the container to its end; returns the status the monitor process exits with. */
int monitor_run(const struct monitor_cfg *cfg);

/*
 * Requests on monitor.sock: one line, one reply line ("ok" or "error: MSG").
 *   start         the held first process execs; the reply comes once it runs
 *   kill SIGNO    the signal goes to the container's first process
 */
#define MONITOR_SOCK "monitor.sock"
/* Sends req to the monitor of id and returns its reply (reply: cap bytes, no newline). */
int monitor_request(const char *id, const char *req, char *reply, size_t cap, struct sbx_err *err);

/*
 * --console-socket: makes a pty (rows x cols, 0: 24x80), sends its master over the unix socket
 * (SCM_RIGHTS, as runc does) and makes the slave our stdio, which the session then relays.
 */
int oci_console_setup(const char *console_socket, uint16_t rows, uint16_t cols,
		      struct sbx_err *err);

#endif

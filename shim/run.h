#ifndef SANDBOX_RUN_H
#define SANDBOX_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "run_opts.h"
#include "session.h"

/* `sandbox run ...`: argv[0] is "run". Returns the process exit status. */
int cmd_run(int argc, char **argv);

/* What the OCI monitor (shim/monitor.c) changes about a run; `sandbox run` passes NULL. */
struct run_ext {
	const char *dir; /* the VM's files go to <dir>/vm (removed at the end), not a random dir */
	const char *id;	 /* the run id (default hostname) */
	bool hold;	 /* the workload waits for START (RUN with HOLD) */
	const uint32_t *add_gids;
	size_t n_add_gids;
	const struct session_hooks *hooks;
	bool cli_network; /* o's --network/-p apply (run -d), not only an OCI netns path */
	/* OCI over virtio-fs (shim/oci_mounts.h): o->volumes are the shares, root_share the RUN
	 * rootfs ("rw:sbxfs0"; no erofs disk is built) and mounts[] the RUN mounts. NULL: no. */
	const char *root_share;
	const struct sbx_mount *mounts;
	size_t n_mounts;
};

/*
 * Runs o in a micro-VM (with ext, or NULL). Returns the container's exit status, or a negative
 * errno with err set; -(128+N) when interrupted by signal N before the container ran.
 */
int run_vm(const struct run_opts *o, const struct run_ext *ext, struct sbx_err *err);

#endif

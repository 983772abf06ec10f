/* Per-run state directory: /run/sandbox/<id>/ holding the rootfs image, sockets and logs. */
#ifndef SANDBOX_RUNDIR_H
#define SANDBOX_RUNDIR_H

#include <limits.h>

#include "../common/error.h"

#define RUN_ID_LEN 12

struct rundir {
	char id[RUN_ID_LEN + 1];
	char path[PATH_MAX];
};

/*
 * Creates a fresh directory with a random id under the run root, owned by this process (its
 * pid and start time in "owner"); first sweeps the dirs of owners that died (rundir_sweep_dead).
 */
int rundir_create(struct rundir *d, struct sbx_err *err);
/*
 * Removes the run dirs under root whose owner is dead (SIGKILLed `sandbox`: its VMM and
 * virtiofsd died with it by PR_SET_PDEATHSIG, its jail cgroup is swept by the next jailed
 * start, its tap went with the VMM's fd). A dir without an owner file counts as dead only
 * when over a minute old and no unix socket is listening in it.
 */
void rundir_sweep_dead(const char *root);
/* Builds "<dir>/<name>" into out (PATH_MAX). */
void rundir_file(const struct rundir *d, const char *name, char *out);
/* Removes path and everything under it (no symlinks followed); a missing path is fine. */
void rmtree(const char *path);
/* Removes the directory and everything in it; accepts a never-created one. */
void rundir_remove(struct rundir *d);

#endif

/*
 * One cgroup per jailed VMM (docs/security.md "Jail"): memory, pids and cpu limits, on cgroup
 * v2 (one unified tree) or v1 (a directory per controller, as on these Debian 12 machines).
 * Created by `sandbox` before the VMM starts, joined by the VMM's child before exec, removed
 * once the VMM was reaped.
 */
#ifndef SANDBOX_CGROUP_H
#define SANDBOX_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "../common/error.h"

#define CGROUP_MAX_DIRS 3 /* v1: memory, pids, cpu; v2: one */

struct cgroup_limits {
	uint64_t memory_bytes;		      /* hard limit, 0: none */
	uint64_t pids_max;		      /* tasks (threads count), 0: none */
	uint64_t cpu_quota_us, cpu_period_us; /* quota 0: none */
};

/* What the kernel takes for cpu.cfs_period_us / cpu.max (v1 and v2 alike). */
#define CGROUP_CPU_PERIOD_MIN_US 1000u
#define CGROUP_CPU_PERIOD_MAX_US 1000000u
#define CGROUP_CPU_QUOTA_MIN_US 1000u
#define CGROUP_CPU_PERIOD_DEFAULT_US 100000u
/* cpu.shares (v1) / cpu.weight (v2) of one busy host thread, the default of every group. */
#define CGROUP_V1_SHARES_PER_CPU 1024u
#define CGROUP_V1_SHARES_MAX 262144u
#define CGROUP_V2_WEIGHT_PER_CPU 100u
#define CGROUP_V2_WEIGHT_MAX 10000u

struct cgroup {
	char dirs[CGROUP_MAX_DIRS][PATH_MAX];
	unsigned ndirs;
	bool v2;
	bool claimed; /* claim_fd holds the name's lock (see cgroup_create) */
	int claim_fd;
};

/*
 * Checks a cpu quota (0: none) against the kernel's ranges, so that a bad value is one clear
 * line before anything is created. `what` names the setting in the message.
 */
int cgroup_check_cpu(const struct cgroup_limits *lim, const char *what, struct sbx_err *err);
/* The cpus a quota stands for, rounded up (1 without a quota): the group's cpu weight. */
unsigned cgroup_quota_cpus(const struct cgroup_limits *lim);

/* The cgroup filesystem root; SANDBOX_CGROUP_ROOT overrides it (tests). */
const char *cgroup_root(void);
/*
 * Where cgroup_create puts the groups of this process from now on: "" (the default) is
 * <controller>/sandbox/<name>; "/a/b" (an existing group, cgroup v1 only) is
 * <controller>/a/b/<name>, nested so that the counters of /a/b include the new group's tasks
 * (an OCI container's linux.cgroupsPath holds its VMM: docs/oci.md, "Host cgroup").
 */
void cgroup_set_parent(const char *rel);
/* The parent set by cgroup_set_parent ("" for sandbox/). */
const char *cgroup_parent(void);
/*
 * Creates <root>[/<controller>]/<parent>/<name> and writes the limits. -EEXIST (err untouched)
 * when the name is someone else's: its lock (under CGROUP_CLAIM_DIR, held until
 * cgroup_destroy or the process's death) is held, or its cgroup exists. The lock makes a name
 * unique across parents.
 */
int cgroup_create(struct cgroup *cg, const char *name, const struct cgroup_limits *lim,
		  struct sbx_err *err);
/* Moves the calling process into every directory; only open/write/close (after fork). */
int cgroup_join_self(const struct cgroup *cg);
/*
 * Removes leftover "<prefix>*" cgroups with no task that are over a minute old: those of VMMs
 * whose `sandbox` was killed before it could remove them (their ids become free again).
 */
void cgroup_sweep_stale(const char *prefix);
/* Removes the directories (they must be empty: call after the VMM was reaped). */
void cgroup_destroy(struct cgroup *cg);
/*
 * Removes the (empty) cgroup `name` under sandbox/ in every hierarchy, retrying while its last
 * task is still exiting (up to ~5 s); for a cgroup whose owner died (no struct cgroup left).
 */
void cgroup_remove_named(const char *name);
/* cgroup_remove_named for a group created under parent rel ("" for sandbox/). */
void cgroup_remove_named_in(const char *rel, const char *name);

#define CGROUP_CLAIM_DIR "/run/sandbox-cgroup-claims"

#endif

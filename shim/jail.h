/*
 * The VMM's jail (docs/security.md "Jail"), Firecracker's jailer built into `sandbox`:
 * new mount, pid, ipc and uts namespaces; pivot_root into an empty tmpfs under the run dir
 * holding only /dev/kvm, /proc (of its own pid namespace), the VMM binary, the kernel and
 * initramfs or the template snapshot, the disk, the serial log and the vsock socket directory;
 * a cgroup; rlimits; an unprivileged uid/gid of its own; no capabilities; no_new_privs.
 *
 * Parent side (jail_prepare, jail_bind): decide everything and allocate what needs allocating.
 * Child side (jail_enter): only system calls, between clone and exec.
 */
#ifndef SANDBOX_JAIL_H
#define SANDBOX_JAIL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/error.h"
#include "cgroup.h"

#define JAIL_MAX_MOUNTS 16
#define JAIL_UID_BASE_DEFAULT 900000u /* SANDBOX_JAIL_UID_BASE overrides */
#define JAIL_UID_COUNT 65536u	      /* ids tried from the base: one per concurrently running VM */
/* Memory the VMM process needs beyond guest RAM: its own heap, stacks, page tables, the
 * kernel image it reads on a cold boot; measured well under this (docs/security.md). */
#define JAIL_MEM_OVERHEAD_MIB 64u
#define JAIL_PIDS_MAX 64u /* threads: main, vCPUs, device I/O threads */
#define JAIL_NOFILE 4096u
/* Bounds how far the VMM can grow a file (its serial log); above any disk image it writes. */
#define JAIL_FSIZE (16ull << 30)

enum jail_bind_flags {
	JAIL_RO = 0,
	JAIL_RW = 1u << 0,
	JAIL_DIR = 1u << 1,
	JAIL_CHOWN = 1u << 2,  /* give the host file to the jail's uid (per-run files only) */
	JAIL_CREATE = 1u << 3, /* create the host file if missing (and then give it) */
};

struct jail_mount {
	char src[PATH_MAX];
	char dst[64]; /* path inside the jail */
	unsigned flags;
};

struct jail {
	uid_t uid;
	gid_t gid;
	char root[PATH_MAX]; /* <run-dir>/jail, the new root's mount point */
	dev_t kvm_rdev;
	struct jail_mount mounts[JAIL_MAX_MOUNTS];
	unsigned nmounts;
	struct cgroup cg;
	int parent_pidfd; /* readable once `sandbox` died: the child checks it after PDEATHSIG */
};

/* JAIL_BY_DEFAULT (jail.c), SANDBOX_JAIL=1 turns it on, SANDBOX_NO_JAIL=1 off (debugging). */
bool jail_enabled_by_env(void);

/* What the jail's cgroup bounds besides pids. */
struct jail_limits {
	unsigned memory_mib; /* guest RAM; the cgroup gets JAIL_MEM_OVERHEAD_MIB more */
	/* cpu.cfs_quota_us / cpu.max from the OCI cpu quota or `run --cpus`; quota 0: none */
	uint64_t cpu_quota_us, cpu_period_us;
};

/*
 * Allocates a uid/gid with its cgroup "vmm-<uid>" (lim: memory + JAIL_MEM_OVERHEAD_MIB, cpu
 * quota; pids), creates the (empty) jail root under run_dir. jail_release() undoes it, also
 * after a failure. A cpu quota outside the kernel's range is a one-line error, nothing made.
 */
int jail_prepare_limits(struct jail *j, const char *run_dir, const struct jail_limits *lim,
			struct sbx_err *err);
/* jail_prepare_limits without a cpu quota. */
int jail_prepare(struct jail *j, const char *run_dir, unsigned memory_mib, struct sbx_err *err);
/*
 * Makes host path `src` visible in the jail as "/<name>" (read-only unless JAIL_RW) and
 * returns that path (valid as long as j), or NULL with err set.
 */
const char *jail_bind(struct jail *j, const char *src, const char *name, unsigned flags,
		      struct sbx_err *err);
/* The socket directory inside the jail (a tmpfs dir owned by the jail's uid). */
#define JAIL_SOCK_DIR "/sock"
/*
 * clone() into new mount, pid, ipc and uts namespaces: returns like fork(). The child is pid 1
 * of its pid namespace.
 */
pid_t jail_clone(void);
/*
 * In the child: builds the jail and drops every privilege. Returns 0, or a negative errno with
 * `what` naming the failed step (static text).
 */
int jail_enter(const struct jail *j, const char **what);
/* After the VMM was reaped: removes the cgroup, the id lock and the root; accepts NULL. */
void jail_release(struct jail *j);
/*
 * For a run dir whose `sandbox` died before jail_release (SIGKILL): removes the jail's cgroup,
 * named in <run_dir>/jail-cgroup by jail_prepare. Called by `sandbox delete` and the sweep of
 * dead run dirs; a no-op when there is no such file.
 */
void jail_release_dead(const char *run_dir);

#endif

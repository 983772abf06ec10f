/*
 * The VMM's jail (shim/jail.h). The order in the child follows Firecracker's jailer: cgroup,
 * mounts, pivot_root, then limits, then the identity change that drops every capability,
 * no_new_privs last; seccomp comes after exec, per thread, inside the VMM (microvm/seccomp.h).
 */
#include "jail.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define JAIL_ID_TRIES 64u
#define JAIL_CGROUP_PREFIX "vmm-" /* + uid */

/* Whether `sandbox run` jails the VMM unless told otherwise (docs/security.md). */
#define JAIL_BY_DEFAULT true

bool jail_enabled_by_env(void)
{
	const char *off = getenv("SANDBOX_NO_JAIL"), *on = getenv("SANDBOX_JAIL");
	if (off && !strcmp(off, "1"))
		return false;
	return JAIL_BY_DEFAULT || (on && !strcmp(on, "1"));
}

static int uid_base(uint32_t *out, struct sbx_err *err)
{
	const char *e = getenv("SANDBOX_JAIL_UID_BASE");
	*out = JAIL_UID_BASE_DEFAULT;
	if (!e || !e[0])
		return 0;
	char *end;
	errno = 0;
	unsigned long v = strtoul(e, &end, 10);
	/* 0 is root and the top of the range must stay below (uid_t)-1, "no id". */
	if (e[0] < '0' || e[0] > '9' || errno || *end || v == 0 ||
	    v > UINT32_MAX - 1 - JAIL_UID_COUNT)
		return sbx_err_setx(err, EINVAL,
				    "SANDBOX_JAIL_UID_BASE '%s': expected a number in 1..%u", e,
				    UINT32_MAX - 1 - JAIL_UID_COUNT);
	*out = (uint32_t)v;
	return 0;
}

/*
 * One id per running VM: the cgroup "vmm-<uid>" is created with an exclusive mkdir, so it is
 * also the claim on the id; jail_release gives both back.
 */
static int claim_id_and_cgroup(struct jail *j, const struct cgroup_limits *lim, struct sbx_err *err)
{
	uint32_t base, start = 0;
	int r = uid_base(&base, err);
	if (r < 0)
		return r;
	if (getrandom(&start, sizeof(start), 0) != sizeof(start))
		start = (uint32_t)getpid();
	for (uint32_t i = 0; i < JAIL_ID_TRIES; i++) {
		uint32_t id = base + (start + i) % JAIL_UID_COUNT;
		char name[32];
		snprintf(name, sizeof(name), JAIL_CGROUP_PREFIX "%u", id);
		r = cgroup_create(&j->cg, name, lim, err);
		if (r == -EEXIST)
			continue;
		if (r < 0)
			return sbx_err_wrap(err, "jail");
		j->uid = (uid_t)id;
		j->gid = (gid_t)id;
		return 0;
	}
	return sbx_err_setx(err, EAGAIN, "jail: no free uid in %u..%u after %u tries", base,
			    base + JAIL_UID_COUNT - 1, JAIL_ID_TRIES);
}

#define JAIL_CGROUP_FILE "jail-cgroup"

/*
 * Names the cgroup in the run dir, so that it can be removed if `sandbox` is SIGKILLed:
 * "vmm-<uid>", then " <parent>" when it is nested in an OCI container's cgroup.
 */
static int record_cgroup(const char *run_dir, uid_t uid, struct sbx_err *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/" JAIL_CGROUP_FILE, run_dir);
	FILE *f = fopen(path, "we");
	const char *parent = cgroup_parent();
	if (!f ||
	    fprintf(f, JAIL_CGROUP_PREFIX "%u%s%s\n", (unsigned)uid, parent[0] ? " " : "", parent) <
		0 ||
	    fclose(f) != 0)
		return sbx_err_set(err, errno ? errno : EIO, "jail: write '%s'", path);
	return 0;
}

void jail_release_dead(const char *run_dir)
{
	char path[PATH_MAX], name[64] = "";
	snprintf(path, sizeof(path), "%s/" JAIL_CGROUP_FILE, run_dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	unsigned uid = 0;
	char line[PATH_MAX + 64] = "", parent[PATH_MAX] = "";
	int used = 0;
	/* Only a name of our own form, and a parent that cannot climb out of the hierarchy. */
	if (fgets(line, sizeof(line), f) &&
	    sscanf(line, JAIL_CGROUP_PREFIX "%u%n", &uid, &used) == 1 && uid > 0) {
		const char *rest = line + used;
		size_t n = strcspn(rest + (*rest == ' '), "\n");
		if (*rest == ' ' && rest[1] == '/' && n < sizeof(parent) && !strstr(rest, "/../") &&
		    !strstr(rest, "/..\n"))
			snprintf(parent, sizeof(parent), "%.*s", (int)n, rest + 1);
		snprintf(name, sizeof(name), JAIL_CGROUP_PREFIX "%u", uid);
		if (*rest == '\n' || !*rest || parent[0])
			cgroup_remove_named_in(parent, name);
	}
	fclose(f);
	unlink(path);
}

int jail_prepare_limits(struct jail *j, const char *run_dir, const struct jail_limits *jl,
			struct sbx_err *err)
{
	*j = (struct jail){.parent_pidfd = -1};
	struct cgroup_limits lim = {
	    .memory_bytes = ((uint64_t)jl->memory_mib + JAIL_MEM_OVERHEAD_MIB) << 20,
	    .pids_max = JAIL_PIDS_MAX,
	    .cpu_quota_us = jl->cpu_quota_us,
	    .cpu_period_us = jl->cpu_period_us ? jl->cpu_period_us : CGROUP_CPU_PERIOD_DEFAULT_US,
	};
	int r = cgroup_check_cpu(&lim, "linux.resources.cpu", err);
	if (r < 0)
		return r;
	struct stat st;
	if (stat("/dev/kvm", &st) < 0 || !S_ISCHR(st.st_mode))
		return sbx_err_set(err, errno ? errno : ENODEV, "jail: /dev/kvm");
	j->kvm_rdev = st.st_rdev;
	cgroup_sweep_stale(JAIL_CGROUP_PREFIX);
	r = claim_id_and_cgroup(j, &lim, err);
	if (r < 0)
		return r;
	snprintf(j->root, sizeof(j->root), "%s/jail", run_dir);
	if ((r = record_cgroup(run_dir, j->uid, err)) < 0)
		return r;
	if (mkdir(j->root, 0755) < 0) {
		r = sbx_err_set(err, errno, "jail: mkdir '%s'", j->root);
		j->root[0] = '\0';
		return r;
	}
	j->parent_pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (j->parent_pidfd < 0)
		return sbx_err_set(err, errno, "jail: pidfd_open");
	return 0;
}

int jail_prepare(struct jail *j, const char *run_dir, unsigned memory_mib, struct sbx_err *err)
{
	return jail_prepare_limits(j, run_dir, &(struct jail_limits){.memory_mib = memory_mib},
				   err);
}

static int give_to_jail(const struct jail *j, const char *src, unsigned flags, struct sbx_err *err)
{
	if (flags & JAIL_CREATE) {
		int fd = open(src, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			close(fd);
			flags |= JAIL_CHOWN; /* ours: we just made it */
		} else if (errno != EEXIST) {
			return sbx_err_set(err, errno, "jail: create '%s'", src);
		}
	}
	if ((flags & JAIL_CHOWN) && chown(src, j->uid, j->gid) < 0)
		return sbx_err_set(err, errno, "jail: chown '%s'", src);
	return 0;
}

const char *jail_bind(struct jail *j, const char *src, const char *name, unsigned flags,
		      struct sbx_err *err)
{
	if (j->nmounts >= JAIL_MAX_MOUNTS) {
		sbx_err_setx(err, E2BIG, "jail: more than %u mounts", JAIL_MAX_MOUNTS);
		return NULL;
	}
	struct jail_mount *m = &j->mounts[j->nmounts];
	if (strlen(src) >= sizeof(m->src) || strlen(name) + 2 > sizeof(m->dst) ||
	    strstr(name, "..") || name[0] == '/') {
		sbx_err_setx(err, ENAMETOOLONG, "jail: cannot mount '%s' as '%s'", src, name);
		return NULL;
	}
	if (give_to_jail(j, src, flags, err) < 0)
		return NULL;
	struct stat st;
	if (stat(src, &st) < 0) {
		sbx_err_set(err, errno, "jail: '%s'", src);
		return NULL;
	}
	if (!S_ISDIR(st.st_mode) != !(flags & JAIL_DIR)) {
		sbx_err_setx(err, EINVAL, "jail: '%s' is %sa directory", src,
			     S_ISDIR(st.st_mode) ? "" : "not ");
		return NULL;
	}
	/* Absolute: the child binds it after chdir into the jail. */
	if (!realpath(src, m->src)) {
		sbx_err_set(err, errno, "jail: '%s'", src);
		return NULL;
	}
	snprintf(m->dst, sizeof(m->dst), "/%s", name);
	m->flags = flags;
	j->nmounts++;
	return m->dst;
}

pid_t jail_clone(void)
{
	/* Like fork() (no new stack: the child runs on a copy of ours), plus the namespaces. */
	return (pid_t)syscall(SYS_clone,
			      SIGCHLD | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS,
			      NULL, NULL, NULL, 0);
}

/* ---- child side: system calls only ---- */

/* Mount point, bind, then read-only (a bind ignores MS_RDONLY until remounted). */
static int mount_one(const struct jail_mount *m)
{
	const char *dst = m->dst + 1; /* relative to the new root, our cwd */
	char parent[sizeof(m->dst)];
	for (const char *p = strchr(dst, '/'); p; p = strchr(p + 1, '/')) {
		snprintf(parent, sizeof(parent), "%.*s", (int)(p - dst), dst);
		if (mkdir(parent, 0755) < 0 && errno != EEXIST)
			return -1;
	}
	if (m->flags & JAIL_DIR) {
		if (mkdir(dst, 0755) < 0)
			return -1;
	} else {
		int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return -1;
		close(fd);
	}
	if (mount(m->src, dst, NULL, MS_BIND, NULL) < 0)
		return -1;
	unsigned long fl = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV;
	return mount(NULL, dst, NULL, fl | ((m->flags & JAIL_RW) ? 0 : MS_RDONLY), NULL);
}

#define STEP(name, expr)                                                                           \
	do {                                                                                       \
		*what = (name);                                                                    \
		if ((expr) < 0)                                                                    \
			return -errno;                                                             \
	} while (0)

static int build_root(const struct jail *j, const char **what)
{
	STEP("make mounts private", mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	/* An empty tmpfs as the root: nothing of the host but what is bound below. */
	STEP("mount the jail's tmpfs",
	     mount("tmpfs", j->root, "tmpfs", MS_NOSUID, "size=1m,nr_inodes=64,mode=0755"));
	STEP("chdir to the jail", chdir(j->root));
	STEP("mkdir dev", mkdir("dev", 0755));
	STEP("mknod dev/kvm", mknod("dev/kvm", S_IFCHR | 0600, j->kvm_rdev));
	STEP("chown dev/kvm", chown("dev/kvm", j->uid, j->gid));
	STEP("mkdir proc", mkdir("proc", 0555));
	STEP("mkdir sock", mkdir(JAIL_SOCK_DIR + 1, 0700));
	for (unsigned i = 0; i < j->nmounts; i++)
		STEP("bind-mount into the jail", mount_one(&j->mounts[i]));
	/* After the mount points in it exist: the VMM creates its own listening socket there. */
	STEP("chown sock", chown(JAIL_SOCK_DIR + 1, j->uid, j->gid));
	/* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves
	 * nothing of the host reachable (pivot_root(2), "new_root and put_old may be the same"). */
	STEP("pivot_root", syscall(SYS_pivot_root, ".", "."));
	STEP("detach the old root", umount2(".", MNT_DETACH));
	STEP("chdir /", chdir("/"));
	/* This pid namespace's proc only (the VMM reads /proc/self/exe for its build id). */
	STEP("mount proc", mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
	return 0;
}

static int set_limits(const char **what)
{
	static const struct {
		int res;
		rlim_t v;
	} lims[] = {
	    {RLIMIT_NOFILE, JAIL_NOFILE},
	    {RLIMIT_NPROC, JAIL_PIDS_MAX},
	    {RLIMIT_FSIZE, JAIL_FSIZE},
	    {RLIMIT_CORE, 0}, /* guest memory must never land in a core file */
	};
	for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
		struct rlimit rl = {lims[i].v, lims[i].v};
		STEP("setrlimit", setrlimit(lims[i].res, &rl));
	}
	return 0;
}

static int drop_privileges(const struct jail *j, const char **what)
{
	*what = "drop capabilities and change uid/gid (libcap-ng)";
	capng_clear(CAPNG_SELECT_ALL);
	int r =
	    capng_change_id((int)j->uid, (int)j->gid, CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
	if (r < 0)
		return errno ? -errno : -EPERM;
	*what = "verify the dropped privileges";
	uid_t ru, eu, su;
	if (getresuid(&ru, &eu, &su) < 0 || ru != j->uid || eu != j->uid || su != j->uid ||
	    capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE)
		return -EPERM;
	/* A credential change clears the parent-death signal: set it again, then make sure
	 * `sandbox` did not die in between (it would never kill us). */
	STEP("PR_SET_PDEATHSIG", prctl(PR_SET_PDEATHSIG, SIGKILL));
	struct pollfd p = {.fd = j->parent_pidfd, .events = POLLIN};
	*what = "parent alive";
	if (poll(&p, 1, 0) != 0)
		return -ESRCH;
	STEP("PR_SET_NO_NEW_PRIVS", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	return 0;
}

int jail_enter(const struct jail *j, const char **what)
{
	*what = "join the cgroup";
	int r = cgroup_join_self(&j->cg);
	if (r < 0)
		return r;
	if ((r = build_root(j, what)) < 0)
		return r;
	STEP("sethostname", sethostname("sandbox-vmm", strlen("sandbox-vmm")));
	if ((r = set_limits(what)) < 0)
		return r;
	return drop_privileges(j, what);
}

void jail_release(struct jail *j)
{
	if (!j)
		return;
	cgroup_destroy(&j->cg);
	if (j->root[0]) {
		char rec[PATH_MAX + 16];
		snprintf(rec, sizeof(rec), "%s-cgroup", j->root); /* <run_dir>/jail-cgroup */
		unlink(rec);
		rmdir(j->root); /* its tmpfs went away with the VMM's mount namespace */
	}
	if (j->parent_pidfd >= 0)
		close(j->parent_pidfd);
	j->root[0] = '\0';
	j->parent_pidfd = -1;
}

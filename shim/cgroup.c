#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CGROUP_PARENT "sandbox" /* every VMM's cgroup lives under this one */
#define CGROUP_STALE_S 60

int cgroup_check_cpu(const struct cgroup_limits *lim, const char *what, struct sbx_err *err)
{
	if (!lim->cpu_quota_us)
		return 0;
	if (lim->cpu_period_us < CGROUP_CPU_PERIOD_MIN_US ||
	    lim->cpu_period_us > CGROUP_CPU_PERIOD_MAX_US)
		return sbx_err_setx(
		    err, EINVAL, "%s: cpu period %" PRIu64 " us is out of range (%u..%u)", what,
		    lim->cpu_period_us, CGROUP_CPU_PERIOD_MIN_US, CGROUP_CPU_PERIOD_MAX_US);
	if (lim->cpu_quota_us < CGROUP_CPU_QUOTA_MIN_US)
		return sbx_err_setx(err, EINVAL,
				    "%s: cpu quota %" PRIu64 " us is below the minimum of %u us",
				    what, lim->cpu_quota_us, CGROUP_CPU_QUOTA_MIN_US);
	return 0;
}

unsigned cgroup_quota_cpus(const struct cgroup_limits *lim)
{
	if (!lim->cpu_quota_us || !lim->cpu_period_us)
		return 1;
	uint64_t n = (lim->cpu_quota_us + lim->cpu_period_us - 1) / lim->cpu_period_us;
	return n > CGROUP_V2_WEIGHT_MAX / CGROUP_V2_WEIGHT_PER_CPU
		   ? CGROUP_V2_WEIGHT_MAX / CGROUP_V2_WEIGHT_PER_CPU
		   : (unsigned)n;
}

const char *cgroup_root(void)
{
	const char *e = getenv("SANDBOX_CGROUP_ROOT");
	return e && e[0] ? e : "/sys/fs/cgroup";
}

static int write_file(const char *dir, const char *file, const char *val, struct sbx_err *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return sbx_err_set(err, errno, "cgroup: open '%s'", path);
	ssize_t n = write(fd, val, strlen(val));
	int e = errno;
	close(fd);
	if (n != (ssize_t)strlen(val))
		return sbx_err_set(err, n < 0 ? e : EIO, "cgroup: write '%s' to '%s'", val, path);
	return 0;
}

/* cgroup_set_parent's group ("" : CGROUP_PARENT), for this process's next cgroup_create. */
static char parent_rel[PATH_MAX];

void cgroup_set_parent(const char *rel)
{
	snprintf(parent_rel, sizeof(parent_rel), "%s", rel ? rel : "");
}

const char *cgroup_parent(void)
{
	return parent_rel;
}

static int make_dir(struct cgroup *cg, const char *parent, const char *name, struct sbx_err *err)
{
	char *dir = cg->dirs[cg->ndirs];
	if (parent_rel[0] && !cg->v2) {
		/* The parent is someone else's (made by oci_cgroup.c): never created here. */
		snprintf(dir, PATH_MAX, "%s%s/%s", parent, parent_rel, name);
	} else {
		snprintf(dir, PATH_MAX, "%s/" CGROUP_PARENT, parent);
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return sbx_err_set(err, errno, "cgroup: mkdir '%s'", dir);
		/* v2: the controllers must be delegated to the parent's children. */
		if (cg->v2 &&
		    write_file(dir, "cgroup.subtree_control", "+memory +pids +cpu", err) < 0)
			return -err->code;
		snprintf(dir, PATH_MAX, "%s/" CGROUP_PARENT "/%s", parent, name);
	}
	if (mkdir(dir, 0755) < 0)
		return errno == EEXIST && cg->ndirs == 0
			   ? -EEXIST
			   : sbx_err_set(err, errno, "cgroup: mkdir '%s'", dir);
	cg->ndirs++;
	return 0;
}

/*
 * A name's lock: with nested groups (cgroup_set_parent) the same name can be made under two
 * parents, so the exclusive mkdir alone no longer makes it one VMM's (its uid's, jail.c).
 * flock: released by the kernel when the owner dies, so nothing goes stale.
 */
static int claim(struct cgroup *cg, const char *name, struct sbx_err *err)
{
	char path[PATH_MAX];
	if (mkdir(CGROUP_CLAIM_DIR, 0700) < 0 && errno != EEXIST)
		return sbx_err_set(err, errno, "cgroup: mkdir '%s'", CGROUP_CLAIM_DIR);
	snprintf(path, sizeof(path), CGROUP_CLAIM_DIR "/%s", name);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return sbx_err_set(err, errno, "cgroup: open '%s'", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		return e == EWOULDBLOCK ? -EEXIST : sbx_err_set(err, e, "cgroup: lock '%s'", path);
	}
	cg->claim_fd = fd;
	cg->claimed = true;
	return 0;
}

static int limit_v2(const struct cgroup *cg, const struct cgroup_limits *lim, struct sbx_err *err)
{
	char v[64];
	int r = 0;
	if (lim->memory_bytes) {
		snprintf(v, sizeof(v), "%" PRIu64, lim->memory_bytes);
		r = write_file(cg->dirs[0], "memory.max", v, err);
	}
	if (r >= 0 && lim->pids_max) {
		snprintf(v, sizeof(v), "%" PRIu64, lim->pids_max);
		r = write_file(cg->dirs[0], "pids.max", v, err);
	}
	if (r >= 0 && lim->cpu_quota_us) {
		snprintf(v, sizeof(v), "%" PRIu64 " %" PRIu64, lim->cpu_quota_us,
			 lim->cpu_period_us);
		r = write_file(cg->dirs[0], "cpu.max", v, err);
	}
	if (r >= 0) {
		snprintf(v, sizeof(v), "%u", cgroup_quota_cpus(lim) * CGROUP_V2_WEIGHT_PER_CPU);
		r = write_file(cg->dirs[0], "cpu.weight", v, err);
	}
	return r;
}

/* v1: dirs[0] memory, dirs[1] pids, dirs[2] cpu. */
static int limit_v1(const struct cgroup *cg, const struct cgroup_limits *lim, struct sbx_err *err)
{
	char v[64];
	int r = 0;
	if (lim->memory_bytes) {
		snprintf(v, sizeof(v), "%" PRIu64, lim->memory_bytes);
		r = write_file(cg->dirs[0], "memory.limit_in_bytes", v, err);
	}
	if (r >= 0 && lim->pids_max) {
		snprintf(v, sizeof(v), "%" PRIu64, lim->pids_max);
		r = write_file(cg->dirs[1], "pids.max", v, err);
	}
	if (r >= 0 && lim->cpu_quota_us) {
		snprintf(v, sizeof(v), "%" PRIu64, lim->cpu_period_us);
		r = write_file(cg->dirs[2], "cpu.cfs_period_us", v, err);
		snprintf(v, sizeof(v), "%" PRIu64, lim->cpu_quota_us);
		if (r >= 0)
			r = write_file(cg->dirs[2], "cpu.cfs_quota_us", v, err);
		snprintf(v, sizeof(v), "%u", cgroup_quota_cpus(lim) * CGROUP_V1_SHARES_PER_CPU);
		if (r >= 0)
			r = write_file(cg->dirs[2], "cpu.shares", v, err);
	}
	return r;
}

/*
 * The parent "sandbox" group stands, in its own parent, for every VM in it: with the default
 * weight (that of one busy host thread) all VMs together would get one thread's share of a
 * busy host, and a quota'd VM would not even start under load (docs/security.md, "cpu").
 * So its weight is the sum of its children's, each of which weighs as the cpus its quota
 * allows. Recomputed under a lock on the parent directory whenever a child comes or goes;
 * best effort: a failure only leaves the previous weight.
 */
static void rebalance_cpu_parent(const char *parent, bool v2)
{
	const char *file = v2 ? "cpu.weight" : "cpu.shares";
	const uint64_t unit = v2 ? CGROUP_V2_WEIGHT_PER_CPU : CGROUP_V1_SHARES_PER_CPU;
	const uint64_t max = v2 ? CGROUP_V2_WEIGHT_MAX : CGROUP_V1_SHARES_MAX;
	DIR *d = opendir(parent);
	if (!d)
		return;
	flock(dirfd(d), LOCK_EX); /* released by closedir */
	uint64_t sum = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[PATH_MAX], v[32] = "";
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", parent, e->d_name, file);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, v, sizeof(v) - 1) : -1;
		if (fd >= 0)
			close(fd);
		sum += n > 0 ? strtoull(v, NULL, 10) : unit;
	}
	sum = sum < unit ? unit : sum > max ? max : sum;
	char v[32];
	snprintf(v, sizeof(v), "%" PRIu64, sum);
	struct sbx_err ignored = {0};
	(void)write_file(parent, file, v, &ignored);
	closedir(d);
}

/* The cpu hierarchy's "sandbox" of either layout, when it exists. */
static void rebalance_cpu_parents(void)
{
	char dir[PATH_MAX];
	struct stat st;
	snprintf(dir, sizeof(dir), "%s/cpu/" CGROUP_PARENT, cgroup_root());
	if (stat(dir, &st) == 0)
		rebalance_cpu_parent(dir, false);
	snprintf(dir, sizeof(dir), "%s/" CGROUP_PARENT "/cpu.weight", cgroup_root());
	if (stat(dir, &st) == 0) {
		dir[strlen(dir) - strlen("/cpu.weight")] = '\0';
		rebalance_cpu_parent(dir, true);
	}
}

/* The cgroup's directory in the cpu hierarchy, or NULL (v1 without a quota). */
static const char *cpu_dir(const struct cgroup *cg)
{
	return cg->v2 ? (cg->ndirs ? cg->dirs[0] : NULL)
		      : (cg->ndirs == CGROUP_MAX_DIRS ? cg->dirs[CGROUP_MAX_DIRS - 1] : NULL);
}

int cgroup_create(struct cgroup *cg, const char *name, const struct cgroup_limits *lim,
		  struct sbx_err *err)
{
	static const char *const v1_ctrl[] = {"memory", "pids", "cpu"};
	const char *root = cgroup_root();
	struct statfs sf;
	*cg = (struct cgroup){0};
	if (statfs(root, &sf) < 0)
		return sbx_err_set(err, errno, "cgroup: statfs '%s'", root);
	cg->v2 = sf.f_type == CGROUP2_SUPER_MAGIC;
	int r = claim(cg, name, err);
	if (r < 0)
		return r;
	if (cg->v2) {
		r = make_dir(cg, root, name, err);
	} else {
		/* v1 cpu only for a quota: in the cpu hierarchy every jailed VMM would sit in one
		 * group whose weight is that of a single host process (cpu.shares 1024), so busy
		 * host tasks would starve all VMs together. Without a quota they compete as the
		 * processes they are. */
		unsigned n = lim->cpu_quota_us ? CGROUP_MAX_DIRS : CGROUP_MAX_DIRS - 1;
		for (unsigned i = 0; i < n && r >= 0; i++) {
			char parent[PATH_MAX];
			snprintf(parent, sizeof(parent), "%s/%s", root, v1_ctrl[i]);
			r = make_dir(cg, parent, name, err);
		}
	}
	if (r >= 0)
		r = cg->v2 ? limit_v2(cg, lim, err) : limit_v1(cg, lim, err);
	if (r < 0)
		cgroup_destroy(cg);
	else if (cpu_dir(cg))
		rebalance_cpu_parents();
	return r;
}

int cgroup_join_self(const struct cgroup *cg)
{
	for (unsigned i = 0; i < cg->ndirs; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/cgroup.procs", cg->dirs[i]);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		/* "0": the writing process itself (its pid differs inside its pid namespace). */
		ssize_t n = write(fd, "0", 1);
		int e = errno;
		close(fd);
		if (n != 1)
			return n < 0 ? -e : -EIO;
	}
	return 0;
}

/* Empty "<prefix>*" cgroups under dir older than CGROUP_STALE_S: their VMM is gone. */
static void sweep_dir(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	time_t now = time(NULL);
	while (d && (e = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;
		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		/* A young one may be waiting for its VMM to join; a busy one fails with EBUSY. */
		if (stat(path, &st) == 0 && now - st.st_ctime > CGROUP_STALE_S)
			rmdir(path);
	}
	if (d)
		closedir(d);
}

void cgroup_sweep_stale(const char *prefix)
{
	static const char *const v1_ctrl[] = {"memory", "pids", "cpu"};
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/" CGROUP_PARENT, cgroup_root());
	sweep_dir(dir, prefix);
	for (size_t i = 0; i < sizeof(v1_ctrl) / sizeof(v1_ctrl[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/%s/" CGROUP_PARENT, cgroup_root(), v1_ctrl[i]);
		sweep_dir(dir, prefix);
	}
	rebalance_cpu_parents();
}

void cgroup_destroy(struct cgroup *cg)
{
	bool had_cpu = cpu_dir(cg) != NULL;
	for (unsigned i = cg->ndirs; i-- > 0;)
		if (rmdir(cg->dirs[i]) < 0 && errno != ENOENT)
			fprintf(stderr, "sandbox: cgroup: rmdir '%s': %s\n", cg->dirs[i],
				strerror(errno));
	cg->ndirs = 0;
	if (cg->claimed)
		close(cg->claim_fd);
	cg->claimed = false;
	if (had_cpu)
		rebalance_cpu_parents();
}

void cgroup_remove_named_in(const char *rel, const char *name)
{
	static const char *const where[] = {"", "/memory", "/pids", "/cpu"};
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s%s%s/%s", cgroup_root(), where[i],
			 rel && rel[0] ? rel : "/" CGROUP_PARENT, name);
		/* EBUSY while the VMM (killed through its parent's death) is still being reaped. */
		for (int t = 0; t < 100 && rmdir(dir) < 0 && errno == EBUSY; t++)
			usleep(50 * 1000);
	}
	rebalance_cpu_parents();
}

void cgroup_remove_named(const char *name)
{
	cgroup_remove_named_in("", name);
}

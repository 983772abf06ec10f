#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CGROUP_PARENT "sandbox" /* every VMM's cgroup lives under this one */
#define CGROUP_STALE_S 60

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

static int make_dir(struct cgroup *cg, const char *parent, const char *name, struct sbx_err *err)
{
	char *dir = cg->dirs[cg->ndirs];
	snprintf(dir, PATH_MAX, "%s/" CGROUP_PARENT, parent);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return sbx_err_set(err, errno, "cgroup: mkdir '%s'", dir);
	/* v2: the controllers must be delegated to the parent's children. */
	if (cg->v2 && write_file(dir, "cgroup.subtree_control", "+memory +pids +cpu", err) < 0)
		return -err->code;
	snprintf(dir, PATH_MAX, "%s/" CGROUP_PARENT "/%s", parent, name);
	if (mkdir(dir, 0755) < 0)
		return errno == EEXIST && cg->ndirs == 0
			   ? -EEXIST
			   : sbx_err_set(err, errno, "cgroup: mkdir '%s'", dir);
	cg->ndirs++;
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
	}
	return r;
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
	int r = 0;
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
}

void cgroup_destroy(struct cgroup *cg)
{
	for (unsigned i = cg->ndirs; i-- > 0;)
		if (rmdir(cg->dirs[i]) < 0 && errno != ENOENT)
			fprintf(stderr, "sandbox: cgroup: rmdir '%s': %s\n", cg->dirs[i],
				strerror(errno));
	cg->ndirs = 0;
}

void cgroup_remove_named(const char *name)
{
	static const char *const where[] = {"", "/memory", "/pids", "/cpu"};
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s%s/" CGROUP_PARENT "/%s", cgroup_root(), where[i], name);
		/* EBUSY while the VMM (killed through its parent's death) is still being reaped. */
		for (int t = 0; t < 100 && rmdir(dir) < 0 && errno == EBUSY; t++)
			usleep(50 * 1000);
	}
}

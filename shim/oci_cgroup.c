/* linux.cgroupsPath as a host cgroup holding the monitor (shim/oci_cgroup.h). */
#include "oci_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "cgroup.h"
#include "oci_log.h"
#include "oci_security.h"
#include "oci_state.h"

#define MAX_HIERARCHIES 4  /* v1: memory, pids, cpuacct, cpu; v2: one */
#define RMDIR_TRIES 50	   /* x 100 ms: the last tasks of a killed monitor may still exit */
#define VMM_GONE_TRIES 300 /* x 100 ms: a killed VMM's guest memory takes a while to free */

struct hierarchy {
	char root[PATH_MAX]; /* e.g. /sys/fs/cgroup/memory, or the v2 root */
	bool created;	     /* the leaf was made here, so delete removes it */
};

struct oci_cg {
	struct hierarchy h[MAX_HIERARCHIES];
	unsigned n;
	bool v2;
	char rel[PATH_MAX]; /* "/default/ID" */
};

/* "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice", as systemd nests slices. */
static int expand_slice(const char *slice, char *out, size_t cap, struct sbx_err *err)
{
	size_t len = strlen(slice), used = 0;
	out[0] = '\0';
	if (!strcmp(slice, "-.slice"))
		return 0;
	if (len < 7 || strcmp(slice + len - 6, ".slice") || strchr(slice, '/') || slice[0] == '-')
		return sbx_err_setx(err, EINVAL, "cgroupsPath: '%s' is not a systemd slice", slice);
	size_t base = len - 6;
	for (size_t i = 0; i <= base; i++) {
		if (i < base && slice[i] != '-')
			continue;
		if (i > 0 && slice[i - 1] == '-')
			return sbx_err_setx(err, EINVAL, "cgroupsPath: '%s' is not a systemd slice",
					    slice);
		int n = snprintf(out + used, cap - used, "/%.*s.slice", (int)i, slice);
		if (n < 0 || (size_t)n >= cap - used)
			return sbx_err_setx(err, ENAMETOOLONG, "cgroupsPath: '%s' is too long",
					    slice);
		used += (size_t)n;
	}
	return 0;
}

static int check_components(const char *p, struct sbx_err *err)
{
	for (const char *c = p; *c;) {
		while (*c == '/')
			c++;
		size_t n = strcspn(c, "/");
		if ((n == 1 && c[0] == '.') || (n == 2 && !strncmp(c, "..", 2)))
			return sbx_err_setx(err, EINVAL, "cgroupsPath '%s': '.' or '..' component",
					    p);
		c += n;
	}
	for (const char *c = p; *c; c++)
		if (*c <= ' ' || *c == 0x7f)
			return sbx_err_setx(err, EINVAL,
					    "cgroupsPath '%s': space or control character", p);
	return 0;
}

int oci_cgroup_path(const char *cgroups_path, bool systemd, char *out, size_t cap,
		    struct sbx_err *err)
{
	out[0] = '\0';
	if (!cgroups_path || !cgroups_path[0])
		return 0;
	const char *c1 = strchr(cgroups_path, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	bool sd_form = c2 && !strchr(c2 + 1, ':') && cgroups_path[0] != '/';
	int n;
	if (systemd || sd_form) {
		if (!sd_form)
			return sbx_err_setx(err, EINVAL,
					    "cgroupsPath '%s': expected slice:prefix:name with "
					    "--systemd-cgroup",
					    cgroups_path);
		char slice[256], expanded[PATH_MAX];
		size_t sl = (size_t)(c1 - cgroups_path);
		if (sl >= sizeof(slice))
			return sbx_err_setx(err, ENAMETOOLONG, "cgroupsPath: slice is too long");
		snprintf(slice, sizeof(slice), "%.*s", (int)sl, cgroups_path);
		int r = expand_slice(sl ? slice : "system.slice", expanded, sizeof(expanded), err);
		if (r < 0)
			return r;
		if (!c2[1] || strchr(c2 + 1, '/') || memchr(c1 + 1, '/', (size_t)(c2 - c1 - 1)))
			return sbx_err_setx(err, EINVAL, "cgroupsPath '%s': bad prefix or name",
					    cgroups_path);
		n = c2 - c1 - 1 ? snprintf(out, cap, "%s/%.*s-%s.scope", expanded,
					   (int)(c2 - c1 - 1), c1 + 1, c2 + 1)
				: snprintf(out, cap, "%s/%s", expanded, c2 + 1);
	} else {
		n = snprintf(out, cap, "%s%s", cgroups_path[0] == '/' ? "" : "/", cgroups_path);
	}
	if (n < 0 || (size_t)n >= cap)
		return sbx_err_setx(err, ENAMETOOLONG, "cgroupsPath '%s' is too long",
				    cgroups_path);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	if (!strcmp(out, "/"))
		return sbx_err_setx(err, EINVAL, "cgroupsPath '%s' names the root cgroup",
				    cgroups_path);
	return check_components(out, err);
}

static int write_str(const char *dir, const char *file, const char *val, struct sbx_err *err)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return sbx_err_set(err, errno, "open '%s'", path);
	ssize_t w = write(fd, val, strlen(val));
	if (w != (ssize_t)strlen(val))
		return sbx_err_set(err, w < 0 ? errno : EIO, "write '%s' to '%s'", val, path);
	return 0;
}

static int write_u64(const char *dir, const char *file, unsigned long long v, struct sbx_err *err)
{
	char num[32];
	snprintf(num, sizeof(num), "%llu", v);
	return write_str(dir, file, num, err);
}

/* The hierarchies to use: v2's one, or the v1 controllers sandbox fills (cpu only if set). */
static void find_hierarchies(struct oci_cg *cg, bool want_cpu)
{
	char probe[PATH_MAX + 32];
	const char *root = cgroup_root();
	snprintf(probe, sizeof(probe), "%s/cgroup.controllers", root);
	cg->v2 = access(probe, F_OK) == 0;
	cg->n = 0;
	if (cg->v2) {
		snprintf(cg->h[cg->n++].root, PATH_MAX, "%s", root);
		return;
	}
	const char *ctl[] = {"memory", "pids", "cpuacct", want_cpu ? "cpu" : NULL};
	for (size_t i = 0; i < ARRAY_SIZE(ctl); i++) {
		struct stat st;
		snprintf(probe, sizeof(probe), "%s/%s", root, ctl[i] ? ctl[i] : "");
		if (ctl[i] && stat(probe, &st) == 0 && S_ISDIR(st.st_mode))
			snprintf(cg->h[cg->n++].root, PATH_MAX, "%s", probe);
	}
}

/* mkdir -p of root+rel; on v2 each parent delegates the controllers to its children. */
static int make_dirs(struct oci_cg *cg, struct hierarchy *h, struct sbx_err *err)
{
	char path[PATH_MAX * 2];
	size_t rl = strlen(h->root);
	snprintf(path, sizeof(path), "%s%s", h->root, cg->rel);
	for (char *p = path + rl + 1;; p++) {
		if (*p && *p != '/')
			continue;
		char c = *p;
		*p = '\0';
		if (cg->v2)
			(void)write_str(h->root, "cgroup.subtree_control", "+memory +pids +cpu",
					&(struct sbx_err){0});
		if (mkdir(path, 0755) == 0)
			h->created = !c;
		else if (errno != EEXIST)
			return sbx_err_set(err, errno, "create cgroup '%s'", path);
		if (cg->v2 && c)
			(void)write_str(path, "cgroup.subtree_control", "+memory +pids +cpu",
					&(struct sbx_err){0});
		if (!c)
			return 0;
		*p = c;
	}
}

static int write_limits(const struct oci_cg *cg, const struct hierarchy *h,
			const struct oci_resources *res, unsigned vm_mib, struct sbx_err *err)
{
	char dir[PATH_MAX * 2];
	snprintf(dir, sizeof(dir), "%s%s", h->root, cg->rel);
	unsigned long long mem = ((unsigned long long)vm_mib + OCI_CGROUP_OVERHEAD_MIB) << 20;
	const char *base = strrchr(h->root, '/') + 1;
	int r = 0;
	if (cg->v2 || !strcmp(base, "memory"))
		r = write_u64(dir, cg->v2 ? "memory.max" : "memory.limit_in_bytes", mem, err);
	if (r == 0 && (cg->v2 || !strcmp(base, "cpu")) && res->cpu_shares)
		r = cg->v2 ? write_u64(dir, "cpu.weight", oci_cpu_shares_to_weight(res->cpu_shares),
				       err)
			   : write_u64(dir, "cpu.shares", res->cpu_shares, err);
	if (r == 0 && (cg->v2 || !strcmp(base, "cpu")) && res->cpu_quota) {
		unsigned long long period = res->cpu_period ? res->cpu_period : 100000;
		if (cg->v2) {
			char v[64];
			snprintf(v, sizeof(v), "%llu %llu", (unsigned long long)res->cpu_quota,
				 period);
			r = write_str(dir, "cpu.max", v, err);
		} else {
			r = write_u64(dir, "cpu.cfs_period_us", period, err);
			r = r ?: write_u64(dir, "cpu.cfs_quota_us", res->cpu_quota, err);
		}
	}
	return r;
}

static int write_record(const char *id, const struct oci_cg *cg, struct sbx_err *err)
{
	char path[PATH_MAX];
	oci_state_file(id, OCI_CGROUP_RECORD, path, sizeof(path));
	FILE *f = fopen(path, "we");
	if (!f)
		return sbx_err_set(err, errno, "create '%s'", path);
	for (unsigned i = 0; i < cg->n; i++)
		fprintf(f, "%c %s %s\n", cg->h[i].created ? 'c' : 'j', cg->h[i].root, cg->rel);
	if (fclose(f) != 0)
		return sbx_err_set(err, errno, "write '%s'", path);
	return 0;
}

static int read_record(const char *id, struct oci_cg *cg)
{
	char path[PATH_MAX], line[PATH_MAX * 2 + 8];
	oci_state_file(id, OCI_CGROUP_RECORD, path, sizeof(path));
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	cg->n = 0;
	while (cg->n < MAX_HIERARCHIES && fgets(line, sizeof(line), f)) {
		char *root = line + 2, *rel = strchr(root, ' ');
		if (line[1] != ' ' || !rel)
			continue;
		*rel++ = '\0';
		rel[strcspn(rel, "\n")] = '\0';
		struct hierarchy *h = &cg->h[cg->n++];
		snprintf(h->root, sizeof(h->root), "%s", root);
		snprintf(cg->rel, sizeof(cg->rel), "%s", rel);
		h->created = line[0] == 'c';
	}
	fclose(f);
	return 0;
}

/* SIGKILL to the tasks left in a nested VMM group: a VMM whose monitor is gone, still dying. */
static void kill_tasks(const char *dir)
{
	char path[PATH_MAX * 2 + 320];
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	FILE *f = fopen(path, "re");
	int pid;
	while (f && fscanf(f, "%d", &pid) == 1)
		if (pid > 1)
			kill(pid, SIGKILL);
	if (f)
		fclose(f);
}

/*
 * A nested VMM group (the jail releases it when its VMM was reaped, which a killed or exiting
 * monitor may not have done yet): children go first. A VM's teardown can take seconds on a
 * loaded host, so the wait is VMM_GONE_TRIES.
 */
static void remove_vmm_children(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char sub[PATH_MAX * 2 + 300];
		if (e->d_type != DT_DIR ||
		    strncmp(e->d_name, OCI_CGROUP_VMM_PREFIX, strlen(OCI_CGROUP_VMM_PREFIX)))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		kill_tasks(sub);
		for (int t = 0; rmdir(sub) < 0 && errno == EBUSY && t < VMM_GONE_TRIES; t++)
			nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
	}
	if (d)
		closedir(d);
}

static void remove_dirs(const struct oci_cg *cg)
{
	for (unsigned i = 0; i < cg->n; i++) {
		char dir[PATH_MAX * 2];
		if (!cg->h[i].created)
			continue;
		snprintf(dir, sizeof(dir), "%s%s", cg->h[i].root, cg->rel);
		remove_vmm_children(dir);
		for (int t = 0; rmdir(dir) < 0 && errno == EBUSY && t < RMDIR_TRIES; t++)
			nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
		if (access(dir, F_OK) == 0)
			oci_warn("cgroup '%s' could not be removed: %s", dir, strerror(errno));
	}
}

static void leave(const struct oci_cg *cg)
{
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	for (unsigned i = 0; i < cg->n; i++)
		(void)write_str(cg->h[i].root, "cgroup.procs", pid, &(struct sbx_err){0});
}

int oci_cgroup_setup(const struct oci_spec *spec, const char *id, unsigned vm_mib,
		     struct sbx_err *err)
{
	struct oci_cg cg = {0};
	int r =
	    oci_cgroup_path(spec->cgroups_path, oci_g.systemd_cgroup, cg.rel, sizeof(cg.rel), err);
	if (r < 0 || !cg.rel[0])
		return r;
	find_hierarchies(&cg, spec->resources.cpu_shares || spec->resources.cpu_quota);
	char pid[16], dir[PATH_MAX * 2];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	for (unsigned i = 0; r == 0 && i < cg.n; i++)
		r = make_dirs(&cg, &cg.h[i], err);
	/* Recorded before anything joins it, so a killed monitor's cgroup is still found. */
	r = r ?: write_record(id, &cg, err);
	for (unsigned i = 0; r == 0 && i < cg.n; i++)
		r = write_limits(&cg, &cg.h[i], &spec->resources, vm_mib, err);
	for (unsigned i = 0; r == 0 && i < cg.n; i++) {
		snprintf(dir, sizeof(dir), "%s%s", cg.h[i].root, cg.rel);
		r = write_str(dir, "cgroup.procs", pid, err);
	}
	if (r < 0) {
		leave(&cg);
		remove_dirs(&cg);
		return sbx_err_wrap(err, "linux.cgroupsPath '%s'", spec->cgroups_path);
	}
	/* v1: the jail's VMM group goes inside, so that these counters include the VMM. v2 cannot
	 * (a group holding the monitor may not delegate memory/pids to children). */
	if (!cg.v2)
		cgroup_set_parent(cg.rel);
	oci_debug("cgroup %s joined in %u hierarchies", cg.rel, cg.n);
	return 0;
}

void oci_cgroup_leave(const char *id)
{
	struct oci_cg cg = {0};
	if (read_record(id, &cg) == 0)
		leave(&cg);
}

void oci_cgroup_remove(const char *id)
{
	struct oci_cg cg = {0};
	char path[PATH_MAX];
	if (read_record(id, &cg) < 0)
		return;
	remove_dirs(&cg);
	oci_state_file(id, OCI_CGROUP_RECORD, path, sizeof(path));
	unlink(path);
}

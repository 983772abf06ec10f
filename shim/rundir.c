#define _XOPEN_SOURCE 700
#include "rundir.h"
#include "jail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "oci_state.h"
#include "paths.h"

/*
 * Each run dir names its owner: "<pid> <start time>" (/proc/PID/stat field 22, so a reused
 * pid is not mistaken for the owner) in OWNER_FILE, written before anything else goes in.
 */
#define OWNER_FILE "owner"
/* A dir without an owner file is being created, or is older than this code: left alone
 * while this young. */
#define OWNERLESS_GRACE_S 60

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Temp file + rename: a sweeper never reads half an owner. */
static int write_owner(const char *dir, struct sbx_err *err)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	snprintf(path, sizeof(path), "%s/" OWNER_FILE, dir);
	snprintf(tmp, sizeof(tmp), "%s/." OWNER_FILE ".tmp", dir);
	pid_t self = getpid();
	unsigned long long start = oci_pid_start_time(self);
	if (start == 0) /* an owner nobody can check would be swept at once */
		return sbx_err_setx(err, EIO, "read the start time of pid %d from /proc",
				    (int)self);
	FILE *f = fopen(tmp, "we");
	if (!f)
		return sbx_err_set(err, errno, "create '%s'", tmp);
	int ok = fprintf(f, "%d %llu\n", (int)self, start) > 0;
	if (fclose(f) != 0 || !ok || rename(tmp, path) < 0) {
		int e = errno ? errno : EIO;
		unlink(tmp);
		return sbx_err_set(err, e, "write '%s'", path);
	}
	return 0;
}

/* Whether a unix socket bound under dir is listening (owners older than the owner file). */
static bool socket_bound_under(const char *dir)
{
	cleanup_fclose FILE *f = fopen("/proc/net/unix", "re");
	char line[PATH_MAX + 128];
	size_t dl = strlen(dir);
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');
		if (p && !strncmp(p, dir, dl) && p[dl] == '/')
			return true;
	}
	return false;
}

static bool owner_dead(const char *dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/" OWNER_FILE, dir);
	cleanup_fclose FILE *f = fopen(path, "re");
	int pid = 0;
	unsigned long long start = 0;
	if (f && fscanf(f, "%d %llu", &pid, &start) == 2 && pid > 0)
		return oci_pid_start_time((pid_t)pid) != start;
	if (f) /* unreadable contents: only our own code writes it, so it is half-gone */
		return true;
	/* The OCI commands keep containers in the same root (<root>/<id>/state.json): those are
	 * `sandbox delete`'s to remove, whatever their name looks like. */
	snprintf(path, sizeof(path), "%s/state.json", dir);
	struct stat st;
	if (lstat(path, &st) == 0 || errno != ENOENT)
		return false;
	if (stat(dir, &st) < 0 || time(NULL) - st.st_mtime < OWNERLESS_GRACE_S)
		return false;
	return !socket_bound_under(dir);
}

/* The name of a run dir rundir_create made: RUN_ID_LEN lowercase hex digits. */
static bool is_run_id(const char *name)
{
	if (strlen(name) != RUN_ID_LEN)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

void rundir_sweep_dead(const char *root)
{
	DIR *d = opendir(root);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[PATH_MAX];
		if (!is_run_id(e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", root, e->d_name);
		/* Two sweepers may both remove it: rmtree of a missing path is a no-op. */
		if (owner_dead(path)) {
			jail_release_dead(path);
			rmtree(path);
		}
	}
	if (d)
		closedir(d);
}

int rundir_create(struct rundir *d, struct sbx_err *err)
{
	const char *root = sandbox_run_root();
	d->path[0] = '\0';
	int r = mkdir_p(root, 0700);
	if (r < 0)
		return sbx_err_set(err, -r, "create state directory '%s'", root);
	rundir_sweep_dead(root);
	for (int attempt = 0; attempt < 8; attempt++) {
		unsigned char rnd[RUN_ID_LEN / 2];
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return sbx_err_set(err, errno, "getrandom");
		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(d->id + 2 * i, 3, "%02x", rnd[i]);
		snprintf(d->path, sizeof(d->path), "%s/%s", root, d->id);
		if (mkdir(d->path, 0700) == 0) {
			if ((r = write_owner(d->path, err)) < 0)
				rundir_remove(d);
			return r;
		}
		if (errno != EEXIST) {
			int e = errno;
			char failed[PATH_MAX];
			snprintf(failed, sizeof(failed), "%s", d->path);
			d->path[0] = '\0';
			return sbx_err_set(err, e, "create run directory '%s'", failed);
		}
	}
	d->path[0] = '\0';
	return sbx_err_setx(err, EEXIST, "could not pick a unique run id under '%s'", root);
}

void rundir_file(const struct rundir *d, const char *name, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", d->path, name);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void rmtree(const char *path)
{
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void rundir_remove(struct rundir *d)
{
	if (!d->path[0])
		return;
	rmtree(d->path);
	d->path[0] = '\0';
}

#define _XOPEN_SOURCE 700
#include "rundir.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"

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

int rundir_create(struct rundir *d, struct sbx_err *err)
{
	const char *root = sandbox_run_root();
	d->path[0] = '\0';
	int r = mkdir_p(root, 0700);
	if (r < 0)
		return sbx_err_set(err, -r, "create state directory '%s'", root);
	for (int attempt = 0; attempt < 8; attempt++) {
		unsigned char rnd[RUN_ID_LEN / 2];
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return sbx_err_set(err, errno, "getrandom");
		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(d->id + 2 * i, 3, "%02x", rnd[i]);
		snprintf(d->path, sizeof(d->path), "%s/%s", root, d->id);
		if (mkdir(d->path, 0700) == 0)
			return 0;
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

/*
 * Virtio-fs shares. The host already enforces read-only shares (virtiofsd serves them from a
 * read-only bind); MS_RDONLY here makes writes fail early with EROFS in the guest too.
 */
#include "mounts.h"

#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#define MOUNTS_PATH_MAX 4096

/* mkdir -p; an existing non-directory is left for mount() to refuse. */
static int mkdir_parents(const char *target, struct sbx_err *err)
{
	char path[MOUNTS_PATH_MAX];
	size_t n = strlen(target);
	if (n >= sizeof(path))
		return sbx_err_setx(err, ENAMETOOLONG, "mount target '%s' is too long", target);
	memcpy(path, target, n + 1);
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return sbx_err_set(err, errno, "create mount point '%s'", path);
		*p = c;
		if (!c)
			return 0;
	}
}

int mounts_apply(const struct sbx_run_req *req, struct sbx_err *err)
{
	for (size_t i = 0; i < req->n_mounts; i++) {
		const struct sbx_mount *m = &req->mounts[i];
		int r = mkdir_parents(m->target, err);
		if (r < 0)
			return r;
		unsigned long flags = MS_NOSUID | MS_NODEV | (m->ro ? MS_RDONLY : 0);
		if (mount(m->tag, m->target, "virtiofs", flags, NULL) < 0)
			return sbx_err_set(err, errno, "mount virtio-fs '%s' on '%s'", m->tag,
					   m->target);
	}
	return 0;
}

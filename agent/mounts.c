/*
 * Virtio-fs shares and guest tmpfs mounts named by the RUN (docs/virtiofs.md). Shares are
 * mounted with the new mount API: fsmount() makes a detached mount of the share with its own
 * read-only attribute, so one share can serve both a read-only and a read-write bind. The host
 * already enforces read-only shares (virtiofsd serves them from a read-only bind); the attribute
 * makes writes fail early with EROFS.
 */
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"

#define MOUNTS_PATH_MAX 4096
#define SHARE_ROOT_TYPE "virtiofs"
#define STAGING_DIR "/dev/.sbx-share" /* on the container's own /dev tmpfs */

/* mkdir -p; an existing non-directory is left for mount() to refuse. */
static int mkdir_parents(const char *target, size_t len, struct sbx_err *err)
{
	char path[MOUNTS_PATH_MAX];
	if (len >= sizeof(path))
		return sbx_err_setx(err, ENAMETOOLONG, "mount target '%s' is too long", target);
	memcpy(path, target, len);
	path[len] = '\0';
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (path[0] && mkdir(path, 0755) < 0 && errno != EEXIST)
			return sbx_err_set(err, errno, "create mount point '%s'", path);
		*p = c;
		if (!c)
			return 0;
	}
}

/* A file bind's target: its directory, then an empty file when missing. */
static int make_file_target(const char *target, struct sbx_err *err)
{
	const char *slash = strrchr(target, '/');
	int r = slash > target ? mkdir_parents(target, (size_t)(slash - target), err) : 0;
	if (r < 0)
		return r;
	struct stat st;
	if (stat(target, &st) == 0)
		return 0;
	int fd = open(target, O_CREAT | O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return sbx_err_set(err, errno, "create mount point '%s'", target);
	close(fd);
	return 0;
}

/* A detached mount of share tag; the caller closes it. */
static int share_open(const char *tag, bool ro, struct sbx_err *err)
{
	cleanup_close int fs = fsopen(SHARE_ROOT_TYPE, FSOPEN_CLOEXEC);
	if (fs < 0)
		return sbx_err_set(err, errno, "fsopen virtiofs");
	if (fsconfig(fs, FSCONFIG_SET_STRING, "source", tag, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return sbx_err_set(err, errno, "virtio-fs share '%s'", tag);
	unsigned attr = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (ro ? MOUNT_ATTR_RDONLY : 0);
	int mnt = fsmount(fs, FSMOUNT_CLOEXEC, attr);
	if (mnt < 0)
		return sbx_err_set(err, errno, "fsmount virtio-fs share '%s'", tag);
	return mnt;
}

/*
 * A file bind: Linux 6.1 clones only from mounts in our namespace (open_tree and MS_BIND refuse
 * a detached one), so the share is attached at a staging point on the container's own /dev
 * tmpfs for the moment of the bind, then detached. The container never runs while it is there.
 */
static int bind_file(int mnt, const struct sbx_mount *m, struct sbx_err *err)
{
	char src[MOUNTS_PATH_MAX];
	if ((size_t)snprintf(src, sizeof(src), "%s/%s", STAGING_DIR, m->subpath) >= sizeof(src))
		return sbx_err_setx(err, ENAMETOOLONG, "file name '%s' too long", m->subpath);
	if (mkdir(STAGING_DIR, 0700) < 0 && errno != EEXIST)
		return sbx_err_set(err, errno, "mkdir '%s'", STAGING_DIR);
	int r = 0;
	if (move_mount(mnt, "", AT_FDCWD, STAGING_DIR, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		r = sbx_err_set(err, errno, "attach virtio-fs share '%s'", m->tag);
	else if (mount(src, m->target, NULL, MS_BIND, NULL) < 0)
		r = sbx_err_set(err, errno, "bind '%s' of virtio-fs share '%s' on '%s'", m->subpath,
				m->tag, m->target);
	umount2(STAGING_DIR, MNT_DETACH);
	rmdir(STAGING_DIR);
	return r;
}

static int mount_share(const struct sbx_mount *m, struct sbx_err *err)
{
	int r = m->subpath ? make_file_target(m->target, err)
			   : mkdir_parents(m->target, strlen(m->target), err);
	if (r < 0)
		return r;
	cleanup_close int mnt = share_open(m->tag, m->ro, err);
	if (mnt < 0)
		return mnt;
	if (m->subpath)
		return bind_file(mnt, m, err);
	if (move_mount(mnt, "", AT_FDCWD, m->target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return sbx_err_set(err, errno, "mount virtio-fs '%s' on '%s'", m->tag, m->target);
	return 0;
}

static int mount_tmpfs(const struct sbx_mount *m, struct sbx_err *err)
{
	int r = mkdir_parents(m->target, strlen(m->target), err);
	if (r < 0)
		return r;
	unsigned long flags = MS_NOSUID | MS_NODEV | (m->ro ? MS_RDONLY : 0);
	if (mount("tmpfs", m->target, "tmpfs", flags, m->subpath) < 0)
		return sbx_err_set(err, errno, "mount tmpfs on '%s'", m->target);
	return 0;
}

/* The guest's cgroup2 hierarchy: the container is alone in its VM, so it sees only its own. */
static int mount_cgroup(const struct sbx_mount *m, struct sbx_err *err)
{
	int r = mkdir_parents(m->target, strlen(m->target), err);
	if (r < 0)
		return r;
	unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	if (mount("cgroup2", m->target, "cgroup2", flags, NULL) < 0)
		return sbx_err_set(err, errno, "mount cgroup2 on '%s'", m->target);
	/* Read-only per mount, not per superblock: cgroup2 has one superblock in the guest, and
	 * the pids limit (container_security.c) still writes to it through its own mount. */
	if (m->ro &&
	    mount(NULL, m->target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | flags, NULL) < 0)
		return sbx_err_set(err, errno, "remount cgroup2 on '%s' read-only", m->target);
	return 0;
}

int mounts_apply(const struct sbx_run_req *req, struct sbx_err *err)
{
	for (size_t i = 0; i < req->n_mounts; i++) {
		const struct sbx_mount *m = &req->mounts[i];
		int r = !strcmp(m->tag, SBX_MOUNT_TMPFS)    ? mount_tmpfs(m, err)
			: !strcmp(m->tag, SBX_MOUNT_CGROUP) ? mount_cgroup(m, err)
							    : mount_share(m, err);
		if (r < 0)
			return r;
	}
	return 0;
}

bool mounts_root_is_share(const struct sbx_run_req *req)
{
	return req->rootfs && req->rootfs_type && !strcmp(req->rootfs_type, SHARE_ROOT_TYPE);
}

/*
 * RUN rootfs "rw:TAG" / "ro:TAG" with type virtiofs: the share itself is the container's root,
 * writable unless root.readonly, without nosuid/nodev (an image's setuid binaries work, as
 * under runc; the VM bounds what they reach).
 */
int mounts_share_root(const struct sbx_run_req *req, const char *root, struct sbx_err *err)
{
	const char *s = req->rootfs;
	if (strlen(s) < 4 || (strncmp(s, "rw:", 3) && strncmp(s, "ro:", 3)))
		return sbx_err_setx(err, EINVAL,
				    "RUN: virtio-fs rootfs '%s' is not rw:TAG or ro:TAG", s);
	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		return sbx_err_set(err, errno, "mkdir '%s'", root);
	unsigned long flags = s[1] == 'o' ? MS_RDONLY : 0;
	if (mount(s + 3, root, SHARE_ROOT_TYPE, flags, NULL) < 0)
		return sbx_err_set(err, errno, "mount virtio-fs root '%s' on '%s'", s + 3, root);
	return 0;
}

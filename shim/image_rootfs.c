#include "image_rootfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "image_unpack.h"
#include "rootfs_image.h"
#include "rundir.h"

#define BUILD_PREFIX ".build-"
/* passwd/group bigger than this are not worth resolving names from. */
#define USERDB_MAX (4u << 20)

static void cache_paths(const struct image_store *s, const struct image_record *img,
			struct image_rootfs *out)
{
	const char *hex = img->manifest_digest + strlen("sha256:");
	snprintf(out->erofs, sizeof(out->erofs), "%s/" IMAGE_ROOTFS_DIR "/%s.erofs", s->root, hex);
	snprintf(out->userdb, sizeof(out->userdb), "%s/" IMAGE_ROOTFS_DIR "/%s.user", s->root, hex);
}

static int lock_cache(const struct image_store *s, struct sbx_err *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/" IMAGE_ROOTFS_DIR, s->root);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return sbx_err_set(err, errno, "create '%s'", path);
	snprintf(path, sizeof(path), "%s/" IMAGE_ROOTFS_DIR "/.lock", s->root);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return sbx_err_set(err, errno, "open '%s'", path);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int e = errno;
			close(fd);
			return sbx_err_set(err, e, "lock '%s'", path);
		}
	}
	return fd;
}

/* Under the lock no build runs: whatever a crashed one left can go. */
static void remove_stale_builds(const struct image_store *s)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	snprintf(dir, sizeof(dir), "%s/" IMAGE_ROOTFS_DIR, s->root);
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, BUILD_PREFIX, strlen(BUILD_PREFIX)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		rmtree(path);
	}
	closedir(d);
}

static bool layer_type_ok(const char *media_type)
{
	/* docker save archives name no media type; every other layer type is some tar. */
	return !media_type[0] || (strstr(media_type, "tar") && !strstr(media_type, "encrypted"));
}

static int unpack_layers(const struct image_store *s, const struct image_record *img,
			 const char *rootfs, struct sbx_err *err)
{
	for (size_t i = 0; i < img->n_layers; i++) {
		const struct image_layer *l = &img->layers[i];
		if (!layer_type_ok(l->media_type))
			return sbx_err_setx(err, ENOTSUP,
					    "layer %zu/%zu (%.19s): unsupported media type '%s'",
					    i + 1, img->n_layers, l->digest, l->media_type);
		char blob[PATH_MAX];
		int r = image_store_blob_path(s, l->digest, blob, sizeof(blob), err);
		if (r < 0)
			return r;
		if ((r = image_unpack_layer(rootfs, blob, err)) < 0)
			return sbx_err_wrap(err, "layer %zu/%zu (%.19s)", i + 1, img->n_layers,
					    l->digest);
	}
	return 0;
}

/* Copies rootfs/etc/NAME (resolved as the guest would, inside the rootfs) to dir/etc/NAME. */
static int copy_userdb_file(int root_fd, const char *dir, const char *name, struct sbx_err *err)
{
	char rel[64], dst[PATH_MAX];
	snprintf(rel, sizeof(rel), "etc/%s", name);
	snprintf(dst, sizeof(dst), "%s/etc/%s", dir, name);
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	cleanup_close int in = (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
	struct stat st;
	if (in < 0 || fstat(in, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > USERDB_MAX)
		return 0; /* no usable file: only numeric -u works, as with an image without one */
	cleanup_close int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0)
		return sbx_err_set(err, errno, "create '%s'", dst);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			return sbx_err_set(err, errno ? errno : EIO, "write '%s'", dst);
	return n < 0 ? sbx_err_set(err, errno, "read image's /%s", rel) : 0;
}

static int save_userdb(const char *rootfs, const char *dir, struct sbx_err *err)
{
	char etc[PATH_MAX];
	snprintf(etc, sizeof(etc), "%s/etc", dir);
	if (mkdir(dir, 0755) < 0 || mkdir(etc, 0755) < 0)
		return sbx_err_set(err, errno, "create '%s'", etc);
	cleanup_close int root_fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return sbx_err_set(err, errno, "open '%s'", rootfs);
	int r = copy_userdb_file(root_fd, dir, "passwd", err);
	return r < 0 ? r : copy_userdb_file(root_fd, dir, "group", err);
}

static int fsync_path(const char *path, int flags)
{
	cleanup_close int fd = open(path, flags | O_CLOEXEC);
	return fd < 0 || fsync(fd) < 0 ? -errno : 0;
}

/* The .user dir first, then the .erofs: the erofs being there means the entry is complete. */
static int commit(const char *build, const struct image_rootfs *dst, struct sbx_err *err)
{
	char image[PATH_MAX + 16], userdb[PATH_MAX + 16], dir[PATH_MAX];
	snprintf(image, sizeof(image), "%s/image.erofs", build);
	snprintf(userdb, sizeof(userdb), "%s/user", build);
	int r = fsync_path(image, O_RDONLY);
	if (r < 0)
		return sbx_err_set(err, -r, "fsync '%s'", image);
	rmtree(dst->userdb); /* a leftover of an entry whose .erofs was deleted by hand */
	if (rename(userdb, dst->userdb) < 0)
		return sbx_err_set(err, errno, "rename to '%s'", dst->userdb);
	if (rename(image, dst->erofs) < 0)
		return sbx_err_set(err, errno, "rename to '%s'", dst->erofs);
	snprintf(dir, sizeof(dir), "%s", dst->erofs);
	*strrchr(dir, '/') = '\0';
	fsync_path(dir, O_RDONLY | O_DIRECTORY);
	return 0;
}

static int build(struct image_store *s, const struct image_record *img,
		 const struct image_rootfs *dst, struct sbx_err *err)
{
	char tmp[PATH_MAX], rootfs[PATH_MAX + 16], image[PATH_MAX + 16], userdb[PATH_MAX + 16];
	snprintf(tmp, sizeof(tmp), "%s/" IMAGE_ROOTFS_DIR "/" BUILD_PREFIX "XXXXXX", s->root);
	/* 0700: set-uid files and device nodes of the image must not be reachable meanwhile. */
	if (!mkdtemp(tmp))
		return sbx_err_set(err, errno, "create build directory under '%s'", s->root);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
	snprintf(image, sizeof(image), "%s/image.erofs", tmp);
	snprintf(userdb, sizeof(userdb), "%s/user", tmp);
	int r = mkdir(rootfs, 0755) < 0 ? sbx_err_set(err, errno, "create '%s'", rootfs) : 0;
	if (r == 0)
		r = unpack_layers(s, img, rootfs, err);
	if (r == 0)
		r = save_userdb(rootfs, userdb, err);
	if (r == 0)
		r = rootfs_image_build(rootfs, image, err);
	if (r == 0)
		r = commit(tmp, dst, err);
	rmtree(tmp);
	return r;
}

int image_rootfs_get(struct image_store *s, const struct image_record *img,
		     struct image_rootfs *out, struct sbx_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!image_digest_valid(img->manifest_digest))
		return sbx_err_setx(err, EINVAL, "image has no valid manifest digest");
	cache_paths(s, img, out);
	struct stat st;
	if (stat(out->erofs, &st) == 0 && S_ISREG(st.st_mode))
		return 0; /* the fast path: nothing read, nothing rebuilt */
	cleanup_close int lock = lock_cache(s, err);
	if (lock < 0)
		return lock;
	if (stat(out->erofs, &st) == 0 && S_ISREG(st.st_mode))
		return 0; /* a concurrent run built it while we waited */
	remove_stale_builds(s);
	/* Keeps `prune` from deleting the layer blobs while they are read. */
	int r = image_store_hold(s, err);
	if (r < 0)
		return r;
	if ((r = build(s, img, out, err)) < 0)
		return r;
	out->built = true;
	return 0;
}

static bool kept(const char *name, const char *const *keep, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strncmp(keep[i], "sha256:", 7) &&
		    !strncmp(name, keep[i] + 7, IMAGE_DIGEST_HEX))
			return true;
	return false;
}

int image_rootfs_prune(struct image_store *s, const char *const *keep, size_t n, size_t *removed,
		       struct sbx_err *err)
{
	*removed = 0;
	cleanup_close int lock = lock_cache(s, err);
	if (lock < 0)
		return lock;
	remove_stale_builds(s);
	char dir[PATH_MAX], path[PATH_MAX + 256];
	snprintf(dir, sizeof(dir), "%s/" IMAGE_ROOTFS_DIR, s->root);
	DIR *d = opendir(dir);
	if (!d)
		return sbx_err_set(err, errno, "open '%s'", dir);
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len < IMAGE_DIGEST_HEX || kept(e->d_name, keep, n))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		rmtree(path);
		if (!strcmp(e->d_name + IMAGE_DIGEST_HEX, ".erofs"))
			(*removed)++;
	}
	closedir(d);
	return 0;
}

#include "image_unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../common/cleanup.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define READ_BLOCK (64 * 1024)
/* Deeper trees than this cannot come from a real image; it bounds the removal recursion. */
#define MAX_TREE_DEPTH 1024

struct dir_time {
	char *path;
	struct timespec ts[2];
};

struct unpack {
	int root; /* O_PATH fd of the rootfs directory */
	struct archive *a;
	struct dir_time *dirs; /* directory mtimes, set last: entries below change them */
	size_t n_dirs, cap_dirs;
};

/* Every lookup below the rootfs: a path (or symlink) that leaves it fails with EXDEV. */
static int open_beneath(int root, const char *path, int flags)
{
	struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	int fd = (int)syscall(SYS_openat2, root, path[0] ? path : ".", &how, sizeof(how));
	return fd < 0 ? -errno : fd;
}

/* "./a//b/" -> "a/b", "" for the root itself; absolute names and ".." are refused. */
static int clean_path(const char *name, char *out, size_t len, struct sbx_err *err)
{
	if (name[0] == '/')
		return sbx_err_setx(err, EINVAL, "entry '%s': absolute path", name);
	size_t n = 0;
	for (const char *p = name; *p;) {
		size_t cl = strcspn(p, "/");
		if (cl == 2 && p[0] == '.' && p[1] == '.')
			return sbx_err_setx(err, EINVAL, "entry '%s': '..' in path", name);
		if (cl && !(cl == 1 && p[0] == '.')) {
			if (n + cl + 2 > len)
				return sbx_err_setx(err, ENAMETOOLONG,
						    "entry '%.64s...': path too long", name);
			if (n)
				out[n++] = '/';
			memcpy(out + n, p, cl);
			n += cl;
		}
		p += cl;
		while (*p == '/')
			p++;
	}
	out[n] = '\0';
	return 0;
}

/* Splits a clean path in place: returns its last component, path keeps the parent ("" = root). */
static char *split_base(char *path)
{
	char *slash = strrchr(path, '/');
	if (!slash) {
		memmove(path + 1, path, strlen(path) + 1);
		path[0] = '\0';
		return path + 1;
	}
	*slash = '\0';
	return slash + 1;
}

static int fail_beneath(int r, const char *what, const char *path, struct sbx_err *err)
{
	if (r == -EXDEV || r == -ELOOP)
		return sbx_err_setx(err, EXDEV, "entry '%s': %s resolves outside the rootfs", path,
				    what);
	return sbx_err_set(err, -r, "entry '%s': %s", path, what);
}

/*
 * Opens the directory at the clean path dir (O_PATH), creating missing components 0755 the way
 * tar does for archives without directory entries.
 */
static int open_dir(int root, const char *dir, bool create, const char *entry, struct sbx_err *err)
{
	int fd = open_beneath(root, dir, O_PATH | O_DIRECTORY);
	if (fd != -ENOENT || !create)
		return fd >= 0 || fd == -ENOENT ? fd
						: fail_beneath(fd, "parent directory", entry, err);
	char prefix[PATH_MAX];
	snprintf(prefix, sizeof(prefix), "%s", dir);
	size_t len = strlen(prefix);
	for (size_t i = 0; i <= len; i++) {
		if (prefix[i] != '/' && prefix[i] != '\0')
			continue;
		prefix[i] = '\0';
		fd = open_beneath(root, prefix, O_PATH | O_DIRECTORY);
		if (fd == -ENOENT) {
			char *slash = strrchr(prefix, '/');
			const char *name = slash ? slash + 1 : prefix;
			if (slash)
				*slash = '\0';
			cleanup_close int pfd =
			    open_beneath(root, slash ? prefix : "", O_PATH | O_DIRECTORY);
			if (slash)
				*slash = '/';
			if (pfd < 0 || (mkdirat(pfd, name, 0755) < 0 && errno != EEXIST))
				return fail_beneath(pfd < 0 ? pfd : -errno, "parent directory",
						    entry, err);
			fd = open_beneath(root, prefix, O_PATH | O_DIRECTORY);
		}
		if (fd < 0)
			return fail_beneath(fd, "parent directory", entry, err);
		if (i < len) {
			close(fd);
			prefix[i] = '/';
		}
	}
	return fd;
}

static int remove_at(int dfd, const char *name, int depth);

/* Removes everything inside the directory dfd (not the directory itself). */
static int empty_dir(int dfd, int depth)
{
	if (depth > MAX_TREE_DEPTH)
		return -ELOOP;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	int r = 0;
	bool removed = true;
	/* Removing while reading may skip names: read again until a pass finds nothing. */
	while (r == 0 && removed) {
		removed = false;
		rewinddir(d);
		struct dirent *de;
		while (r == 0 && (de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			r = remove_at(dirfd(d), de->d_name, depth + 1);
			removed = true;
		}
	}
	closedir(d);
	return r;
}

/* rm -rf of one name in dfd, never following a symlink; a missing name is fine. */
static int remove_at(int dfd, const char *name, int depth)
{
	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR)
		return -errno;
	cleanup_close int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = empty_dir(fd, depth);
	if (r < 0)
		return r;
	return unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

/* Makes room for a new entry; returns 1 when an existing directory stays (dir over dir). */
static int clear_slot(int pfd, const char *base, bool want_dir)
{
	struct stat st;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (want_dir && S_ISDIR(st.st_mode))
		return 1;
	return remove_at(pfd, base, 0);
}

static int set_xattrs(struct archive_entry *e, int fd)
{
	const char *name;
	const void *value;
	size_t size;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		/* A host filesystem without xattr support cannot keep them; that is not the image's
		 * fault, and the rest of the tree is still right. */
		if (fsetxattr(fd, name, value, size, 0) < 0 && errno != ENOTSUP)
			return -errno;
	}
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[1] = (struct timespec){archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
	ts[0] = archive_entry_atime_is_set(e)
		    ? (struct timespec){archive_entry_atime(e), archive_entry_atime_nsec(e)}
		    : ts[1];
}

/* Owner, then mode (chown clears set-id bits), xattrs, times; fd is the entry itself. */
static int set_meta(struct archive_entry *e, int fd, bool times)
{
	if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0 ||
	    fchmod(fd, archive_entry_mode(e) & 07777) < 0)
		return -errno;
	int r = set_xattrs(e, fd);
	if (r < 0)
		return r;
	struct timespec ts[2];
	entry_times(e, ts);
	return times && futimens(fd, ts) < 0 ? -errno : 0;
}

static int write_file(struct unpack *u, struct archive_entry *e, int pfd, const char *base)
{
	cleanup_close int fd =
	    openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	const void *buf;
	size_t size;
	la_int64_t off;
	int r;
	/* Blocks come with their offsets: holes of sparse entries stay holes. */
	while ((r = archive_read_data_block(u->a, &buf, &size, &off)) == ARCHIVE_OK) {
		for (size_t done = 0; done < size;) {
			ssize_t w = pwrite(fd, (const char *)buf + done, size - done,
					   (off_t)off + (off_t)done);
			if (w < 0)
				return -errno;
			done += (size_t)w;
		}
	}
	if (r != ARCHIVE_EOF)
		return -EIO;
	if (ftruncate(fd, archive_entry_size(e)) < 0)
		return -errno;
	return set_meta(e, fd, true);
}

static int make_dir(struct unpack *u, struct archive_entry *e, int pfd, const char *base,
		    const char *path)
{
	if (base[0] && mkdirat(pfd, base, 0700) < 0 && errno != EEXIST)
		return -errno;
	cleanup_close int fd =
	    openat(pfd, base[0] ? base : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = set_meta(e, fd, false);
	if (r < 0)
		return r;
	if (u->n_dirs == u->cap_dirs) {
		size_t cap = u->cap_dirs ? 2 * u->cap_dirs : 64;
		struct dir_time *d = realloc(u->dirs, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		u->dirs = d;
		u->cap_dirs = cap;
	}
	struct dir_time *d = &u->dirs[u->n_dirs];
	if (!(d->path = strdup(path)))
		return -ENOMEM;
	entry_times(e, d->ts);
	u->n_dirs++;
	return 0;
}

static int make_symlink(struct archive_entry *e, int pfd, const char *base)
{
	const char *target = archive_entry_symlink(e);
	if (!target)
		return -EINVAL;
	struct timespec ts[2];
	entry_times(e, ts);
	/* The target is only data here; following it is what RESOLVE_BENEATH polices. */
	if (symlinkat(target, pfd, base) < 0 ||
	    fchownat(pfd, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
		     AT_SYMLINK_NOFOLLOW) < 0 ||
	    utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static int make_node(struct archive_entry *e, int pfd, const char *base)
{
	mode_t type = archive_entry_filetype(e);
	if (mknodat(pfd, base, type | 0600, type == AE_IFIFO ? 0 : archive_entry_rdev(e)) < 0)
		return -errno;
	/* Open without side effects (a fifo would block, a device would probe) to set the rest. */
	cleanup_close int fd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	struct timespec ts[2];
	entry_times(e, ts);
	if (fchownat(fd, "", (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
		     AT_EMPTY_PATH) < 0 ||
	    chmod(proc, archive_entry_mode(e) & 07777) < 0 || utimensat(AT_FDCWD, proc, ts, 0) < 0)
		return -errno;
	return 0;
}

static int make_hardlink(struct unpack *u, struct archive_entry *e, int pfd, const char *base,
			 const char *path, struct sbx_err *err)
{
	char target[PATH_MAX], shown[PATH_MAX];
	int r = clean_path(archive_entry_hardlink(e), target, sizeof(target), err);
	if (r < 0)
		return sbx_err_wrap(err, "hard link '%s'", path);
	snprintf(shown, sizeof(shown), "%s", target);
	char *tbase = split_base(target);
	if (!tbase[0])
		return sbx_err_setx(err, EINVAL, "hard link '%s': target is the rootfs", path);
	cleanup_close int tpfd = open_dir(u->root, target, false, shown, err);
	if (tpfd == -ENOENT)
		return sbx_err_setx(err, ENOENT, "hard link '%s': target '%s' does not exist", path,
				    shown);
	if (tpfd < 0)
		return sbx_err_wrap(err, "hard link '%s'", path);
	/* No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink, never what it names. */
	if (linkat(tpfd, tbase, pfd, base, 0) < 0)
		return errno == ENOENT
			   ? sbx_err_setx(err, ENOENT, "hard link '%s': target '%s' does not exist",
					  path, shown)
			   : sbx_err_set(err, errno, "hard link '%s' to '%s'", path, shown);
	return 0;
}

static bool is_whiteout(const char *base)
{
	return !strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX));
}

/* Pass 1: a whiteout hides what lower layers have at that name (not what this layer adds). */
static int apply_whiteout(struct unpack *u, char *path, struct sbx_err *err)
{
	char shown[PATH_MAX];
	snprintf(shown, sizeof(shown), "%s", path);
	char *base = split_base(path);
	if (!is_whiteout(base))
		return 0;
	cleanup_close int pfd = open_dir(u->root, path, false, shown, err);
	if (pfd == -ENOENT)
		return 0; /* nothing below to hide */
	if (pfd < 0)
		return pfd;
	int r = 0;
	if (!strcmp(base, WHITEOUT_OPAQUE)) {
		cleanup_close int dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = dfd < 0 ? -errno : empty_dir(dfd, 0);
	} else if (!strncmp(base, WHITEOUT_OPAQUE, strlen(WHITEOUT_PREFIX WHITEOUT_PREFIX))) {
		return 0; /* other aufs metadata (".wh..wh.plnk", ...): not part of the tree */
	} else {
		const char *name = base + strlen(WHITEOUT_PREFIX);
		if (!name[0] || !strcmp(name, ".") || !strcmp(name, ".."))
			return sbx_err_setx(err, EINVAL, "entry '%s': malformed whiteout", shown);
		r = remove_at(pfd, name, 0);
	}
	return r < 0 ? sbx_err_set(err, -r, "entry '%s': apply whiteout", shown) : 0;
}

/* Pass 2: every other entry, replacing what is at its name. */
static int apply_entry(struct unpack *u, struct archive_entry *e, char *path, struct sbx_err *err)
{
	char shown[PATH_MAX];
	snprintf(shown, sizeof(shown), "%s", path[0] ? path : ".");
	char *base = split_base(path);
	if (is_whiteout(base))
		return 0;
	mode_t type = archive_entry_filetype(e);
	bool hardlink = archive_entry_hardlink(e) != NULL;
	if (!hardlink && type == AE_IFSOCK)
		return 0; /* sockets are created by programs at run time, not shipped */
	cleanup_close int pfd = open_dir(u->root, path, true, shown, err);
	if (pfd < 0)
		return pfd;
	if (!base[0]) /* the rootfs itself: only its attributes */
		return type == AE_IFDIR ? make_dir(u, e, pfd, "", "") : 0;
	int r = clear_slot(pfd, base, !hardlink && type == AE_IFDIR);
	if (r < 0)
		return sbx_err_set(err, -r, "entry '%s': replace existing", shown);
	if (hardlink)
		return make_hardlink(u, e, pfd, base, shown, err);
	switch (type) {
	case AE_IFREG:
		r = write_file(u, e, pfd, base);
		break;
	case AE_IFDIR:
		r = make_dir(u, e, pfd, base, shown);
		break;
	case AE_IFLNK:
		r = make_symlink(e, pfd, base);
		break;
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		r = make_node(e, pfd, base);
		break;
	default:
		return sbx_err_setx(err, EINVAL, "entry '%s': unsupported type 0%o", shown,
				    (unsigned)type);
	}
	if (r == -EIO)
		return sbx_err_setx(err, EIO, "entry '%s': %s", shown, archive_error_string(u->a));
	return r < 0 ? sbx_err_set(err, -r, "entry '%s'", shown) : 0;
}

static int open_archive(struct unpack *u, const char *layer, struct sbx_err *err)
{
	u->a = archive_read_new();
	if (!u->a)
		return sbx_err_setx(err, ENOMEM, "archive_read_new");
	archive_read_support_filter_none(u->a);
	archive_read_support_filter_gzip(u->a);
	archive_read_support_filter_zstd(u->a);
	archive_read_support_filter_xz(u->a);
	archive_read_support_format_tar(u->a);
	if (archive_read_open_filename(u->a, layer, READ_BLOCK) != ARCHIVE_OK)
		return sbx_err_setx(err, EIO, "open layer '%s': %s", layer,
				    archive_error_string(u->a));
	return 0;
}

static void close_archive(struct unpack *u)
{
	if (u->a)
		archive_read_free(u->a);
	u->a = NULL;
}

/* One pass over the archive, calling whiteouts or entries. */
static int walk(struct unpack *u, const char *layer, bool whiteouts, struct sbx_err *err)
{
	int r = open_archive(u, layer, err);
	struct archive_entry *e;
	int ar;
	while (r == 0 && (ar = archive_read_next_header(u->a, &e)) != ARCHIVE_EOF) {
		if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
			r = sbx_err_setx(err, EIO, "read layer: %s", archive_error_string(u->a));
			break;
		}
		const char *name = archive_entry_pathname(e);
		char path[PATH_MAX];
		if (!name)
			r = sbx_err_setx(err, EINVAL, "entry without a name");
		else if ((r = clean_path(name, path, sizeof(path), err)) == 0)
			r = whiteouts ? apply_whiteout(u, path, err) : apply_entry(u, e, path, err);
	}
	close_archive(u);
	return r;
}

/* Directory times last, deepest first, after the entries below them stopped changing them. */
static int set_dir_times(struct unpack *u, struct sbx_err *err)
{
	for (size_t i = u->n_dirs; i-- > 0;) {
		cleanup_close int fd =
		    open_beneath(u->root, u->dirs[i].path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
			continue; /* replaced by a later entry of the same layer */
		if (fd < 0 || futimens(fd, u->dirs[i].ts) < 0)
			return sbx_err_set(err, fd < 0 ? -fd : errno, "entry '%s': set times",
					   u->dirs[i].path[0] ? u->dirs[i].path : ".");
	}
	return 0;
}

int image_unpack_layer(const char *rootfs, const char *layer, struct sbx_err *err)
{
	struct unpack u = {.root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC)};
	if (u.root < 0)
		return sbx_err_set(err, errno, "open rootfs '%s'", rootfs);
	/* Two passes: whiteouts first, as they may sit after this layer's own entries. */
	int r = walk(&u, layer, true, err);
	if (r == 0)
		r = walk(&u, layer, false, err);
	if (r == 0)
		r = set_dir_times(&u, err);
	for (size_t i = 0; i < u.n_dirs; i++)
		free(u.dirs[i].path);
	free(u.dirs);
	close(u.root);
	return r;
}

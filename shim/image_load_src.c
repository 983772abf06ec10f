/* Sources for `sandbox load`: layout directories and extracted archives (image_load_src.h). */
#include "image_load_src.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "rundir.h"

#define LINK_HOPS 8
#define LOAD_MAX_ENTRIES 100000

struct load_entry {
	char *path;		      /* normalised path inside the archive */
	char *target;		      /* normalised link target, or NULL */
	unsigned file;		      /* extracted as "f<file>" when target is NULL */
	char moved[IMAGE_DIGEST_MAX]; /* the blob it became once moved into the store, or "" */
};

bool load_path_normalize(const char *base, const char *path, char *out, size_t len)
{
	char buf[PATH_MAX * 2];
	if (snprintf(buf, sizeof(buf), "%s/%s", path[0] == '/' ? "" : base, path) >=
	    (int)sizeof(buf))
		return false;
	size_t n = 0;
	out[0] = '\0';
	for (char *save = NULL, *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			if (n == 0)
				return false;
			char *slash = strrchr(out, '/');
			n = slash ? (size_t)(slash - out) : 0;
			out[n] = '\0';
			continue;
		}
		int w = snprintf(out + n, len - n, "%s%s", n ? "/" : "", c);
		if (w < 0 || (size_t)w >= len - n)
			return false;
		n += (size_t)w;
	}
	return true;
}

static int add_entry(struct load_src *src, const char *path, const char *target, unsigned file)
{
	if (src->n >= LOAD_MAX_ENTRIES)
		return -E2BIG;
	struct load_entry *v = realloc(src->v, (src->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	src->v = v;
	v[src->n] = (struct load_entry){strdup(path), target ? strdup(target) : NULL, file, ""};
	if (!v[src->n].path || (target && !v[src->n].target))
		return -ENOMEM;
	src->n++;
	return 0;
}

static int copy_data(struct archive *a, int fd)
{
	const void *buf;
	size_t size;
	la_int64_t off;
	int r;
	while ((r = archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK) {
		for (size_t done = 0; done < size;) {
			ssize_t w = pwrite(fd, (const char *)buf + done, size - done,
					   (off_t)off + (off_t)done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -errno;
			done += (size_t)w;
		}
	}
	return r == ARCHIVE_EOF ? 0 : -EIO;
}

/* One archive entry: regular files are extracted, links recorded, everything else ignored. */
static int extract_entry(struct load_src *src, struct archive *a, struct archive_entry *e,
			 struct sbx_err *err)
{
	char path[PATH_MAX], target[PATH_MAX], dir[PATH_MAX];
	const char *raw = archive_entry_pathname(e);
	if (!raw || !load_path_normalize("", raw, path, sizeof(path)))
		return sbx_err_setx(err, EINVAL, "'%s': entry '%.200s' leaves the archive",
				    src->what, raw ? raw : "");
	if (!path[0]) /* the archive's root directory */
		return 0;
	const char *hard = archive_entry_hardlink(e);
	const char *sym = archive_entry_filetype(e) == AE_IFLNK ? archive_entry_symlink(e) : NULL;
	if (hard || sym) {
		snprintf(dir, sizeof(dir), "%s", path);
		char *slash = strrchr(dir, '/');
		*(slash ? slash : dir) = '\0';
		if (!load_path_normalize(hard ? "" : dir, hard ? hard : sym, target,
					 sizeof(target)))
			return sbx_err_setx(err, EINVAL,
					    "'%s': link '%.200s' points out of the "
					    "archive",
					    src->what, path);
		return add_entry(src, path, target, 0) < 0
			   ? sbx_err_setx(err, E2BIG, "'%s': too many entries", src->what)
			   : 0;
	}
	if (archive_entry_filetype(e) != AE_IFREG)
		return 0;
	char name[32];
	unsigned file = (unsigned)src->n;
	snprintf(name, sizeof(name), "f%u", file);
	cleanup_close int fd =
	    openat(src->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return sbx_err_set(err, errno, "'%s': extract '%s'", src->what, path);
	int r = copy_data(a, fd);
	if (r < 0)
		return sbx_err_setx(err, -r, "'%s': read '%s': %s", src->what, path,
				    archive_error_string(a) ?: strerror(-r));
	return add_entry(src, path, NULL, file) < 0
		   ? sbx_err_setx(err, E2BIG, "'%s': too many entries", src->what)
		   : 0;
}

static int extract(struct load_src *src, const char *path, struct sbx_err *err)
{
	struct archive *a = archive_read_new();
	if (!a)
		return sbx_err_set(err, ENOMEM, "'%s'", path);
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	int r = 0;
	if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
		r = sbx_err_setx(err, EINVAL, "'%s': not a readable archive: %s", path,
				 archive_error_string(a));
	} else {
		struct archive_entry *e;
		int st;
		while (r == 0 && (st = archive_read_next_header(a, &e)) == ARCHIVE_OK)
			r = extract_entry(src, a, e, err);
		if (r == 0 && st != ARCHIVE_EOF)
			r = sbx_err_setx(err, EINVAL, "'%s': not a valid tar archive: %s", path,
					 archive_error_string(a));
	}
	archive_read_free(a);
	return r;
}

int load_src_open(struct load_src *src, struct image_store *s, const char *path,
		  struct sbx_err *err)
{
	memset(src, 0, sizeof(*src));
	src->dirfd = -1;
	src->store = s;
	snprintf(src->what, sizeof(src->what), "%s", path);
	struct stat st;
	if (stat(path, &st) < 0)
		return sbx_err_set(err, errno, "'%s'", path);
	if (S_ISDIR(st.st_mode)) {
		snprintf(src->dir, sizeof(src->dir), "%s", path);
		src->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return src->dirfd < 0 ? sbx_err_set(err, errno, "open '%s'", path) : 0;
	}
	snprintf(src->dir, sizeof(src->dir), "%s/tmp/load.XXXXXX", s->root);
	if (!mkdtemp(src->dir)) {
		src->dir[0] = '\0';
		return sbx_err_set(err, errno, "create a directory in '%s/tmp'", s->root);
	}
	src->extracted = true;
	src->dirfd = open(src->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src->dirfd < 0)
		return sbx_err_set(err, errno, "open '%s'", src->dir);
	return extract(src, path, err);
}

void load_src_close(struct load_src *src)
{
	if (src->dirfd >= 0)
		close(src->dirfd);
	src->dirfd = -1;
	if (src->extracted && src->dir[0])
		rmtree(src->dir);
	for (size_t i = 0; i < src->n; i++) {
		free(src->v[i].path);
		free(src->v[i].target);
	}
	free(src->v);
	src->v = NULL;
	src->n = 0;
}

/* The extracted file an archive path names, following links; NULL if absent. */
static struct load_entry *lookup(const struct load_src *src, const char *path)
{
	char cur[PATH_MAX];
	if (!load_path_normalize("", path, cur, sizeof(cur)))
		return NULL;
	for (int hop = 0; hop <= LINK_HOPS; hop++) {
		struct load_entry *hit = NULL;
		for (size_t i = src->n; i-- > 0 && !hit;) /* a later entry replaces an earlier */
			if (!strcmp(src->v[i].path, cur))
				hit = &src->v[i];
		if (!hit || !hit->target)
			return hit;
		snprintf(cur, sizeof(cur), "%s", hit->target);
	}
	return NULL;
}

static int open_in(const struct load_src *src, const char *path)
{
	if (src->extracted) {
		const struct load_entry *e = lookup(src, path);
		char name[32];
		if (!e)
			return -ENOENT;
		if (e->moved[0]) { /* already renamed into the store */
			char blob[PATH_MAX];
			image_store_blob_path(src->store, e->moved, blob, sizeof(blob), NULL);
			int fd = open(blob, O_RDONLY | O_CLOEXEC);
			return fd < 0 ? -errno : fd;
		}
		snprintf(name, sizeof(name), "f%u", e->file);
		int fd = openat(src->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		return fd < 0 ? -errno : fd;
	}
	/* A layout directory: its symlinks may not lead out of it either. */
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	int fd = (int)syscall(SYS_openat2, src->dirfd, path, &how, sizeof(how));
	return fd < 0 ? -errno : fd;
}

bool load_src_exists(struct load_src *src, const char *path)
{
	int fd = open_in(src, path);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

int load_src_peek(struct load_src *src, const char *path, unsigned char *buf, size_t len)
{
	cleanup_close int fd = open_in(src, path);
	if (fd < 0)
		return fd;
	ssize_t n = pread(fd, buf, len, 0);
	return n < 0 ? -errno : (int)n;
}

int load_src_read(struct load_src *src, const char *path, size_t max, char **data, size_t *len,
		  struct sbx_err *err)
{
	cleanup_close int fd = open_in(src, path);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return sbx_err_set(err, fd < 0 ? -fd : errno, "'%s': '%s'", src->what, path);
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max)
		return sbx_err_setx(err, EFBIG, "'%s': '%s' is not a file of at most %zu bytes",
				    src->what, path, max);
	cleanup_free char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return sbx_err_set(err, ENOMEM, "'%s'", path);
	ssize_t n = pread(fd, buf, (size_t)st.st_size, 0);
	if (n != st.st_size)
		return sbx_err_set(err, n < 0 ? errno : EIO, "'%s': read '%s'", src->what, path);
	buf[n] = '\0';
	*len = (size_t)n;
	*data = steal_ptr(buf);
	return 0;
}

static int copy_to_tmp(int in, struct image_store *s, char *tmp, size_t len, struct sbx_err *err)
{
	cleanup_close int out = image_store_tmpfile(s, tmp, len, err);
	if (out < 0)
		return out;
	char buf[1 << 16];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write(out, buf, (size_t)n) != n) {
			int e = errno ?: EIO;
			unlink(tmp);
			return sbx_err_set(err, e, "copy into '%s'", tmp);
		}
	}
	return 0;
}

int load_src_put_blob(struct load_src *src, struct image_store *s, const char *path,
		      const char *digest, uint64_t size, char actual[IMAGE_DIGEST_MAX],
		      uint64_t *actual_size, struct sbx_err *err)
{
	char d[IMAGE_DIGEST_MAX], tmp[PATH_MAX];
	uint64_t got = 0;
	cleanup_close int fd = open_in(src, path);
	if (fd < 0)
		return sbx_err_set(err, -fd, "'%s': '%s'", src->what, path);
	int r = image_sha256_fd(fd, d, &got, err);
	if (r < 0)
		return r;
	if (digest && (strcmp(d, digest) || (size != UINT64_MAX && got != size)))
		return sbx_err_setx(err, EBADMSG,
				    "'%s': '%s' has digest %s and %llu bytes, "
				    "expected %s and %llu (corrupted)",
				    src->what, path, d, (unsigned long long)got, digest,
				    (unsigned long long)size);
	if (actual)
		snprintf(actual, IMAGE_DIGEST_MAX, "%s", d);
	if (actual_size)
		*actual_size = got;
	if (image_store_has_blob(s, d))
		return 0;
	struct load_entry *e = src->extracted ? lookup(src, path) : NULL;
	if (e)
		snprintf(tmp, sizeof(tmp), "%s/f%u", src->dir, e->file);
	else if ((r = copy_to_tmp(fd, s, tmp, sizeof(tmp), err)) < 0)
		return r;
	/* Extracted files are already under <root>/tmp: commit renames them, no copy. */
	r = image_store_commit_blob(s, tmp, d, got, err);
	if (r == 0 && e)
		snprintf(e->moved, sizeof(e->moved), "%s", d);
	return r;
}

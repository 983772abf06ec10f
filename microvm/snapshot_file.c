/*
 * The snapshot directory on disk: written into a temp dir next to the target, fsynced, then
 * swapped in with one rename, so a reader sees the old complete snapshot or the new complete
 * one, never a mix; a VMM killed half-way leaves only a temp dir that the next snapshot removes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "snapshot.h"

#define SNAP_PAGE 4096ull
#define SNAP_TMP_INFIX ".tmp-"
#define SNAP_PATH_MAX 4096

static int write_full(int fd, const void *buf, size_t len, off_t off)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_path(const char *path, struct sbx_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		return sbx_err_set(err, errno, "fsync '%s'", path);
	return 0;
}

/* Splits dir into its parent and base name (copies into the given buffers). */
static int split_dir(const char *dir, char *parent, char *base, struct sbx_err *err)
{
	char a[SNAP_PATH_MAX], b[SNAP_PATH_MAX];
	if (snprintf(a, sizeof(a), "%s", dir) >= (int)sizeof(a) || !*dir)
		return sbx_err_setx(err, ENAMETOOLONG, "snapshot dir '%s': bad path", dir);
	memcpy(b, a, sizeof(a));
	snprintf(parent, SNAP_PATH_MAX, "%s", dirname(a));
	snprintf(base, SNAP_PATH_MAX, "%s", basename(b));
	return 0;
}

void snap_dir_remove(const char *path)
{
	const char *names[] = {SNAP_STATE_FILE, SNAP_MEMORY_FILE};
	char p[SNAP_PATH_MAX];
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(p, sizeof(p), "%s/%s", path, names[i]);
		unlink(p);
	}
	rmdir(path);
}

/* Removes ".<base>.tmp-<pid>" dirs whose pid is gone: left by a VMM killed mid-snapshot. */
static void remove_stale(const char *parent, const char *base)
{
	char prefix[SNAP_PATH_MAX];
	snprintf(prefix, sizeof(prefix), ".%s" SNAP_TMP_INFIX, base);
	DIR *d = opendir(parent);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		long pid = strtol(e->d_name + strlen(prefix), NULL, 10);
		if (pid > 0 && pid != getpid() && kill((pid_t)pid, 0) == 0)
			continue; /* another VMM is writing it right now */
		char p[SNAP_PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", parent, e->d_name);
		snap_dir_remove(p);
	}
	closedir(d);
}

int snap_dir_begin(const char *dir, char *tmp, size_t tmp_len, struct sbx_err *err)
{
	char parent[SNAP_PATH_MAX], base[SNAP_PATH_MAX];
	int r = split_dir(dir, parent, base, err);
	if (r < 0)
		return r;
	remove_stale(parent, base);
	if (snprintf(tmp, tmp_len, "%s/.%s" SNAP_TMP_INFIX "%d", parent, base, (int)getpid()) >=
	    (int)tmp_len)
		return sbx_err_setx(err, ENAMETOOLONG, "snapshot dir '%s': path too long", dir);
	if (mkdir(tmp, 0755) < 0)
		return sbx_err_set(err, errno, "mkdir '%s'", tmp);
	return 0;
}

static int open_in(const char *dir, const char *name, int flags, char *path, struct sbx_err *err)
{
	snprintf(path, SNAP_PATH_MAX, "%s/%s", dir, name);
	int fd = open(path, flags | O_CLOEXEC, 0644);
	if (fd < 0)
		return sbx_err_set(err, errno, "open '%s'", path);
	return fd;
}

int snap_write_file(const char *dir, const char *name, const void *buf, size_t len,
		    struct sbx_err *err)
{
	char path[SNAP_PATH_MAX];
	cleanup_close int fd = open_in(dir, name, O_WRONLY | O_CREAT | O_TRUNC, path, err);
	if (fd < 0)
		return fd;
	int r = write_full(fd, buf, len, 0);
	if (r < 0 || fsync(fd) < 0)
		return sbx_err_set(err, r < 0 ? -r : errno, "write '%s'", path);
	return 0;
}

static bool page_is_zero(const uint8_t *p)
{
	static const uint8_t zero[SNAP_PAGE];
	return memcmp(p, zero, SNAP_PAGE) == 0;
}

/*
 * Which part of guest RAM may hold data: with a memfd, SEEK_DATA/SEEK_HOLE skip pages the guest
 * never touched without faulting them in; otherwise every page is a candidate.
 */
static uint64_t next_data(const struct guest_mem *m, uint64_t off, uint64_t *end)
{
	*end = m->size;
	if (m->memfd < 0)
		return off;
	off_t d = lseek(m->memfd, (off_t)off, SEEK_DATA);
	if (d < 0)
		return m->size; /* ENXIO: no data after off */
	off_t h = lseek(m->memfd, d, SEEK_HOLE);
	*end = h < 0 ? m->size : (uint64_t)h;
	return (uint64_t)d;
}

int snap_write_memory(const char *dir, const struct guest_mem *m, struct sbx_err *err)
{
	char path[SNAP_PATH_MAX];
	cleanup_close int fd =
	    open_in(dir, SNAP_MEMORY_FILE, O_WRONLY | O_CREAT | O_TRUNC, path, err);
	if (fd < 0)
		return fd;
	if (ftruncate(fd, (off_t)m->size) < 0)
		return sbx_err_set(err, errno, "ftruncate '%s'", path);
	uint64_t off = 0, end;
	while ((off = next_data(m, off, &end)) < m->size) {
		for (; off < end; off += SNAP_PAGE) {
			if (page_is_zero(m->host + off))
				continue; /* stays a hole: costs no disk and reads back as zeros */
			int r = write_full(fd, m->host + off, SNAP_PAGE, (off_t)off);
			if (r < 0)
				return sbx_err_set(err, -r, "write '%s'", path);
		}
	}
	if (fsync(fd) < 0)
		return sbx_err_set(err, errno, "fsync '%s'", path);
	return 0;
}

int snap_dir_commit(const char *tmp, const char *dir, struct sbx_err *err)
{
	char parent[SNAP_PATH_MAX], base[SNAP_PATH_MAX];
	int r = split_dir(dir, parent, base, err);
	if (r < 0 || (r = fsync_path(tmp, err)) < 0)
		return r;
	/* An existing snapshot is swapped out in the same step (rename cannot replace a
	 * non-empty dir); it then sits at the temp name and is removed. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) == 0)
		snap_dir_remove(tmp);
	else if (errno != ENOENT || rename(tmp, dir) < 0)
		return sbx_err_set(err, errno, "rename '%s' to '%s'", tmp, dir);
	return fsync_path(parent, err);
}

int snap_read_state(const char *dir, uint8_t **buf, size_t *len, struct sbx_err *err)
{
	char path[SNAP_PATH_MAX];
	cleanup_close int fd = open_in(dir, SNAP_STATE_FILE, O_RDONLY, path, err);
	struct stat st;
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return sbx_err_set(err, errno, "stat '%s'", path);
	if (st.st_size > SNAP_STATE_MAX)
		return sbx_err_setx(err, EFBIG, "'%s' is too large for a snapshot state", path);
	cleanup_free uint8_t *b = malloc((size_t)st.st_size + 1);
	if (!b)
		return sbx_err_set(err, ENOMEM, "read '%s'", path);
	ssize_t n = pread(fd, b, (size_t)st.st_size, 0);
	if (n != st.st_size)
		return sbx_err_set(err, n < 0 ? errno : EIO, "read '%s'", path);
	*buf = steal_ptr(b);
	*len = (size_t)n;
	return 0;
}

int snap_open_memory(const char *dir, uint64_t size, struct sbx_err *err)
{
	char path[SNAP_PATH_MAX];
	cleanup_close int fd = open_in(dir, SNAP_MEMORY_FILE, O_RDONLY, path, err);
	struct stat st;
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return sbx_err_set(err, errno, "stat '%s'", path);
	if ((uint64_t)st.st_size != size)
		return sbx_err_setx(err, EINVAL, "'%s' holds %lld bytes, the snapshot says %llu",
				    path, (long long)st.st_size, (unsigned long long)size);
	return steal_fd(fd);
}

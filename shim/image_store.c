/* The image store's directory, locks and blobs (image_store.h); the index is image_index.c. */
#include "image_store.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"

static int mkdir_p(const char *path, struct sbx_err *err)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return sbx_err_set(err, errno, "create directory '%s'", buf);
		if (!(*p = saved))
			return 0;
	}
}

int image_store_open(struct image_store *s, const char *root, struct sbx_err *err)
{
	s->lock_fd = -1;
	s->gc_fd = -1;
	if (!root || !*root)
		root = getenv(IMAGE_STORE_ROOT_ENV);
	if (!root || !*root)
		root = IMAGE_STORE_DEFAULT_ROOT;
	if (snprintf(s->root, sizeof(s->root), "%s", root) >= (int)sizeof(s->root) - 96)
		return sbx_err_setx(err, ENAMETOOLONG, "image store root '%s': path too long",
				    root);
	return 0;
}

/* The directories exist from the first write on: reading a store never creates one. */
static int ensure_layout(const struct image_store *s, struct sbx_err *err)
{
	static const char *const dirs[] = {"blobs/sha256", "tmp"};
	char path[PATH_MAX];
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", s->root, dirs[i]);
		if (mkdir_p(path, err) < 0)
			return sbx_err_wrap(err, "image store");
	}
	return 0;
}

bool image_store_exists(const struct image_store *s)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/blobs/sha256", s->root);
	return access(path, F_OK) == 0;
}

void image_store_close(struct image_store *s)
{
	image_store_unlock(s);
	if (s->gc_fd >= 0)
		close(s->gc_fd);
	s->gc_fd = -1;
}

static int flock_file(const struct image_store *s, const char *name, int op, struct sbx_err *err)
{
	char path[PATH_MAX];
	int r = ensure_layout(s, err);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s", s->root, name);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return sbx_err_set(err, errno, "open '%s'", path);
	while (flock(fd, op) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		return sbx_err_set(err, e, "lock '%s'", path);
	}
	return fd;
}

int image_store_lock(struct image_store *s, struct sbx_err *err)
{
	if (s->lock_fd >= 0)
		return 0;
	int fd = flock_file(s, "lock", LOCK_EX, err);
	if (fd < 0)
		return fd;
	s->lock_fd = fd;
	return 0;
}

void image_store_unlock(struct image_store *s)
{
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->lock_fd = -1;
}

int image_store_hold(struct image_store *s, struct sbx_err *err)
{
	if (s->gc_fd >= 0)
		return 0;
	int fd = flock_file(s, "gc.lock", LOCK_SH, err);
	if (fd < 0)
		return fd;
	s->gc_fd = fd;
	return 0;
}

bool image_digest_valid(const char *digest)
{
	if (!digest || strncmp(digest, "sha256:", 7) || strlen(digest) != 7 + IMAGE_DIGEST_HEX)
		return false;
	for (const char *p = digest + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

int image_store_blob_path(const struct image_store *s, const char *digest, char *buf, size_t len,
			  struct sbx_err *err)
{
	if (!image_digest_valid(digest))
		return sbx_err_setx(err, EINVAL, "invalid blob digest '%.80s'",
				    digest ? digest : "");
	int n = snprintf(buf, len, "%s/blobs/sha256/%s", s->root, digest + 7);
	if (n < 0 || (size_t)n >= len)
		return sbx_err_setx(err, ENAMETOOLONG, "blob path for %s: too long", digest);
	return 0;
}

bool image_store_has_blob(const struct image_store *s, const char *digest)
{
	char path[PATH_MAX];
	return image_store_blob_path(s, digest, path, sizeof(path), NULL) == 0 &&
	       access(path, F_OK) == 0;
}

int image_store_tmpfile(const struct image_store *s, char *path, size_t len, struct sbx_err *err)
{
	int r = ensure_layout(s, err);
	if (r < 0)
		return r;
	int n = snprintf(path, len, "%s/tmp/blob.XXXXXX", s->root);
	if (n < 0 || (size_t)n >= len)
		return sbx_err_setx(err, ENAMETOOLONG, "temp file under '%s': path too long",
				    s->root);
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return sbx_err_set(err, errno, "create temp file in '%s/tmp'", s->root);
	fchmod(fd, 0644);
	return fd;
}

static void hex_digest(const unsigned char *md, char *out)
{
	static const char hex[] = "0123456789abcdef";
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[7 + IMAGE_DIGEST_HEX] = '\0';
}

void image_sha256_buf(const void *data, size_t len, char *out)
{
	unsigned char md[32];
	EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
	hex_digest(md, out);
}

int image_sha256_fd(int fd, char *out, uint64_t *size, struct sbx_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return sbx_err_setx(err, ENOMEM, "sha256: cannot set up OpenSSL digest");
	}
	cleanup_free char *buf = malloc(1 << 16);
	if (!buf) {
		EVP_MD_CTX_free(ctx);
		return sbx_err_set(err, ENOMEM, "sha256");
	}
	uint64_t total = 0;
	ssize_t n;
	off_t off = 0;
	while ((n = pread(fd, buf, 1 << 16, off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			EVP_MD_CTX_free(ctx);
			return sbx_err_set(err, errno, "sha256: read");
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		off += n;
		total += (uint64_t)n;
	}
	unsigned char md[32];
	EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	hex_digest(md, out);
	if (size)
		*size = total;
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int image_store_commit_blob(struct image_store *s, const char *tmp_path, const char *digest,
			    uint64_t size, struct sbx_err *err)
{
	char dst[PATH_MAX], actual[IMAGE_DIGEST_MAX];
	uint64_t got = 0;
	int r = image_store_blob_path(s, digest, dst, sizeof(dst), err);
	cleanup_close int fd = r < 0 ? -1 : open(tmp_path, O_RDONLY | O_CLOEXEC);
	if (r == 0 && fd < 0)
		r = sbx_err_set(err, errno, "open '%s'", tmp_path);
	r = r ?: image_sha256_fd(fd, actual, &got, err);
	if (r == 0 && size != UINT64_MAX && got != size)
		r = sbx_err_setx(err, EBADMSG, "blob %s: got %llu bytes, expected %llu", digest,
				 (unsigned long long)got, (unsigned long long)size);
	if (r == 0 && strcmp(actual, digest))
		r = sbx_err_setx(err, EBADMSG, "blob %s: content has digest %s (corrupted)", digest,
				 actual);
	if (r == 0 && fsync(fd) < 0)
		r = sbx_err_set(err, errno, "fsync '%s'", tmp_path);
	if (r == 0 && rename(tmp_path, dst) < 0)
		r = sbx_err_set(err, errno, "rename '%s' to '%s'", tmp_path, dst);
	if (r < 0) {
		unlink(tmp_path);
		return r;
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/blobs/sha256", s->root);
	fsync_dir(dir);
	return 0;
}

int image_store_put_blob(struct image_store *s, const void *data, size_t len, const char *digest,
			 struct sbx_err *err)
{
	if (image_store_has_blob(s, digest))
		return 0;
	char tmp[PATH_MAX];
	cleanup_close int fd = image_store_tmpfile(s, tmp, sizeof(tmp), err);
	if (fd < 0)
		return fd;
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, (const char *)data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			unlink(tmp);
			return sbx_err_set(err, e, "write '%s'", tmp);
		}
		off += (size_t)n;
	}
	return image_store_commit_blob(s, tmp, digest, len, err);
}

int image_store_read_blob(const struct image_store *s, const char *digest, size_t max, char **data,
			  size_t *len, struct sbx_err *err)
{
	char path[PATH_MAX];
	int r = image_store_blob_path(s, digest, path, sizeof(path), err);
	if (r < 0)
		return r;
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return sbx_err_set(err, errno, "blob %s", digest);
	if ((uint64_t)st.st_size > max)
		return sbx_err_setx(err, EFBIG, "blob %s: %lld bytes, more than %zu", digest,
				    (long long)st.st_size, max);
	cleanup_free char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return sbx_err_set(err, ENOMEM, "blob %s", digest);
	size_t off = 0;
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return sbx_err_set(err, n < 0 ? errno : EIO, "read blob %s", digest);
		off += (size_t)n;
	}
	buf[off] = '\0';
	*len = off;
	*data = steal_ptr(buf);
	return 0;
}

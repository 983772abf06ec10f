#include "template_key.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"

#define HASH_CHUNK (1u << 20)

static void to_hex(const unsigned char *d, unsigned n, char *hex)
{
	for (unsigned i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static void evp_freep(EVP_MD_CTX **c)
{
	if (*c)
		EVP_MD_CTX_free(*c);
}
#define cleanup_evp __attribute__((cleanup(evp_freep)))

/* SHA-256 of everything readable from fd. */
static int hash_fd(int fd, const char *path, char hex[TEMPLATE_KEY_HEX + 1], struct sbx_err *err)
{
	cleanup_evp EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	cleanup_free unsigned char *buf = malloc(HASH_CHUNK);
	if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		return sbx_err_set(err, ENOMEM, "sha256 of '%s'", path);
	ssize_t n;
	while ((n = read(fd, buf, HASH_CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sbx_err_set(err, errno, "read '%s'", path);
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;
	EVP_DigestFinal_ex(ctx, d, &dl);
	to_hex(d, dl, hex);
	return 0;
}

static void sha256_str(const char *s, char hex[TEMPLATE_KEY_HEX + 1])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;
	EVP_Digest(s, strlen(s), d, &dl, EVP_sha256(), NULL);
	to_hex(d, dl, hex);
}

/* The cache entry's name is derived from the absolute path; its content from the stat. */
static void cache_paths(const char *cache_dir, const char *path, char *entry, size_t cap)
{
	char abs[PATH_MAX], h[TEMPLATE_KEY_HEX + 1];
	if (!realpath(path, abs))
		snprintf(abs, sizeof(abs), "%s", path);
	sha256_str(abs, h);
	snprintf(entry, cap, "%s/%.32s", cache_dir, h);
}

static void stat_line(const struct stat *st, char *out, size_t cap)
{
	snprintf(out, cap, "%llu %llu %lld %lld.%09ld %lld.%09ld", (unsigned long long)st->st_dev,
		 (unsigned long long)st->st_ino, (long long)st->st_size,
		 (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec,
		 st->st_ctim.tv_nsec);
}

static int cache_lookup(const char *entry, const char *want, char hex[TEMPLATE_KEY_HEX + 1])
{
	cleanup_fclose FILE *f = fopen(entry, "re");
	char line[256], h[TEMPLATE_KEY_HEX + 2];
	if (!f || !fgets(line, sizeof(line), f) || !fgets(h, sizeof(h), f))
		return 0;
	line[strcspn(line, "\n")] = '\0';
	h[strcspn(h, "\n")] = '\0';
	if (strcmp(line, want) || !template_key_valid(h))
		return 0;
	memcpy(hex, h, TEMPLATE_KEY_HEX + 1);
	return 1;
}

/* Best effort: a cache that cannot be written only costs time. Temp + rename: never torn. */
static void cache_store(const char *cache_dir, const char *entry, const char *line, const char *hex)
{
	char tmp[PATH_MAX + 16];
	if (mkdir(cache_dir, 0700) < 0 && errno != EEXIST)
		return;
	snprintf(tmp, sizeof(tmp), "%s.%d", entry, (int)getpid());
	FILE *f = fopen(tmp, "we");
	if (!f)
		return;
	int ok = fprintf(f, "%s\n%s\n", line, hex) > 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, entry) < 0)
		unlink(tmp);
}

int template_file_hash(const char *cache_dir, const char *path, char hex[TEMPLATE_KEY_HEX + 1],
		       struct sbx_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return sbx_err_set(err, errno, "open '%s'", path);
	char entry[PATH_MAX], line[256];
	stat_line(&st, line, sizeof(line));
	if (cache_dir) {
		cache_paths(cache_dir, path, entry, sizeof(entry));
		if (cache_lookup(entry, line, hex))
			return 0;
	}
	int r = hash_fd(fd, path, hex, err);
	if (r < 0)
		return r;
	/* Stat again: a file rewritten while we read it must not be cached under the old stat. */
	struct stat after;
	if (cache_dir && fstat(fd, &after) == 0 && after.st_mtim.tv_sec == st.st_mtim.tv_sec &&
	    after.st_mtim.tv_nsec == st.st_mtim.tv_nsec && after.st_size == st.st_size)
		cache_store(cache_dir, entry, line, hex);
	return 0;
}

int template_key(const char *cache_dir, const struct template_spec *spec,
		 char key[TEMPLATE_KEY_HEX + 1], struct sbx_err *err)
{
	const char *files[] = {spec->paths.vmm, spec->paths.kernel, spec->paths.initrd};
	char hashes[3][TEMPLATE_KEY_HEX + 1];
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		int r = template_file_hash(cache_dir, files[i], hashes[i], err);
		if (r < 0)
			return r;
	}
	char text[512];
	snprintf(text, sizeof(text),
		 "sandbox-template\nformat %d\ncpus %u\nmemory %u\n%s\n%s\n%s\n", TEMPLATE_FORMAT,
		 spec->cpus, spec->memory_mib, hashes[0], hashes[1], hashes[2]);
	sha256_str(text, key);
	return 0;
}

int template_key_valid(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");
	return n == TEMPLATE_KEY_HEX && s[n] == '\0';
}

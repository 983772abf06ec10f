#define _XOPEN_SOURCE 700
#include "template.h"
#include "rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"

const char *template_root(void)
{
	const char *e = getenv("SANDBOX_TEMPLATE_DIR");
	return e && e[0] ? e : TEMPLATE_DEFAULT_ROOT;
}

void template_hash_cache(char *out, size_t cap)
{
	snprintf(out, cap, "%s/.hashcache", template_root());
}

static int mkdir_p(const char *path, mode_t mode, struct sbx_err *err)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return sbx_err_set(err, errno, "create template directory '%s'", tmp);
		if (!c)
			return 0;
		*p = c;
	}
}

int template_lock(const char *key, int op, struct sbx_err *err)
{
	int r = mkdir_p(template_root(), 0700, err);
	if (r < 0)
		return r;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s.lock", template_root(), key);
	cleanup_close int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return sbx_err_set(err, errno, "open lock '%s'", path);
	while (flock(fd, op) < 0)
		if (errno != EINTR)
			return sbx_err_set(err, errno, "lock '%s'", path);
	return steal_fd(fd);
}

static bool template_complete(const char *key)
{
	char meta[PATH_MAX];
	snprintf(meta, sizeof(meta), "%s/%s/meta", template_root(), key);
	return access(meta, R_OK) == 0;
}

int template_acquire(const struct template_spec *spec, bool rebuild, struct template_ref *t,
		     struct sbx_err *err)
{
	char cache[PATH_MAX];
	template_hash_cache(cache, sizeof(cache));
	t->lock_fd = -1;
	int r = template_key(cache, spec, t->key, err);
	if (r < 0)
		return sbx_err_wrap(err, "template key");
	if (rebuild && (r = template_build(spec, t->key, true, true, err)) < 0)
		return r;
	/* Two rounds: someone may remove the template between our build and our shared lock. */
	for (int round = 0; round < 2; round++) {
		int fd = template_lock(t->key, LOCK_SH, err);
		if (fd < 0)
			return fd;
		if (template_complete(t->key)) {
			t->lock_fd = fd;
			snprintf(t->snapshot, sizeof(t->snapshot), "%s/%s/snapshot",
				 template_root(), t->key);
			return 0;
		}
		close(fd);
		if ((r = template_build(spec, t->key, false, true, err)) < 0)
			return r;
	}
	return sbx_err_setx(err, EAGAIN, "template %.12s vanished while starting", t->key);
}

void template_release(struct template_ref *t)
{
	if (t->lock_fd >= 0)
		close(t->lock_fd); /* closing the last fd drops the flock */
	t->lock_fd = -1;
}

int template_meta_write(const char *dir, const struct template_spec *spec, struct sbx_err *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/meta", dir);
	FILE *f = fopen(path, "we");
	if (!f)
		return sbx_err_set(err, errno, "create '%s'", path);
	int ok = fprintf(f,
			 "format=%d\ncpus=%u\nmemory_mib=%u\ncreated=%lld\nvmm=%s\nkernel=%s\n"
			 "initrd=%s\n",
			 TEMPLATE_FORMAT, spec->cpus, spec->memory_mib, (long long)time(NULL),
			 spec->paths.vmm, spec->paths.kernel, spec->paths.initrd) > 0;
	ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
	if (fclose(f) != 0 || !ok)
		return sbx_err_set(err, errno ? errno : EIO, "write '%s'", path);
	return 0;
}

static void meta_field(struct template_meta *m, const char *k, const char *v)
{
	if (!strcmp(k, "format"))
		m->format = atoi(v);
	else if (!strcmp(k, "cpus"))
		m->cpus = (unsigned)strtoul(v, NULL, 10);
	else if (!strcmp(k, "memory_mib"))
		m->memory_mib = (unsigned)strtoul(v, NULL, 10);
	else if (!strcmp(k, "created"))
		m->created = strtoll(v, NULL, 10);
	else if (!strcmp(k, "vmm"))
		snprintf(m->vmm, sizeof(m->vmm), "%s", v);
	else if (!strcmp(k, "kernel"))
		snprintf(m->kernel, sizeof(m->kernel), "%s", v);
	else if (!strcmp(k, "initrd"))
		snprintf(m->initrd, sizeof(m->initrd), "%s", v);
}

int template_meta_read(const char *dir, struct template_meta *m, struct sbx_err *err)
{
	char path[PATH_MAX], line[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/meta", dir);
	memset(m, 0, sizeof(*m));
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f)
		return sbx_err_set(err, errno, "open '%s'", path);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *eq = strchr(line, '=');
		if (eq) {
			*eq = '\0';
			meta_field(m, line, eq + 1);
		}
	}
	if (!m->format || !m->cpus || !m->memory_mib)
		return sbx_err_setx(err, EINVAL, "'%s' is incomplete", path);
	return 0;
}

int template_remove(const char *key, struct sbx_err *err)
{
	char dir[PATH_MAX], trash[PATH_MAX + 32];
	snprintf(dir, sizeof(dir), "%s/%s", template_root(), key);
	if (access(dir, F_OK) < 0)
		return sbx_err_setx(err, ENOENT, "no template '%s'", key);
	/* Exclusive: waits for VMMs that are mapping it right now. */
	cleanup_close int fd = template_lock(key, LOCK_EX, err);
	if (fd < 0)
		return fd;
	/* Rename first, so a crash mid-delete leaves a .trash dir, never a half template. */
	snprintf(trash, sizeof(trash), "%s/.trash-%s-%d", template_root(), key, (int)getpid());
	if (rename(dir, trash) < 0)
		return sbx_err_set(err, errno, "remove template '%s'", dir);
	rmtree(trash);
	/* The lock file stays: unlinking it would let a waiter lock a file nobody else sees. */
	return 0;
}

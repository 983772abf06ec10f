/*
 * Garbage collection of the image store: blobs no index entry names and temp files left by
 * interrupted pulls. Runs only when no pull or load holds <root>/gc.lock, so it never deletes
 * a blob that is downloaded but not yet indexed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "image_rootfs.h"
#include "image_store.h"
#include "rundir.h"

struct digest_set {
	char (*v)[IMAGE_DIGEST_MAX];
	size_t n, cap;
};

static int set_add(struct digest_set *set, const char *d)
{
	if (!d[0])
		return 0;
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		void *v = realloc(set->v, cap * sizeof(*set->v));
		if (!v)
			return -ENOMEM;
		set->v = v;
		set->cap = cap;
	}
	snprintf(set->v[set->n++], IMAGE_DIGEST_MAX, "%s", d);
	return 0;
}

static bool set_has(const struct digest_set *set, const char *d)
{
	for (size_t i = 0; i < set->n; i++)
		if (!strcmp(set->v[i], d))
			return true;
	return false;
}

static int referenced(struct image_store *s, struct digest_set *set, struct sbx_err *err)
{
	struct image_record *recs = NULL;
	size_t n = 0;
	int r = image_store_list(s, &recs, &n, err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = r ?: set_add(set, recs[i].manifest_digest);
		r = r ?: set_add(set, recs[i].config_digest);
		r = r ?: set_add(set, recs[i].index_digest);
		for (size_t j = 0; r == 0 && j < recs[i].n_layers; j++)
			r = set_add(set, recs[i].layers[j].digest);
		if (r < 0)
			r = sbx_err_set(err, -r, "prune");
	}
	for (size_t i = 0; i < n; i++)
		image_record_free(&recs[i]);
	free(recs);
	return r;
}

/* Unlinks the files of dir whose "sha256:<name>" is not in keep (keep NULL: all of them). */
static int sweep(const char *dir, const struct digest_set *keep, size_t *count, uint64_t *bytes,
		 struct sbx_err *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : sbx_err_set(err, errno, "open '%s'", dir);
	struct dirent *e;
	char digest[IMAGE_DIGEST_MAX + 8];
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(digest, sizeof(digest), "sha256:%s", e->d_name);
		if (keep && set_has(keep, digest))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) { /* an interrupted load's extraction directory */
			char sub[PATH_MAX];
			snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
			if (!keep)
				rmtree(sub);
			continue;
		}
		if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
			(*count)++;
			*bytes += (uint64_t)st.st_size;
		}
	}
	closedir(d);
	return 0;
}

int image_store_prune(struct image_store *s, size_t *n_blobs, uint64_t *bytes, struct sbx_err *err)
{
	char path[PATH_MAX];
	*n_blobs = 0;
	*bytes = 0;
	if (!image_store_exists(s))
		return 0;
	snprintf(path, sizeof(path), "%s/gc.lock", s->root);
	cleanup_close int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return sbx_err_set(err, errno, "open '%s'", path);
	if (s->gc_fd >= 0)
		return sbx_err_setx(err, EBUSY, "prune: this process holds the store");
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return sbx_err_set(err, errno == EWOULDBLOCK ? EBUSY : errno,
				   "prune: a pull or load is using %s, try again when it is done",
				   s->root);
	/* The index lock too, so no entry appears between reading the index and sweeping. */
	bool locked_here = s->lock_fd < 0;
	int r = image_store_lock(s, err);
	struct digest_set keep = {0};
	size_t tmp_count = 0;
	uint64_t tmp_bytes = 0;
	*n_blobs = 0;
	*bytes = 0;
	r = r ?: referenced(s, &keep, err);
	if (r == 0) {
		snprintf(path, sizeof(path), "%s/blobs/sha256", s->root);
		r = sweep(path, &keep, n_blobs, bytes, err);
	}
	/* Cached erofs images of manifests no entry names any more (image_rootfs.h). */
	if (r == 0) {
		const char **names = calloc(keep.n ? keep.n : 1, sizeof(*names));
		size_t removed = 0;
		for (size_t i = 0; names && i < keep.n; i++)
			names[i] = keep.v[i];
		r = names ? image_rootfs_prune(s, names, keep.n, &removed, err)
			  : sbx_err_set(err, ENOMEM, "prune");
		free(names);
	}
	if (r == 0) {
		snprintf(path, sizeof(path), "%s/tmp", s->root);
		r = sweep(path, NULL, &tmp_count, &tmp_bytes, err);
		*bytes += tmp_bytes;
	}
	free(keep.v);
	if (locked_here)
		image_store_unlock(s);
	return r;
}

/*
 * What `sandbox load` reads from: an OCI layout directory as it is, or an archive (tar, maybe
 * compressed) whose regular files libarchive extracts into <root>/tmp/load.XXXXXX under
 * neutral names, with the archive's paths (and its symlinks and hard links, resolved only
 * within the archive) kept in a table. Blobs in an extracted archive are renamed into the
 * store, not copied. Layer contents are not looked at here.
 */
#ifndef SANDBOX_IMAGE_LOAD_SRC_H
#define SANDBOX_IMAGE_LOAD_SRC_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "image_store.h"

struct load_entry;

struct load_src {
	char what[PATH_MAX]; /* the user's path, for messages */
	char dir[PATH_MAX];  /* the layout directory, or the extraction directory */
	int dirfd;
	bool extracted;
	const struct image_store *store;
	struct load_entry *v;
	size_t n;
};

int load_src_open(struct load_src *src, struct image_store *s, const char *path,
		  struct sbx_err *err);
/* Removes the extraction directory (with whatever was not moved into the store). */
void load_src_close(struct load_src *src);

bool load_src_exists(struct load_src *src, const char *path);
/* A small file (JSON) into memory; -ENOENT naming it when absent. */
int load_src_read(struct load_src *src, const char *path, size_t max, char **data, size_t *len,
		  struct sbx_err *err);
/* Puts the file at path into the store. digest NULL: whatever its sha256 is; otherwise it must
 * match (and size, unless UINT64_MAX). actual / actual_size (may be NULL) receive them. */
int load_src_put_blob(struct load_src *src, struct image_store *s, const char *path,
		      const char *digest, uint64_t size, char actual[IMAGE_DIGEST_MAX],
		      uint64_t *actual_size, struct sbx_err *err);
/* The first bytes of the file at path (to tell gzip'd layers from plain tars). */
int load_src_peek(struct load_src *src, const char *path, unsigned char *buf, size_t len);

/* Lexically resolves path (relative to base, a directory inside the archive) into out; false
 * when it would leave the archive's root. Exposed for the unit tests. */
bool load_path_normalize(const char *base, const char *path, char *out, size_t len);

#endif

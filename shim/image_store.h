/*
 * The local image store: content-addressed blobs plus one index of named images.
 *
 * <root> = --root / $SANDBOX_IMAGE_ROOT / /var/lib/sandbox ; layout:
 *   <root>/blobs/sha256/<hex>   verified, immutable blobs
 *   <root>/index.json           the image index, replaced atomically (tmp + rename)
 *   <root>/tmp/                 temp files (same fs, for rename)
 *   <root>/lock                 flock: exclusive while writing the index
 *   <root>/rootfs/              owned by the unpacker (erofs cache)
 *
 * Crash safety: a blob only appears under blobs/ after its sha256 was checked (rename from tmp/),
 * the index is rewritten to tmp/ and renamed over index.json, so a crash at any point leaves
 * either the old or the new index and at worst unreferenced blobs / temp files that `prune`
 * removes. Docs: docs/images.md.
 */
#ifndef SANDBOX_IMAGE_STORE_H
#define SANDBOX_IMAGE_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"

#define IMAGE_STORE_DEFAULT_ROOT "/var/lib/sandbox"
#define IMAGE_STORE_ROOT_ENV "SANDBOX_IMAGE_ROOT"
#define IMAGE_DIGEST_MAX 72 /* "sha256:" + 64 hex + NUL */
#define IMAGE_DIGEST_HEX 64

struct image_layer {
	char digest[IMAGE_DIGEST_MAX];
	char media_type[128];
	uint64_t size;
};

struct image_record {
	char *name; /* normalised repository, e.g. "docker.io/library/busybox" */
	char *tag;  /* "latest", or NULL when pulled by digest */
	char manifest_digest[IMAGE_DIGEST_MAX];
	char config_digest[IMAGE_DIGEST_MAX];
	char index_digest[IMAGE_DIGEST_MAX]; /* manifest list / OCI index it came from, or "" */
	struct image_layer *layers;	     /* in order, base first */
	size_t n_layers;
	uint64_t size; /* sum of layer sizes */
	char *created; /* from the image config, RFC 3339, may be NULL */
	int64_t added; /* when it entered the store, seconds since the epoch */
};

struct image_store {
	char root[PATH_MAX];
	int lock_fd; /* -1 unless locked */
	int gc_fd;   /* -1 unless held */
};

/* root NULL: $SANDBOX_IMAGE_ROOT or the default. Creates nothing: the layout is made by the
 * first write (tmpfile, lock, hold), so reading a store that does not exist leaves none. */
int image_store_open(struct image_store *s, const char *root, struct sbx_err *err);
/* Whether anything was ever written to it. */
bool image_store_exists(const struct image_store *s);
void image_store_close(struct image_store *s);

/* ref: "busybox", "busybox:1.36", "reg:5000/a/b@sha256:..", or a manifest digest (with or
 * without "sha256:") / unique hex prefix of one; -ENOENT when absent. */
int image_store_find(struct image_store *s, const char *ref, struct image_record *out,
		     struct sbx_err *err);
void image_record_free(struct image_record *r);
/* A deep copy of src into dst; -ENOMEM. */
int image_record_copy(struct image_record *dst, const struct image_record *src);

/* "<root>/blobs/sha256/<hex>"; -EINVAL when digest is not a well-formed sha256 digest. */
int image_store_blob_path(const struct image_store *s, const char *digest, char *buf, size_t len,
			  struct sbx_err *err);
bool image_store_has_blob(const struct image_store *s, const char *digest);

/* Validates "sha256:<64 lowercase hex>". */
bool image_digest_valid(const char *digest);

/* A fresh temp file under <root>/tmp (O_RDWR|O_CLOEXEC, mode 0644); its path into path. */
int image_store_tmpfile(const struct image_store *s, char *path, size_t len, struct sbx_err *err);

/* Moves the temp file at tmp_path to blobs/ after checking its sha256 equals digest (and its
 * size equals size unless size is UINT64_MAX). On mismatch the temp file is removed and -EBADMSG
 * returned with a message naming expected and actual digests. */
int image_store_commit_blob(struct image_store *s, const char *tmp_path, const char *digest,
			    uint64_t size, struct sbx_err *err);
/* Same, for bytes already in memory (manifests, configs). */
int image_store_put_blob(struct image_store *s, const void *data, size_t len, const char *digest,
			 struct sbx_err *err);
/* Reads a whole blob (manifests, configs; capped at max bytes); caller frees *data. */
int image_store_read_blob(const struct image_store *s, const char *digest, size_t max, char **data,
			  size_t *len, struct sbx_err *err);

/* Index access. list: every record (caller frees each with image_record_free and the array). */
int image_store_list(struct image_store *s, struct image_record **out, size_t *n,
		     struct sbx_err *err);
/* Adds or replaces the (name, tag) entry (tag NULL: the (name, manifest digest) entry). All
 * blobs the record names must already be in the store. Takes the lock. */
int image_store_add(struct image_store *s, const struct image_record *rec, struct sbx_err *err);
/* Removes the entry ref resolves to (by name:tag; by digest: every entry with that manifest). */
int image_store_remove(struct image_store *s, const char *ref, struct image_record *removed,
		       struct sbx_err *err);
/* Deletes blobs no entry references and every temp file; counts what went. -EBUSY (and
 * nothing deleted) while a pull or load holds the store (image_store_hold). */
int image_store_prune(struct image_store *s, size_t *n_blobs, uint64_t *bytes, struct sbx_err *err);

/* Exclusive flock on <root>/lock (blocking), serialising index updates; released by unlock or
 * close. image_store_add/remove take it themselves. */
int image_store_lock(struct image_store *s, struct sbx_err *err);
void image_store_unlock(struct image_store *s);

/* Shared flock on <root>/gc.lock until close: while held, prune and rmi do not delete blobs or
 * temp files. Call before writing blobs that an index entry will name later (pull, load). */
int image_store_hold(struct image_store *s, struct sbx_err *err);

/* "sha256:<hex>" of the whole file / of a buffer; out must hold IMAGE_DIGEST_MAX bytes. */
int image_sha256_fd(int fd, char *out, uint64_t *size, struct sbx_err *err);
void image_sha256_buf(const void *data, size_t len, char *out);

#endif

/*
 * The image index, <root>/index.json: which names point at which manifests, and what those
 * manifests hold (so listing, finding and running an image never parse a manifest again).
 * Rewritten whole to a temp file and renamed over the old one under <root>/lock.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "../common/cleanup.h"
#include "image_json.h"
#include "image_ref.h"
#include "image_store.h"

#define INDEX_VERSION 1
#define INDEX_MAX_BYTES (64u << 20)
#define INDEX_MAX_LAYERS 1024

struct index {
	struct image_record *v;
	size_t n;
};

static void index_free(struct index *idx)
{
	for (size_t i = 0; i < idx->n; i++)
		image_record_free(&idx->v[i]);
	free(idx->v);
	idx->v = NULL;
	idx->n = 0;
}

void image_record_free(struct image_record *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->tag);
	free(r->created);
	free(r->layers);
	memset(r, 0, sizeof(*r));
}

int image_record_copy(struct image_record *dst, const struct image_record *src)
{
	*dst = *src;
	dst->name = strdup(src->name);
	dst->tag = src->tag ? strdup(src->tag) : NULL;
	dst->created = src->created ? strdup(src->created) : NULL;
	dst->layers = calloc(src->n_layers ? src->n_layers : 1, sizeof(*dst->layers));
	if (!dst->name || (src->tag && !dst->tag) || (src->created && !dst->created) ||
	    !dst->layers) {
		image_record_free(dst);
		return -ENOMEM;
	}
	memcpy(dst->layers, src->layers, src->n_layers * sizeof(*dst->layers));
	return 0;
}

static int copy_digest(char *dst, const char *src, bool optional)
{
	if (!src && optional) {
		dst[0] = '\0';
		return 0;
	}
	if (!image_digest_valid(src))
		return -EBADMSG;
	snprintf(dst, IMAGE_DIGEST_MAX, "%s", src);
	return 0;
}

static int parse_layers(json_val arr, struct image_record *r)
{
	size_t n = json_array_len(arr);
	if (n > INDEX_MAX_LAYERS)
		return -EBADMSG;
	r->layers = calloc(n ? n : 1, sizeof(*r->layers));
	if (!r->layers)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_val l = json_array_at(arr, i);
		const char *mt = json_get_str(l, "mediaType");
		struct image_layer *dst = &r->layers[i];
		if (copy_digest(dst->digest, json_get_str(l, "digest"), false) < 0 || !mt ||
		    strlen(mt) >= sizeof(dst->media_type) || !json_get_u64(l, "size", &dst->size))
			return -EBADMSG;
		snprintf(dst->media_type, sizeof(dst->media_type), "%s", mt);
	}
	r->n_layers = n;
	return 0;
}

static int parse_record(json_val e, struct image_record *r)
{
	const char *name = json_get_str(e, "name"), *tag = json_get_str(e, "tag");
	const char *created = json_get_str(e, "created");
	uint64_t added = 0;
	if (!name || copy_digest(r->manifest_digest, json_get_str(e, "manifest"), false) < 0 ||
	    copy_digest(r->config_digest, json_get_str(e, "config"), false) < 0 ||
	    copy_digest(r->index_digest, json_get_str(e, "index"), true) < 0 ||
	    !json_get_u64(e, "size", &r->size))
		return -EBADMSG;
	json_get_u64(e, "added", &added);
	r->added = (int64_t)added;
	r->name = strdup(name);
	r->tag = tag ? strdup(tag) : NULL;
	r->created = created ? strdup(created) : NULL;
	if (!r->name || (tag && !r->tag) || (created && !r->created))
		return -ENOMEM;
	return parse_layers(json_get(e, "layers"), r);
}

static int index_load(const struct image_store *s, struct index *idx, struct sbx_err *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/index.json", s->root);
	cleanup_fclose FILE *f = fopen(path, "re");
	idx->v = NULL;
	idx->n = 0;
	if (!f)
		return errno == ENOENT ? 0 : sbx_err_set(err, errno, "open '%s'", path);
	struct stat st;
	if (fstat(fileno(f), &st) < 0)
		return sbx_err_set(err, errno, "stat '%s'", path);
	if ((uint64_t)st.st_size >= INDEX_MAX_BYTES)
		return sbx_err_setx(err, EFBIG, "'%s': larger than %u bytes", path,
				    INDEX_MAX_BYTES);
	cleanup_free char *text = malloc((size_t)st.st_size + 1);
	if (!text)
		return sbx_err_set(err, ENOMEM, "read '%s'", path);
	size_t len = fread(text, 1, (size_t)st.st_size, f);
	if (ferror(f))
		return sbx_err_setx(err, EIO, "read '%s': I/O error", path);
	cleanup_json_val json_val doc = NULL;
	int r = json_parse(text, len, &doc, path, err);
	if (r < 0)
		return r;
	json_val images = json_get(doc, "images");
	size_t n = json_array_len(images);
	idx->v = calloc(n ? n : 1, sizeof(*idx->v));
	if (!idx->v)
		return sbx_err_set(err, ENOMEM, "read '%s'", path);
	for (size_t i = 0; i < n; i++) {
		idx->n = i + 1;
		if ((r = parse_record(json_array_at(images, i), &idx->v[i])) < 0) {
			index_free(idx);
			return sbx_err_setx(err, -r, "'%s': image entry %zu is malformed", path, i);
		}
	}
	return 0;
}

#define GEN_STR(g, s) yajl_gen_string((g), (const unsigned char *)(s), strlen(s))

static void gen_kv(yajl_gen g, const char *k, const char *v)
{
	if (!v)
		return;
	GEN_STR(g, k);
	GEN_STR(g, v);
}

static void gen_record(yajl_gen g, const struct image_record *r)
{
	yajl_gen_map_open(g);
	gen_kv(g, "name", r->name);
	gen_kv(g, "tag", r->tag);
	gen_kv(g, "manifest", r->manifest_digest);
	gen_kv(g, "config", r->config_digest);
	if (r->index_digest[0])
		gen_kv(g, "index", r->index_digest);
	GEN_STR(g, "size");
	yajl_gen_integer(g, (long long)r->size);
	gen_kv(g, "created", r->created);
	GEN_STR(g, "added");
	yajl_gen_integer(g, r->added);
	GEN_STR(g, "layers");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < r->n_layers; i++) {
		yajl_gen_map_open(g);
		gen_kv(g, "digest", r->layers[i].digest);
		gen_kv(g, "mediaType", r->layers[i].media_type);
		GEN_STR(g, "size");
		yajl_gen_integer(g, (long long)r->layers[i].size);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

static int write_all(int fd, const unsigned char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int index_save(const struct image_store *s, const struct index *idx, struct sbx_err *err)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	if (!g)
		return sbx_err_set(err, ENOMEM, "write image index");
	yajl_gen_config(g, yajl_gen_beautify, 1);
	yajl_gen_map_open(g);
	GEN_STR(g, "version");
	yajl_gen_integer(g, INDEX_VERSION);
	GEN_STR(g, "images");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < idx->n; i++)
		gen_record(g, &idx->v[i]);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	const unsigned char *buf;
	size_t len;
	yajl_gen_get_buf(g, &buf, &len);
	char tmp[PATH_MAX], dst[PATH_MAX];
	snprintf(dst, sizeof(dst), "%s/index.json", s->root);
	snprintf(tmp, sizeof(tmp), "%s/tmp/index.json.XXXXXX", s->root);
	int fd = mkostemp(tmp, O_CLOEXEC), r = 0;
	if (fd < 0)
		r = sbx_err_set(err, errno, "create temp file for '%s'", dst);
	else if ((r = write_all(fd, buf, len)) < 0 || (r = fsync(fd) < 0 ? -errno : 0) < 0)
		r = sbx_err_set(err, -r, "write '%s'", tmp);
	if (fd >= 0) {
		fchmod(fd, 0644);
		close(fd);
	}
	yajl_gen_free(g);
	if (r == 0 && rename(tmp, dst) < 0)
		r = sbx_err_set(err, errno, "rename '%s' to '%s'", tmp, dst);
	if (r < 0 && fd >= 0)
		unlink(tmp);
	return r;
}

static bool is_hex(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
			return false;
	return true;
}

static bool digest_matches(const struct image_record *r, const char *digest)
{
	return !strcmp(r->manifest_digest, digest) || !strcmp(r->index_digest, digest);
}

/* Indexes of the entries ref names into hits (at most cap); returns how many matched. */
/* A manifest digest or a prefix of one, as `images` shows it ("sha256:" optional). */
static bool is_id(const char *ref)
{
	const char *hex = !strncmp(ref, "sha256:", 7) ? ref + 7 : ref;
	return is_hex(hex) && strlen(hex) <= IMAGE_DIGEST_HEX;
}

/* 0 for a name or an ID; else what is wrong with ref as a name, rather than "not found". */
static int ref_check(const char *ref, struct sbx_err *err)
{
	struct image_ref p;
	return is_id(ref) ? 0 : image_ref_parse(ref, true, &p, err);
}

static int match(const struct index *idx, const char *ref, size_t *hits, size_t cap,
		 struct sbx_err *err)
{
	struct image_ref p;
	size_t n = 0;
	if (image_ref_parse(ref, true, &p, NULL) == 0) {
		for (size_t i = 0; i < idx->n && n < cap; i++) {
			const struct image_record *r = &idx->v[i];
			if (strcmp(r->name, p.name))
				continue;
			if (p.digest[0] ? digest_matches(r, p.digest)
					: (r->tag && !strcmp(r->tag, p.tag)))
				hits[n++] = i;
		}
		if (n)
			return (int)n;
	}
	/* Not a name: a manifest digest, or a unique prefix of one (as `images` shows it). */
	const char *hex = !strncmp(ref, "sha256:", 7) ? ref + 7 : ref;
	if (!is_id(ref))
		return ref_check(ref, err);
	const char *first = NULL;
	for (size_t i = 0; i < idx->n && n < cap; i++) {
		const char *d = idx->v[i].manifest_digest + 7;
		if (strncmp(d, hex, strlen(hex)))
			continue;
		if (first && strcmp(first, d))
			return sbx_err_setx(err, EINVAL, "image ID prefix '%s' is ambiguous", ref);
		first = d;
		hits[n++] = i;
	}
	return (int)n;
}

int image_store_find(struct image_store *s, const char *ref, struct image_record *out,
		     struct sbx_err *err)
{
	struct index idx;
	size_t hit;
	int r = index_load(s, &idx, err);
	if (r < 0)
		return r;
	r = match(&idx, ref, &hit, 1, err);
	if (r == 0)
		r = sbx_err_setx(err, ENOENT, "image '%s' not found in %s (pull or load it first)",
				 ref, s->root);
	else if (r > 0 && (r = image_record_copy(out, &idx.v[hit])) < 0)
		r = sbx_err_set(err, -r, "image '%s'", ref);
	index_free(&idx);
	return r;
}

int image_store_list(struct image_store *s, struct image_record **out, size_t *n,
		     struct sbx_err *err)
{
	struct index idx;
	int r = index_load(s, &idx, err);
	if (r < 0)
		return r;
	*out = idx.v;
	*n = idx.n;
	return 0;
}

static bool same_key(const struct image_record *a, const struct image_record *b)
{
	if (strcmp(a->name, b->name))
		return false;
	if (a->tag || b->tag)
		return a->tag && b->tag && !strcmp(a->tag, b->tag);
	return !strcmp(a->manifest_digest, b->manifest_digest);
}

static int blobs_present(const struct image_store *s, const struct image_record *rec,
			 struct sbx_err *err)
{
	const char *missing = NULL;
	if (!image_store_has_blob(s, rec->manifest_digest))
		missing = rec->manifest_digest;
	else if (!image_store_has_blob(s, rec->config_digest))
		missing = rec->config_digest;
	for (size_t i = 0; !missing && i < rec->n_layers; i++)
		if (!image_store_has_blob(s, rec->layers[i].digest))
			missing = rec->layers[i].digest;
	if (missing)
		return sbx_err_setx(err, ENOENT, "add image %s: blob %s is not in the store",
				    rec->name, missing);
	return 0;
}

int image_store_add(struct image_store *s, const struct image_record *rec, struct sbx_err *err)
{
	bool locked_here = s->lock_fd < 0;
	int r = image_store_lock(s, err);
	struct index idx = {0};
	r = r ?: blobs_present(s, rec, err);
	r = r ?: index_load(s, &idx, err);
	if (r < 0)
		goto out;
	size_t at = idx.n;
	for (size_t i = 0; i < idx.n; i++)
		if (same_key(&idx.v[i], rec))
			at = i;
	if (at == idx.n) {
		struct image_record *v = realloc(idx.v, (idx.n + 1) * sizeof(*v));
		if (!v) {
			r = sbx_err_set(err, ENOMEM, "add image %s", rec->name);
			goto out;
		}
		idx.v = v;
		idx.n++;
	} else {
		image_record_free(&idx.v[at]);
	}
	if ((r = image_record_copy(&idx.v[at], rec)) < 0) {
		r = sbx_err_set(err, -r, "add image %s", rec->name);
		goto out;
	}
	if (!idx.v[at].added)
		idx.v[at].added = (int64_t)time(NULL);
	r = index_save(s, &idx, err);
out:
	index_free(&idx);
	if (locked_here)
		image_store_unlock(s);
	return r;
}

int image_store_remove(struct image_store *s, const char *ref, struct image_record *removed,
		       struct sbx_err *err)
{
	int bad = ref_check(ref, err);
	if (bad < 0)
		return bad;
	if (!image_store_exists(s))
		return sbx_err_setx(err, ENOENT, "image '%s' not found in %s", ref, s->root);
	bool locked_here = s->lock_fd < 0;
	struct index idx = {0};
	int r = image_store_lock(s, err);
	r = r ?: index_load(s, &idx, err);
	size_t *hits = r < 0 ? NULL : calloc(idx.n ? idx.n : 1, sizeof(*hits));
	if (r == 0 && !hits)
		r = sbx_err_set(err, ENOMEM, "remove image '%s'", ref);
	int n = r < 0 ? r : match(&idx, ref, hits, idx.n, err);
	if (r == 0 && n == 0)
		r = sbx_err_setx(err, ENOENT, "image '%s' not found in %s", ref, s->root);
	else if (r == 0 && n < 0)
		r = n;
	if (r == 0 && removed && (r = image_record_copy(removed, &idx.v[hits[0]])) < 0)
		r = sbx_err_set(err, -r, "remove image '%s'", ref);
	if (r == 0) {
		/* hits are ascending: compact the survivors in place. */
		size_t w = 0, h = 0;
		for (size_t i = 0; i < idx.n; i++) {
			if (h < (size_t)n && hits[h] == i) {
				image_record_free(&idx.v[i]);
				h++;
			} else {
				idx.v[w++] = idx.v[i];
			}
		}
		idx.n = w;
		r = index_save(s, &idx, err);
	}
	free(hits);
	index_free(&idx);
	if (locked_here)
		image_store_unlock(s);
	return r;
}

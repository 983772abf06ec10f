/*
 * `sandbox load`: an OCI layout (index.json, blobs/sha256/...) or a `docker save` archive
 * (manifest.json naming a config and layer tars) into the store. A docker-save image gets an
 * OCI manifest written for it (its layers are blobs as they are, plain or gzip'd tars), so the
 * store holds one kind of image whatever it came from. Index entries are added last.
 */
#include "image_load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "image_json.h"
#include "image_load_src.h"
#include "image_manifest.h"
#include "image_ref.h"

#define LOAD_MAX_IMAGES 256
#define MT_OCI_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"

struct loaded {
	struct image_record *v;
	size_t n;
};

static void loaded_free(struct loaded *l)
{
	for (size_t i = 0; i < l->n; i++)
		image_record_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static bool is_bare_tag(const char *s)
{
	return s && !strpbrk(s, "/:@");
}

static bool has_tag(const char *ref)
{
	const char *slash = strrchr(ref, '/');
	return strchr(slash ? slash : ref, ':') || strchr(ref, '@');
}

/* Adds a record named by refstr (a full reference, or a bare tag) and --name (name_opt). */
static int push_record(struct loaded *l, const char *refstr, const char *name_opt,
		       const struct image_record *proto, const char *what, struct sbx_err *err)
{
	char buf[IMAGE_REF_NAME_MAX * 2];
	struct image_ref ref;
	if (name_opt && is_bare_tag(refstr) && !has_tag(name_opt))
		snprintf(buf, sizeof(buf), "%s:%s", name_opt, refstr);
	else if (name_opt || (refstr && !is_bare_tag(refstr)))
		snprintf(buf, sizeof(buf), "%s", name_opt ? name_opt : refstr);
	else
		return sbx_err_setx(err, EINVAL, "'%s': the image has %s; name it with --name NAME",
				    what, refstr ? "only a tag, no name" : "no name");
	int r = image_ref_parse(buf, true, &ref, err);
	if (r < 0)
		return sbx_err_wrap(err, "%s", what);
	if (l->n >= LOAD_MAX_IMAGES)
		return sbx_err_setx(err, E2BIG, "'%s': more than %d images", what, LOAD_MAX_IMAGES);
	struct image_record *v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return sbx_err_set(err, ENOMEM, "%s", what);
	l->v = v;
	struct image_record *rec = &v[l->n];
	*rec = *proto;
	rec->name = strdup(ref.name);
	rec->tag = ref.tag[0] ? strdup(ref.tag) : NULL;
	rec->created = proto->created ? strdup(proto->created) : NULL;
	rec->layers = calloc(proto->n_layers + 1, sizeof(*rec->layers));
	l->n++;
	if (!rec->name || !rec->layers || (ref.tag[0] && !rec->tag) ||
	    (proto->created && !rec->created))
		return sbx_err_set(err, ENOMEM, "%s", what);
	memcpy(rec->layers, proto->layers, proto->n_layers * sizeof(*rec->layers));
	return 0;
}

static void blob_path(const char *digest, char *buf, size_t len)
{
	snprintf(buf, len, "blobs/sha256/%s", digest + 7);
}

/* The config blob into the store, checked for linux/amd64; created into rec. */
static int put_config(struct load_src *src, struct image_store *s, const char *path,
		      const char *digest, uint64_t size, struct image_record *rec,
		      struct sbx_err *err)
{
	cleanup_free char *cfg = NULL;
	size_t len = 0;
	int r = load_src_put_blob(src, s, path, digest, size, rec->config_digest, NULL, err);
	r = r ?: load_src_read(src, path, MANIFEST_MAX_BYTES, &cfg, &len, err);
	return r ?: image_config_check(cfg, len, path, &rec->created, err);
}

/* One OCI image manifest (by descriptor digest) and everything it names into the store. */
static int load_oci_manifest(struct load_src *src, struct image_store *s, const char *digest,
			     struct image_record *rec, struct sbx_err *err)
{
	char path[PATH_MAX];
	cleanup_free char *body = NULL;
	size_t len = 0;
	struct image_manifest m = {0};
	blob_path(digest, path, sizeof(path));
	int r = load_src_read(src, path, MANIFEST_MAX_BYTES, &body, &len, err);
	r = r ?: load_src_put_blob(src, s, path, digest, UINT64_MAX, NULL, NULL, err);
	r = r ?: manifest_parse(body, len, path, &m, err);
	if (r < 0)
		return r;
	snprintf(rec->manifest_digest, sizeof(rec->manifest_digest), "%s", digest);
	blob_path(m.config.digest, path, sizeof(path));
	r = put_config(src, s, path, m.config.digest, m.config.size, rec, err);
	for (size_t i = 0; r == 0 && i < m.n_layers; i++) {
		blob_path(m.layers[i].digest, path, sizeof(path));
		r = load_src_put_blob(src, s, path, m.layers[i].digest, m.layers[i].size, NULL,
				      NULL, err);
		rec->size += m.layers[i].size;
	}
	rec->layers = m.layers; /* pushed copies; freed below */
	rec->n_layers = m.n_layers;
	m.layers = NULL;
	manifest_free(&m);
	return r;
}

/* A descriptor of index.json: an image manifest, or a nested index resolved to linux/amd64.
 * Returns 1 when it is for another platform (skipped). */
static int oci_descriptor(struct load_src *src, struct image_store *s, json_val d,
			  struct image_record *rec, struct sbx_err *err)
{
	const char *digest = json_get_str(d, "digest"), *mt = json_get_str(d, "mediaType");
	json_val p = json_get(d, "platform");
	const char *os = json_get_str(p, "os"), *arch = json_get_str(p, "architecture");
	if (!image_digest_valid(digest))
		return sbx_err_setx(err, EBADMSG,
				    "'%s': index.json: descriptor without a valid "
				    "digest",
				    src->what);
	if ((os && strcmp(os, IMAGE_PLATFORM_OS)) || (arch && strcmp(arch, IMAGE_PLATFORM_ARCH)))
		return 1;
	char path[PATH_MAX], picked[IMAGE_DIGEST_MAX];
	if (mt && (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST))) {
		cleanup_free char *body = NULL;
		size_t len = 0;
		blob_path(digest, path, sizeof(path));
		int r = load_src_read(src, path, MANIFEST_MAX_BYTES, &body, &len, err);
		r = r ?: load_src_put_blob(src, s, path, digest, UINT64_MAX, NULL, NULL, err);
		r = r ?: manifest_index_pick(body, len, "index", picked, err);
		if (r < 0)
			return r;
		snprintf(rec->index_digest, sizeof(rec->index_digest), "%s", digest);
		digest = picked;
	}
	return load_oci_manifest(src, s, digest, rec, err);
}

static int load_oci(struct load_src *src, struct image_store *s, const char *name,
		    struct loaded *out, struct sbx_err *err)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	cleanup_json_val json_val doc = NULL;
	int r = load_src_read(src, "index.json", MANIFEST_MAX_BYTES, &text, &len, err);
	r = r ?: json_parse(text, len, &doc, "index.json", err);
	json_val list = json_get(doc, "manifests");
	size_t skipped = 0;
	for (size_t i = 0; r == 0 && i < json_array_len(list); i++) {
		json_val d = json_array_at(list, i), ann = json_get(d, "annotations");
		struct image_record rec = {0};
		r = oci_descriptor(src, s, d, &rec, err);
		const char *ref = json_get_str(ann, "io.containerd.image.name")
				      ?: json_get_str(ann, "org.opencontainers.image.ref.name");
		if (r == 0)
			r = push_record(out, ref, name, &rec, src->what, err);
		skipped += r == 1;
		r = r == 1 ? 0 : r;
		image_record_free(&rec);
	}
	if (r == 0 && out->n == 0)
		r = sbx_err_setx(err, ENOENT, "'%s': no %s/%s image in it%s", src->what,
				 IMAGE_PLATFORM_OS, IMAGE_PLATFORM_ARCH,
				 skipped ? " (only other platforms)" : "");
	return r;
}

/* The OCI manifest a docker-save image gets; its digest into rec. */
static int synth_manifest(struct image_store *s, struct image_record *rec, uint64_t cfg_size,
			  struct sbx_err *err)
{
	size_t cap = 512 + rec->n_layers * 192, n = 0;
	cleanup_free char *m = malloc(cap);
	if (!m)
		return sbx_err_set(err, ENOMEM, "manifest");
	n += (size_t)snprintf(m + n, cap - n,
			      "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
			      "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":\"%s\","
			      "\"size\":%llu},\"layers\":[",
			      rec->config_digest, (unsigned long long)cfg_size);
	for (size_t i = 0; i < rec->n_layers; i++)
		n += (size_t)snprintf(
		    m + n, cap - n, "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%llu}",
		    i ? "," : "", rec->layers[i].media_type, rec->layers[i].digest,
		    (unsigned long long)rec->layers[i].size);
	n += (size_t)snprintf(m + n, cap - n, "]}");
	image_sha256_buf(m, n, rec->manifest_digest);
	return image_store_put_blob(s, m, n, rec->manifest_digest, err);
}

static int docker_layers(struct load_src *src, struct image_store *s, json_val layers,
			 struct image_record *rec, struct sbx_err *err)
{
	size_t n = json_array_len(layers);
	if (n > MANIFEST_MAX_LAYERS)
		return sbx_err_setx(err, E2BIG, "'%s': %zu layers", src->what, n);
	rec->layers = calloc(n + 1, sizeof(*rec->layers));
	if (!rec->layers)
		return sbx_err_set(err, ENOMEM, "%s", src->what);
	for (size_t i = 0; i < n; i++) {
		const char *path = json_str(json_array_at(layers, i));
		struct image_layer *l = &rec->layers[i];
		unsigned char magic[2] = {0};
		if (!path)
			return sbx_err_setx(err, EBADMSG,
					    "'%s': manifest.json: layer %zu is no "
					    "path",
					    src->what, i);
		int r = load_src_put_blob(src, s, path, NULL, UINT64_MAX, l->digest, &l->size, err);
		if (r < 0)
			return r;
		load_src_peek(src, path, magic, sizeof(magic));
		snprintf(l->media_type, sizeof(l->media_type), "%s",
			 magic[0] == 0x1f && magic[1] == 0x8b ? MT_OCI_LAYER_GZIP
							      : MT_OCI_LAYER_TAR);
		rec->n_layers = i + 1;
		rec->size += l->size;
	}
	return 0;
}

static int load_docker(struct load_src *src, struct image_store *s, const char *name,
		       struct loaded *out, struct sbx_err *err)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	cleanup_json_val json_val doc = NULL;
	int r = load_src_read(src, "manifest.json", MANIFEST_MAX_BYTES, &text, &len, err);
	r = r ?: json_parse(text, len, &doc, "manifest.json", err);
	for (size_t i = 0; r == 0 && i < json_array_len(doc); i++) {
		json_val e = json_array_at(doc, i), tags = json_get(e, "RepoTags");
		const char *cfg = json_get_str(e, "Config");
		struct image_record rec = {0};
		uint64_t cfg_size = 0;
		if (!cfg)
			r = sbx_err_setx(err, EBADMSG,
					 "'%s': manifest.json: entry %zu has no Config", src->what,
					 i);
		r = r
			?: load_src_put_blob(src, s, cfg, NULL, UINT64_MAX, rec.config_digest,
					     &cfg_size, err);
		r = r ?: put_config(src, s, cfg, rec.config_digest, cfg_size, &rec, err);
		r = r ?: docker_layers(src, s, json_get(e, "Layers"), &rec, err);
		r = r ?: synth_manifest(s, &rec, cfg_size, err);
		size_t n_tags = name ? 1 : json_array_len(tags);
		if (r == 0 && n_tags == 0)
			r = push_record(out, NULL, NULL, &rec, src->what, err);
		for (size_t t = 0; r == 0 && t < n_tags; t++)
			r = push_record(out, name ? NULL : json_str(json_array_at(tags, t)), name,
					&rec, src->what, err);
		image_record_free(&rec);
	}
	if (r == 0 && out->n == 0)
		r = sbx_err_setx(err, ENOENT, "'%s': manifest.json lists no image", src->what);
	return r;
}

int image_load(struct image_store *s, const char *path, const char *name, struct image_record **out,
	       size_t *n, struct sbx_err *err)
{
	struct load_src src = {.dirfd = -1};
	struct loaded l = {0};
	/* A path that is not there is bad input: said before the store is touched. */
	int r = access(path, R_OK) < 0 ? sbx_err_set(err, errno, "'%s'", path) : 0;
	r = r ?: image_store_hold(s, err);
	r = r ?: load_src_open(&src, s, path, err);
	if (r == 0) {
		/* docker save writes both files since docker 25; manifest.json has the names. */
		if (load_src_exists(&src, "manifest.json"))
			r = load_docker(&src, s, name, &l, err);
		else if (load_src_exists(&src, "index.json"))
			r = load_oci(&src, s, name, &l, err);
		else
			r = sbx_err_setx(err, EINVAL,
					 "'%s': neither a docker-save archive "
					 "(manifest.json) nor an OCI layout (index.json)",
					 path);
	}
	if (r == 0 && name && l.n > 1)
		r = sbx_err_setx(err, EINVAL, "'%s' holds %zu images: --name names only one", path,
				 l.n);
	for (size_t i = 0; r == 0 && i < l.n; i++)
		r = image_store_add(s, &l.v[i], err);
	load_src_close(&src);
	if (r < 0) {
		loaded_free(&l);
		return r;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

/*
 * `sandbox pull`: manifest (through a manifest list / OCI index to linux/amd64), config, then
 * the layers the store lacks; the index entry is written last, so an interrupted pull leaves
 * the index as it was (its blobs are removed by `prune`).
 */
#include "image_pull.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cleanup.h"
#include "image_manifest.h"
#include "image_ref.h"
#include "registry.h"

struct pulled {
	struct http_body manifest, config;
	char manifest_digest[IMAGE_DIGEST_MAX], index_digest[IMAGE_DIGEST_MAX];
	struct image_manifest m;
	char *created;
};

static void pulled_free(struct pulled *p)
{
	http_body_free(&p->manifest);
	http_body_free(&p->config);
	manifest_free(&p->m);
	free(p->created);
}

/* The image manifest for ref; a list is resolved to its linux/amd64 entry (kept in the store). */
static int resolve(struct registry *r, struct image_store *s, struct pulled *p, struct sbx_err *err)
{
	const char *reference = r->ref.digest[0] ? r->ref.digest : r->ref.tag;
	int rc = registry_get_manifest(r, reference, &p->manifest, p->manifest_digest, err);
	if (rc < 0)
		return rc;
	enum manifest_kind kind =
	    manifest_kind(p->manifest.data, p->manifest.len, p->manifest.content_type);
	if (kind == MANIFEST_INDEX) {
		char picked[IMAGE_DIGEST_MAX];
		rc = manifest_index_pick(p->manifest.data, p->manifest.len, "manifest list", picked,
					 err);
		rc = rc
			 ?: image_store_put_blob(s, p->manifest.data, p->manifest.len,
						 p->manifest_digest, err);
		if (rc < 0)
			return rc;
		snprintf(p->index_digest, sizeof(p->index_digest), "%s", p->manifest_digest);
		http_body_free(&p->manifest);
		rc = registry_get_manifest(r, picked, &p->manifest, p->manifest_digest, err);
		if (rc < 0)
			return rc;
		kind = manifest_kind(p->manifest.data, p->manifest.len, p->manifest.content_type);
	}
	if (kind != MANIFEST_IMAGE)
		return sbx_err_setx(err, ENOTSUP, "unsupported manifest type '%s'",
				    p->manifest.content_type[0] ? p->manifest.content_type : "?");
	return manifest_parse(p->manifest.data, p->manifest.len, "manifest", &p->m, err);
}

static int fetch_config(struct registry *r, struct image_store *s, struct pulled *p,
			struct sbx_err *err)
{
	if (p->m.config.size > MANIFEST_MAX_BYTES)
		return sbx_err_setx(err, EFBIG, "config of %llu bytes is too large",
				    (unsigned long long)p->m.config.size);
	/* A config in the store was verified when it entered: a re-pull skips the request. */
	int rc =
	    image_store_has_blob(s, p->m.config.digest)
		? image_store_read_blob(s, p->m.config.digest, MANIFEST_MAX_BYTES, &p->config.data,
					&p->config.len, err)
		: registry_get_blob(r, p->m.config.digest, MANIFEST_MAX_BYTES, &p->config, err);
	if (rc == 0 && p->config.len != p->m.config.size)
		rc = sbx_err_setx(err, EBADMSG, "config is %zu bytes, the manifest says %llu",
				  p->config.len, (unsigned long long)p->m.config.size);
	return rc ?: image_config_check(p->config.data, p->config.len, "config", &p->created, err);
}

static int record_of(const struct image_ref *ref, const struct pulled *p, struct image_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->name = (char *)ref->name;
	rec->tag = ref->tag[0] ? (char *)ref->tag : NULL;
	snprintf(rec->manifest_digest, sizeof(rec->manifest_digest), "%s", p->manifest_digest);
	snprintf(rec->config_digest, sizeof(rec->config_digest), "%s", p->m.config.digest);
	snprintf(rec->index_digest, sizeof(rec->index_digest), "%s", p->index_digest);
	rec->layers = p->m.layers;
	rec->n_layers = p->m.n_layers;
	for (size_t i = 0; i < p->m.n_layers; i++)
		rec->size += p->m.layers[i].size;
	rec->created = p->created;
	return 0;
}

static int pull_into(struct registry *r, struct image_store *s, const char *what,
		     struct image_record *out, struct sbx_err *err)
{
	struct pulled p = {0};
	int rc = resolve(r, s, &p, err);
	rc = rc ?: fetch_config(r, s, &p, err);
	struct blob_job *jobs = rc < 0 ? NULL : calloc(p.m.n_layers + 1, sizeof(*jobs));
	if (rc == 0 && !jobs)
		rc = sbx_err_set(err, ENOMEM, "%s", what);
	for (size_t i = 0; rc == 0 && i < p.m.n_layers; i++)
		jobs[i] = (struct blob_job){p.m.layers[i].digest, p.m.layers[i].size};
	rc = rc ?: registry_fetch_blobs(r, s, jobs, p.m.n_layers, err);
	free(jobs);
	rc = rc ?: image_store_put_blob(s, p.config.data, p.config.len, p.m.config.digest, err);
	rc = rc ?: image_store_put_blob(s, p.manifest.data, p.manifest.len, p.manifest_digest, err);
	struct image_record rec;
	rc = rc ?: record_of(&r->ref, &p, &rec);
	rc = rc ?: image_store_add(s, &rec, err);
	if (rc == 0 && out && (rc = image_record_copy(out, &rec)) < 0)
		rc = sbx_err_set(err, -rc, "%s", what);
	pulled_free(&p);
	return rc;
}

int image_pull(struct image_store *s, const char *refstr, const struct pull_opts *o,
	       struct image_record *out, struct sbx_err *err)
{
	struct image_ref ref;
	char what[IMAGE_REF_NAME_MAX * 2];
	int rc = image_ref_parse(refstr, true, &ref, err);
	if (rc < 0)
		return rc;
	image_ref_format(&ref, what, sizeof(what));
	struct registry r = {.quiet = o->quiet};
	rc = image_store_hold(s, err);
	rc = rc ?: registry_open(&r, &ref, o->insecure, err);
	rc = rc ?: pull_into(&r, s, what, out, err);
	registry_close(&r);
	if (rc < 0)
		return sbx_err_wrap(err, "pull %s", what);
	return 0;
}

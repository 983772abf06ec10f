/*
 * A client for the OCI distribution API (registry v2) over libcurl: the /v2/ ping and its
 * WWW-Authenticate challenge (bearer token or basic auth with credentials from a docker-style
 * config.json), manifests by tag or digest, small blobs into memory and layer blobs into the
 * store (registry_blobs.c: in parallel, resumed with Range, sha256-verified before they enter
 * it). https always; plain http only for --insecure or loopback registries.
 */
#ifndef SANDBOX_REGISTRY_H
#define SANDBOX_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "image_ref.h"
#include "image_store.h"

#define REGISTRY_PARALLEL 3 /* blobs downloaded at once */
#define REGISTRY_ATTEMPTS 4 /* per blob; later ones resume with Range */

struct registry {
	struct image_ref ref;
	char base[IMAGE_REF_NAME_MAX + 16]; /* "https://host[:port]" once pinged */
	bool insecure;			    /* http and unverified TLS allowed */
	char *authorization;		    /* "Authorization: ..." header, or NULL */
	char *credentials;		    /* "user:password" from the auth config, or NULL */
	bool quiet;			    /* no progress bar */
};

struct http_body {
	char *data;
	size_t len;
	char content_type[128];
	char digest[IMAGE_DIGEST_MAX]; /* Docker-Content-Digest, "" if absent */
};
void http_body_free(struct http_body *b);

/* Pings the registry for ref, learning scheme and authentication. insecure: --insecure. */
int registry_open(struct registry *r, const struct image_ref *ref, bool insecure,
		  struct sbx_err *err);
void registry_close(struct registry *r);

/* reference: a tag or a digest. The body's sha256 is checked against a digest reference and
 * against Docker-Content-Digest; digest receives it. */
int registry_get_manifest(struct registry *r, const char *reference, struct http_body *out,
			  char digest[IMAGE_DIGEST_MAX], struct sbx_err *err);
/* A small blob (image config) into memory, digest checked. */
int registry_get_blob(struct registry *r, const char *digest, size_t max, struct http_body *out,
		      struct sbx_err *err);

struct blob_job {
	const char *digest;
	uint64_t size;
};
/* Downloads every blob not yet in the store into it (caller holds image_store_hold). */
int registry_fetch_blobs(struct registry *r, struct image_store *s, const struct blob_job *jobs,
			 size_t n, struct sbx_err *err);

/* Internals shared by registry*.c. */
struct curl_slist;
void *registry_easy(struct registry *r, const char *url, struct curl_slist **headers);
int registry_authenticate(struct registry *r, const char *challenge, struct sbx_err *err);
int registry_load_credentials(struct registry *r, struct sbx_err *err);

#endif

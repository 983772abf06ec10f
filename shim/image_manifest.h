/*
 * Manifests, image indexes and image configs as the registry and archives hand them over
 * (OCI image-spec v1 and docker schema 2): parsed from untrusted bytes into the few fields the
 * store needs, every digest and size checked.
 */
#ifndef SANDBOX_IMAGE_MANIFEST_H
#define SANDBOX_IMAGE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "image_store.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MANIFEST_ACCEPT                                                                            \
	MT_OCI_MANIFEST ", " MT_OCI_INDEX ", " MT_DOCKER_MANIFEST ", " MT_DOCKER_LIST

#define MANIFEST_MAX_BYTES (4u << 20)
#define MANIFEST_MAX_LAYERS 512
#define IMAGE_PLATFORM_OS "linux"
#define IMAGE_PLATFORM_ARCH "amd64"

enum manifest_kind { MANIFEST_UNKNOWN, MANIFEST_IMAGE, MANIFEST_INDEX };

struct image_manifest {
	struct image_layer config;
	struct image_layer *layers; /* base first */
	size_t n_layers;
};

/* Which kind body is: its mediaType member, else content_type (may be NULL), else its shape. */
enum manifest_kind manifest_kind(const char *body, size_t len, const char *content_type);

/* An image manifest; what names it in errors ("manifest of docker.io/library/busybox:latest"). */
int manifest_parse(const char *body, size_t len, const char *what, struct image_manifest *out,
		   struct sbx_err *err);
void manifest_free(struct image_manifest *m);

/* The linux/amd64 entry of an index / manifest list; -ENOENT naming the platforms it has. */
int manifest_index_pick(const char *body, size_t len, const char *what,
			char digest[IMAGE_DIGEST_MAX], struct sbx_err *err);

/* From an image config: "created" (malloc'd or NULL) and a check that it is for linux/amd64. */
int image_config_check(const char *body, size_t len, const char *what, char **created,
		       struct sbx_err *err);

#endif

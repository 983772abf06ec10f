/* `sandbox pull`: a reference from a registry into the image store (docs/images.md). */
#ifndef SANDBOX_IMAGE_PULL_H
#define SANDBOX_IMAGE_PULL_H

#include <stdbool.h>

#include "../common/error.h"
#include "image_store.h"

struct pull_opts {
	bool insecure; /* http / unverified TLS for a non-loopback registry */
	bool quiet;    /* no progress bar */
};

/* Resolves ref (manifest list -> linux/amd64), downloads what the store lacks, verifies every
 * blob and adds the index entry. out (may be NULL) receives the new record. */
int image_pull(struct image_store *s, const char *ref, const struct pull_opts *o,
	       struct image_record *out, struct sbx_err *err);

#endif

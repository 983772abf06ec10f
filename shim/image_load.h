/* `sandbox load`: docker-save archives, OCI archives and OCI layout directories. */
#ifndef SANDBOX_IMAGE_LOAD_H
#define SANDBOX_IMAGE_LOAD_H

#include <stddef.h>

#include "../common/error.h"
#include "image_store.h"

/* Loads every linux/amd64 image path holds. name (may be NULL) names images the archive names
 * by tag only or not at all, or, with one image, replaces its name. out: the new records. */
int image_load(struct image_store *s, const char *path, const char *name, struct image_record **out,
	       size_t *n, struct sbx_err *err);

#endif

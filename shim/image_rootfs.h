/*
 * An image's root filesystem as the guest mounts it: all layers flattened into one read-only
 * erofs, built once per manifest and cached in the store (docs/images.md says why flattened):
 *
 *   <root>/rootfs/<manifest-hex>.erofs   the image, what virtio-blk serves as /dev/vda
 *   <root>/rootfs/<manifest-hex>.user/   etc/passwd and etc/group copied out of the image, so
 *                                        `-u NAME` resolves without reading the erofs
 *   <root>/rootfs/.lock                  flock held while building
 *   <root>/rootfs/.build-XXXXXX/         a build in progress (removed by the next build if a
 *                                        crash left it)
 *
 * The .erofs appears by rename after everything else, so its presence means the entry is
 * complete; a cached image costs one stat() at startup.
 */
#ifndef SANDBOX_IMAGE_ROOTFS_H
#define SANDBOX_IMAGE_ROOTFS_H

#include <limits.h>
#include <stdbool.h>

#include "../common/error.h"
#include "image_store.h"

#define IMAGE_ROOTFS_DIR "rootfs"

struct image_rootfs {
	char erofs[PATH_MAX];
	char userdb[PATH_MAX]; /* a directory holding etc/passwd and etc/group, for user_resolve */
	bool built;	       /* built by this call (not found in the cache) */
};

/* Finds the image's cached erofs or builds it (unpacking every layer blob). */
int image_rootfs_get(struct image_store *s, const struct image_record *img,
		     struct image_rootfs *out, struct sbx_err *err);

/* Removes cache entries whose manifest digest is not in keep[0..n); counts what went. */
int image_rootfs_prune(struct image_store *s, const char *const *keep, size_t n, size_t *removed,
		       struct sbx_err *err);

#endif

/* Turns a rootfs directory into the read-only erofs image the guest mounts from virtio-blk. */
#ifndef SANDBOX_ROOTFS_IMAGE_H
#define SANDBOX_ROOTFS_IMAGE_H

#include "../common/error.h"

/* Checks that dir is a directory, then runs mkfs.erofs (uncompressed: the guest inflates slowly).
 */
int rootfs_image_build(const char *dir, const char *image, struct sbx_err *err);

#endif

/*
 * Applies OCI image layers (tar; plain, gzip, zstd or xz) to a rootfs directory, treating every
 * archive as hostile: entry names and hard-link targets must be relative and free of "..", and
 * every path is resolved with openat2(RESOLVE_BENEATH), so nothing is created, changed or removed
 * outside the rootfs, not even through a symlink an earlier entry or layer planted. Whiteouts
 * (".wh.NAME", opaque ".wh..wh..opq") remove what lower layers put there. Modes, owners, xattrs,
 * mtimes, hard links, symlinks, devices and fifos are kept. Docs: docs/images.md.
 */
#ifndef SANDBOX_IMAGE_UNPACK_H
#define SANDBOX_IMAGE_UNPACK_H

#include "../common/error.h"

/*
 * Applies the layer archive at layer on top of the directory rootfs (empty for the base layer).
 * Needs root to keep owners and devices. On failure the rootfs is left half-applied: callers
 * unpack into a private temp directory and throw it away.
 */
int image_unpack_layer(const char *rootfs, const char *layer, struct sbx_err *err);

#endif

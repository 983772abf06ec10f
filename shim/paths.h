/* Where sandbox finds its VMM, guest kernel and initramfs, and where it keeps run state. */
#ifndef SANDBOX_PATHS_H
#define SANDBOX_PATHS_H

#include <limits.h>

#include "../common/error.h"

struct sandbox_paths {
	char vmm[PATH_MAX];
	char kernel[PATH_MAX];
	char initrd[PATH_MAX];
};

/*
 * Looks next to the running executable first (a build tree: build/sandbox-vmm, build/vmlinux,
 * build/initramfs.cpio), then in ../lib/sandbox (an install). SANDBOX_VMM, SANDBOX_KERNEL and
 * SANDBOX_INITRAMFS override; explicit kernel/initrd arguments override those. Each file must
 * exist, or err names the missing one and how to get it.
 */
int sandbox_paths_resolve(struct sandbox_paths *p, const char *kernel, const char *initrd,
			  struct sbx_err *err);

/* State root for runs: $SANDBOX_RUN_ROOT or /run/sandbox (created 0700). */
const char *sandbox_run_root(void);

#endif

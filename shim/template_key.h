/*
 * The identity of a VM template (docs/templates.md, "Key"): a SHA-256 over everything that
 * decides what the snapshotted VM contains — the VMM binary, the guest kernel, the initramfs
 * (which holds the agent), the vCPU count, the memory size and our format version. Any change
 * gives another key, so a stale template is never found, only listed.
 */
#ifndef SANDBOX_TEMPLATE_KEY_H
#define SANDBOX_TEMPLATE_KEY_H

#include <stdint.h>

#include "../common/error.h"
#include "paths.h"

/* Bump when the template layout or the agent/CLI contract around it changes. */
#define TEMPLATE_FORMAT 1
#define TEMPLATE_KEY_HEX 64

struct template_spec {
	struct sandbox_paths paths;
	unsigned cpus;
	unsigned memory_mib;
	/* Not part of the key: a signalfd that interrupts a build (`sandbox run` blocks its
	 * forwarded signals before it may build); 0 or -1: none, signals act as usual. */
	int sigfd;
};

/*
 * Hex SHA-256 of the file's contents. Hashing the 17 MB kernel costs ~50 ms, so results are
 * cached under <cache_dir> keyed by the file's (dev, inode, size, mtime, ctime); ctime cannot be
 * set back by a user, so an edited file always misses. cache_dir NULL: no cache.
 */
int template_file_hash(const char *cache_dir, const char *path, char hex[TEMPLATE_KEY_HEX + 1],
		       struct sbx_err *err);

/* key = SHA-256("sandbox-template", format, cpus, memory, hash(vmm), hash(kernel), hash(initrd)).
 */
int template_key(const char *cache_dir, const struct template_spec *spec,
		 char key[TEMPLATE_KEY_HEX + 1], struct sbx_err *err);

/* True for a string that looks like a key: TEMPLATE_KEY_HEX lowercase hex digits. */
int template_key_valid(const char *s);

#endif

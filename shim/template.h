/*
 * VM templates, host side (docs/templates.md): a store of snapshotted, booted VMs, one per
 * template key (template_key.h), that `sandbox run` restores instead of cold-booting.
 *
 * Layout under the root ($SANDBOX_TEMPLATE_DIR, default /var/lib/sandbox/templates):
 *   <key>/snapshot/     what `sandbox-vmm --snapshot-to` wrote (memory, vCPU and device state)
 *   <key>/meta          what the template was built from (text, key=value lines)
 *   <key>.lock          flock: exclusive while building <key>, shared while a VMM restores it
 *   .build-<key:16>-XXXXXX a build in progress (a short name: it holds a unix socket); renamed to
 * <key> only when complete .hashcache/         cached file hashes for the key (template_key.c)
 */
#ifndef SANDBOX_TEMPLATE_H
#define SANDBOX_TEMPLATE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "../common/error.h"
#include "template_key.h"

#define TEMPLATE_DEFAULT_ROOT "/var/lib/sandbox/templates"

struct template_meta {
	int format;
	unsigned cpus, memory_mib;
	long long created; /* unix seconds */
	char vmm[PATH_MAX], kernel[PATH_MAX], initrd[PATH_MAX];
};

/* A template in use: found (or built) and held with a shared lock so nobody replaces it. */
struct template_ref {
	char key[TEMPLATE_KEY_HEX + 1];
	char snapshot[PATH_MAX];
	int lock_fd; /* -1 when not held */
};

const char *template_root(void);
/* <root>/.hashcache, the cache template_key() uses. */
void template_hash_cache(char *out, size_t cap);

/*
 * Finds the template for spec, building it first when there is none (one line on stderr says
 * so); returns holding a shared lock on it. rebuild: replace the existing one (after a restore
 * from it failed).
 */
int template_acquire(const struct template_spec *spec, bool rebuild, struct template_ref *t,
		     struct sbx_err *err);
/* Opens (creating root and) <root>/<key>.lock and takes op (LOCK_SH/LOCK_EX); returns the fd. */
int template_lock(const char *key, int op, struct sbx_err *err);
/* Drops the shared lock; safe on a never-acquired ref (lock_fd -1). */
void template_release(struct template_ref *t);

/*
 * Builds the template under an exclusive lock: boots with an empty disk slot and
 * sandbox.template=1, lets the VMM snapshot into a temp dir, installs it with one rename.
 * Skipped (returns 0) when !force and the template appeared meanwhile. announce: print the
 * "building" line. A killed or failed build leaves nothing behind and the old template intact.
 */
int template_build(const struct template_spec *spec, const char *key, bool force, bool announce,
		   struct sbx_err *err);

int template_meta_read(const char *dir, struct template_meta *m, struct sbx_err *err);
int template_meta_write(const char *dir, const struct template_spec *spec, struct sbx_err *err);
/* Removes <root>/<key> (atomically renamed away first), under its exclusive lock. */
int template_remove(const char *key, struct sbx_err *err);

#endif

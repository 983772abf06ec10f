/*
 * `sandbox run -v HOSTDIR:GUESTDIR[:ro]`: host directories shared into the container over
 * virtio-fs, one virtiofsd each, in the VM's virtio-fs slots (docs/virtiofs.md).
 */
#ifndef SANDBOX_VOLUME_H
#define SANDBOX_VOLUME_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "../common/error.h"
#include "../common/proto.h"
#include "virtiofsd.h"
#include "vmm_proc.h"

#define RUN_MAX_VOLUMES VIRTIOFSD_SLOTS

struct volume {
	char host[PATH_MAX];  /* canonical (realpath) existing directory */
	char guest[PATH_MAX]; /* absolute, normalised, not "/" */
	bool ro;
};

/* Parses one -v value; err names the value and what is wrong with it. */
int volume_parse(const char *spec, struct volume *v, struct sbx_err *err);

/* The running daemons of one run and the VMM arguments that reach them. */
struct volume_set {
	struct virtiofsd d[RUN_MAX_VOLUMES];
	struct vmm_fs fs[RUN_MAX_VOLUMES]; /* the VMM's virtio-fs devices for these shares */
	unsigned n;
};

/* The virtio-fs devices of a VM template: empty slots tagged "sbxfs0".."sbxfs<N-1>". */
extern const struct vmm_fs volume_template_slots[VIRTIOFSD_SLOTS];

void volume_set_init(struct volume_set *s);
/* One virtiofsd per volume, sockets "fs<N>.sock" in run_dir. On failure all are stopped. */
int volumes_start(struct volume_set *s, const struct volume *v, size_t n, const char *run_dir,
		  struct sbx_err *err);
/* Once the VMM has connected: removes the socket paths (the connections stay). */
void volumes_unlink_sockets(struct volume_set *s);
/* Stops every daemon (idempotent). */
void volumes_stop(struct volume_set *s);
/* Fills out[] (SBX_RUN_MAX_MOUNTS) with the RUN mounts for v[0..n); returns the count. */
size_t volume_mounts(const struct volume *v, size_t n, struct sbx_mount *out);

#endif

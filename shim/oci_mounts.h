/*
 * An OCI container's filesystems over virtio-fs (docs/virtiofs.md, "The OCI root and bind
 * mounts"): root.path and every bind mount's host directory become virtio-fs shares (each
 * distinct directory once, root first), and the RUN request names what the guest mounts where.
 */
#ifndef SANDBOX_OCI_MOUNTS_H
#define SANDBOX_OCI_MOUNTS_H

#include <limits.h>
#include <stddef.h>

#include "../common/error.h"
#include "../common/proto.h"
#include "oci_spec.h"
#include "volume.h"

#define OCI_MOUNT_NAME_MAX 256

struct oci_mount_plan {
	struct volume shares[RUN_MAX_VOLUMES]; /* share i is virtio-fs slot i; .guest unused */
	size_t n_shares;
	char root[16]; /* the RUN rootfs: "rw:sbxfs0" or "ro:sbxfs0" */
	struct sbx_mount mounts[SBX_RUN_MAX_MOUNTS];
	size_t n_mounts;
	/* What mounts[] point to. */
	char targets[SBX_RUN_MAX_MOUNTS][PATH_MAX];
	char names[SBX_RUN_MAX_MOUNTS][OCI_MOUNT_NAME_MAX];
};

/*
 * Plans root_dir (the bundle's root, already resolved) and spec->mounts. Errors name the mount:
 * a missing source, a device or socket bind, more distinct directories than slots, too many
 * mounts. Mounts the guest makes itself (proc, sysfs, devpts, mqueue, /dev, /dev/shm, cgroup)
 * are not planned.
 */
int oci_mounts_plan(const struct oci_spec *spec, const char *root_dir, struct oci_mount_plan *p,
		    struct sbx_err *err);

#endif

/*
 * linux.cgroupsPath as a real host cgroup (docs/oci.md, "Host cgroup"): the monitor, the
 * process in --pid-file, joins it before it starts anything, so the VM's host side (monitor,
 * virtiofsd, the VMM) is accounted there: on cgroup v1 the jail's own VMM group is nested in it
 * (cgroup_set_parent); on v2 it cannot be (no controllers for children of a group with tasks).
 * containerd's runc shim and podman read the cgroup of the pid-file process for metrics and
 * stats, as they do with runc.
 *
 * Created by the monitor at create (memory limit = guest RAM + OCI_CGROUP_OVERHEAD_MIB, cpu
 * shares and quota when the spec sets them), recorded in <state>/cgroup, removed by delete
 * (and by create or `run` when they fail or end): only the directories sandbox created.
 */
#ifndef SANDBOX_OCI_CGROUP_H
#define SANDBOX_OCI_CGROUP_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/error.h"
#include "oci_spec.h"

/* The VMM's own memory, the monitor's and virtiofsd's beyond guest RAM. */
#define OCI_CGROUP_OVERHEAD_MIB 128u
#define OCI_CGROUP_RECORD "cgroup"
/* The jail's VMM group nested in it on cgroup v1 (shim/jail.c names it vmm-<uid>). */
#define OCI_CGROUP_VMM_PREFIX "vmm-"

/*
 * cgroupsPath -> a path below every hierarchy's root ("" when the spec names none).
 * cgroupfs form: "/a/b" (a relative path is taken from the root). systemd form
 * "slice:prefix:name" (with --systemd-cgroup, or when the path has two ':' and no leading '/'):
 * "/<slice expanded as systemd does>/<prefix>-<name>.scope". ".." and empty names are refused.
 */
int oci_cgroup_path(const char *cgroups_path, bool systemd, char *out, size_t cap,
		    struct sbx_err *err);

/* Creates the cgroup for container id, records it and moves the calling process into it. */
int oci_cgroup_setup(const struct oci_spec *spec, const char *id, unsigned vm_mib,
		     struct sbx_err *err);
/* Moves the calling process back to each hierarchy's root (an attached `run` before cleanup). */
void oci_cgroup_leave(const char *id);
/* Removes the recorded cgroup of id (waits up to ~5 s for its last tasks to go). */
void oci_cgroup_remove(const char *id);

#endif

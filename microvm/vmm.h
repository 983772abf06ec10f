/*
 * The whole VMM process state shared by main.c (cold boot) and vmm_snapshot.c (snapshot and
 * restore, docs/snapshot.md).
 */
#ifndef SANDBOX_VMM_H
#define SANDBOX_VMM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "../common/error.h"
#include "layout.h"
#include "legacy.h"
#include "mptable.h"
#include "serial.h"
#include "snapshot.h"
#include "vcpu.h"
#include "virtio_fs.h"
#include "virtio_net.h"
#include "vm.h"

struct vmm_opts {
	const char *kernel, *initrd, *cmdline_extra, *serial_log, *boot_timer, *vsock_uds;
	const char *guest_profile; /* --guest-profile FILE, or NULL */
	const char *snapshot_to, *restore;
	unsigned cpus;
	uint64_t mem_mib, vsock_cid;
	bool cpus_set, mem_set; /* given on the command line (checked against a snapshot) */
	struct {
		char path[4096]; /* "" for --empty-disk */
		bool ro;
	} disks[LAYOUT_VIRTIO_MAX_DEVICES];
	unsigned ndisks;
	bool rng, debug;
	bool no_seccomp;				    /* --no-seccomp: debugging only */
	struct virtio_fs_opt fs[LAYOUT_VIRTIO_MAX_DEVICES]; /* --fs, in order */
	unsigned nfs;
	struct net_opts net; /* --net; with --restore it fills the snapshot's net slot */
};

struct vmm {
	struct vm vm;
	bool vm_created;
	struct serial *serial;
	struct legacy *legacy;
	void *devs[LAYOUT_VIRTIO_MAX_DEVICES];
	unsigned ndevs;
	struct vcpu vcpus[MPTABLE_MAX_CPUS];
	unsigned nvcpus;
	struct kvm_cpuid2 *cpuid;
	uint64_t start_ns;
	/* Restore in progress: the state file and the reader positioned after the VM config. */
	uint8_t *snap_buf;
	struct snap_rd snap;
	struct snap_info snap_info;
};

/* After vm_wait_stop() returned VM_STOP_SNAPSHOT and the vCPUs were joined: writes DIR. */
int vmm_snapshot_save(struct vmm *v, const char *dir, struct sbx_err *err);

/*
 * Restore, first half: reads and checks DIR/state against the options, creates the VM with
 * guest RAM mapped from DIR/memory. The caller then creates serial + legacy devices.
 */
int vmm_restore_begin(struct vmm *v, const struct vmm_opts *o, struct sbx_err *err);
/* Second half: KVM state, vCPUs, devices (empty slots filled, new CID), ready to run. */
int vmm_restore_finish(struct vmm *v, const struct vmm_opts *o, struct sbx_err *err);

#endif

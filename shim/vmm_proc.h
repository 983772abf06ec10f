/* The VMM child process of one `sandbox run`. */
#ifndef SANDBOX_VMM_PROC_H
#define SANDBOX_VMM_PROC_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/error.h"
#include "paths.h"

#define VMM_MAX_FS 8u

struct vmm_cfg {
	unsigned cpus; /* cold boot and template build; a restore takes the template's */
	unsigned memory_mib;
	const char *disk;	 /* read-only rootfs image */
	const char *restore_dir; /* restore this snapshot instead of booting (docs/templates.md) */
	const char *snapshot_to; /* template build: snapshot into this dir when the agent says so */
	bool empty_disk;	 /* template build: a disk slot with no medium, filled on restore */
	unsigned vsock_cid;
	const char *vsock_uds;
	const char *serial_log;
	const char *boot_timer;	   /* NULL: none */
	const char *guest_profile; /* SANDBOX_GUEST_PROFILE: the VMM samples the guest here */
	const char *stderr_log;	   /* the VMM's stderr goes here unless debug */
	const char *cmdline_extra; /* appended to the guest kernel command line, or NULL */
	bool debug;
	bool jail; /* run the VMM in its jail (shim/jail.h); off: --no-jail, SANDBOX_NO_JAIL=1 */
	/* The jail cgroup's cpu quota (OCI linux.resources.cpu, `run --cpus`); 0: none. */
	uint64_t cpu_quota_us, cpu_period_us;
	/*
	 * virtio-fs devices (docs/virtiofs.md): a template's empty slots (socket NULL) or a run's
	 * shares, each served by the vhost-user socket of its virtiofsd (a host path).
	 */
	const struct vmm_fs {
		const char *tag;
		const char *socket;
	} * fs;
	unsigned n_fs; /* <= VMM_MAX_FS */
	/* --net value ("fd=N[,...]"); NULL: a boot gets an empty slot, a restore none. */
	const char *net_arg;
	int net_fd; /* > 2: the tap named in net_arg, kept open across exec */
};

struct vmm_proc {
	pid_t pid;
	int pidfd; /* readable when the VMM has exited */
	bool reaped;
	int status;		   /* wait status once reaped */
	struct jail *jail;	   /* released once the VMM was reaped */
	char serial_log[PATH_MAX]; /* the guest console's host file; "" when not kept (debug) */
};

/*
 * Starts the VMM in its own process group (so a terminal's Ctrl-C reaches only `sandbox`, which
 * forwards it), with PR_SET_PDEATHSIG so it never outlives us. An exec failure is reported here.
 */
int vmm_spawn(struct vmm_proc *v, const struct sandbox_paths *p, const struct vmm_cfg *cfg,
	      struct sbx_err *err);
/* Waits up to timeout_ms (-1: forever) for the VMM to exit; returns 0 if reaped, -ETIMEDOUT. */
int vmm_wait(struct vmm_proc *v, int timeout_ms);
/* SIGKILL and reap; safe to call more than once. */
void vmm_stop(struct vmm_proc *v);
/* Describes how the VMM ended, e.g. "guest kernel panic" for exit status 3. */
const char *vmm_exit_reason(int status);
/*
 * The same for a reaped VMM, with what its guest console adds: a panic that was the death of
 * the guest's PID 1 (the agent; "Attempted to kill init! exitcode=0x...") is named as that.
 */
void vmm_describe_exit(const struct vmm_proc *v, char *out, size_t cap);

#endif

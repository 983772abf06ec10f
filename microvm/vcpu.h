/*
 * vCPUs: one thread each, looping on KVM_RUN and handing exits to exit_dispatch(). The main
 * thread waits for vm_request_stop(), then kicks every vCPU out of KVM_RUN and joins them.
 */
#ifndef SANDBOX_VCPU_H
#define SANDBOX_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../common/error.h"
#include "boot_pvh.h"
#include "vm.h"

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
};

/* Nanoseconds (CLOCK_MONOTONIC) when vCPU 0 first entered KVM_RUN; 0 before. */
extern uint64_t vcpu_first_run_ns;

/*
 * Creates vCPU `id` of `ncpus`: fd, kvm_run mapping, CPUID, boot MSRs, FPU, LAPIC LINT0/LINT1.
 * vCPU 0 also gets the PVH boot registers; the others wait for INIT/SIPI in the in-kernel LAPIC.
 */
int vcpu_create(struct vm *vm, unsigned id, unsigned ncpus, const struct kvm_cpuid2 *cpuid,
		bool emulated, const struct pvh_boot *boot, struct vcpu *vc, struct sbx_err *err);
/* Only the fd and the kvm_run mapping: the state comes from a snapshot (snapshot_vcpu.c). */
int vcpu_open(struct vm *vm, unsigned id, struct vcpu *vc, struct sbx_err *err);
void vcpu_destroy(struct vcpu *vc); /* accepts a zeroed or half-built vcpu */

/* Installs the no-op kick signal handler; once per process, before vcpu_start. */
int vcpu_signals_init(struct sbx_err *err);
int vcpu_start(struct vcpu *vc, struct sbx_err *err);
/* Makes the vCPU leave KVM_RUN (immediate_exit + signal) and joins its thread. */
void vcpu_stop(struct vcpu *vc);

#endif

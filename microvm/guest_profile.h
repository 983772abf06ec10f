/*
 * A sampling profiler of the guest, for finding where a run's time goes when guest kernel code
 * is emulated (kvm_pvm): each vCPU thread gets a timer on its own CPU-time clock, whose signal
 * makes KVM_RUN return EINTR; the vCPU then records the guest's RIP. The samples are written
 * into a shared mapping of the output file; bench/guest-profile.py maps them
 * to the kernel's functions. Off unless --guest-profile is given.
 */
#ifndef SANDBOX_GUEST_PROFILE_H
#define SANDBOX_GUEST_PROFILE_H

#include <stdbool.h>

#include "../common/error.h"

struct vcpu;

/* Opens FILE and reserves the sample buffer; before any vCPU thread starts. */
int guest_profile_open(const char *path, struct sbx_err *err);
bool guest_profile_enabled(void);
/* In a vCPU thread, before its seccomp filter: arms that thread's sampling timer. */
int guest_profile_arm_thread(struct sbx_err *err);
/* After KVM_RUN returned EINTR: records the RIP if the profiling signal caused it. */
void guest_profile_sample(struct vcpu *vc);
/* After the vCPUs stopped. */
void guest_profile_close(void);

#endif

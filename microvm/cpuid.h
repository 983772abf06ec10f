/* The CPUID a vCPU sees: what KVM supports, with per-vCPU topology and our feature policy. */
#ifndef SANDBOX_CPUID_H
#define SANDBOX_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>

#include "../common/error.h"

/*
 * True when /dev/kvm is software emulation (the kvm_pvm module): the guest must then avoid the
 * instructions KVM's emulator cannot run at CPL0 (see /work/shared/guest-kernel-notes.md).
 */
bool cpuid_host_is_emulated(void);

/* KVM_GET_SUPPORTED_CPUID into a malloc'd table (free()). NULL on error. */
struct kvm_cpuid2 *cpuid_get_supported(int kvm_fd, struct sbx_err *err);

/*
 * Adjusts a copy of the supported table for vCPU `id` of `ncpus`: APIC ids and topology (leaves
 * 1, 4, 0xB, 0x1F), the hypervisor bit, no hypercall-based KVM PV features (0x40000001), and,
 * when `emulated`, no POPCNT/CMPXCHG16B/XSAVE/AVX family. Pure: unit-tested.
 */
void cpuid_fixup(struct kvm_cpuid2 *c, unsigned id, unsigned ncpus, bool emulated);

/* cpuid_fixup on a copy of `supported`, then KVM_SET_CPUID2 on vcpu_fd. */
int cpuid_set_vcpu(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned id, unsigned ncpus,
		   bool emulated, struct sbx_err *err);

#endif

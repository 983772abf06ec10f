/*
 * CPUID policy. Bit positions are from the Intel SDM vol. 2A "CPUID" tables and, for leaf
 * 0x40000001, Documentation/virt/kvm/x86/cpuid.rst.
 */
#include "cpuid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "kvm_ioctl.h"

#define BIT(n) (1u << (n))

/* Leaf 1. */
#define CPUID1_EBX_APIC_ID_SHIFT 24
#define CPUID1_EBX_LOGICAL_SHIFT 16
#define CPUID1_EBX_LOW_MASK 0x0000ffffu /* brand index, CLFLUSH line size: kept */
#define CPUID1_ECX_FMA BIT(12)
#define CPUID1_ECX_CX16 BIT(13)
#define CPUID1_ECX_POPCNT BIT(23)
#define CPUID1_ECX_XSAVE BIT(26)
#define CPUID1_ECX_OSXSAVE BIT(27)
#define CPUID1_ECX_AVX BIT(28)
#define CPUID1_ECX_F16C BIT(29)
#define CPUID1_ECX_HYPERVISOR BIT(31)
#define CPUID1_EDX_HTT BIT(28)
/* Leaf 7.0: AVX2 and every AVX-512 subset (EBX 16,17,21,26,27,28,30,31). */
#define CPUID7_EBX_AVX_MASK                                                                        \
	(BIT(5) | BIT(16) | BIT(17) | BIT(21) | BIT(26) | BIT(27) | BIT(28) | BIT(30) | BIT(31))
/* Leaf 7.0 ECX: AVX512_VBMI, VBMI2, VNNI, BITALG, VPOPCNTDQ. EDX: 4VNNIW, 4FMAPS, VP2INTERSECT,
 * FP16. */
#define CPUID7_ECX_AVX_MASK (BIT(1) | BIT(6) | BIT(11) | BIT(12) | BIT(14))
#define CPUID7_EDX_AVX_MASK (BIT(2) | BIT(3) | BIT(8) | BIT(23))
/* Leaf 0x80000001 ECX: ABM (LZCNT, and POPCNT on AMD). */
#define CPUIDX1_ECX_ABM BIT(5)
/* Leaf 0x40000001 EAX (KVM): features the guest would use through hypercalls. */
#define KVM_PV_UNHALT BIT(7)
#define KVM_PV_SEND_IPI BIT(11)
#define KVM_PV_SCHED_YIELD BIT(13)
#define KVM_PV_HC_MAP_GPA_RANGE BIT(16)
#define KVM_PV_HYPERCALL_MASK                                                                      \
	(KVM_PV_UNHALT | KVM_PV_SEND_IPI | KVM_PV_SCHED_YIELD | KVM_PV_HC_MAP_GPA_RANGE)
/* Leaves 0xB/0x1F: level types in ECX[15:8]. */
#define TOPO_LEVEL_SMT 1u
#define TOPO_LEVEL_CORE 2u

/* AMD (APM vol. 3 appendix E): 0x80000008 ECX[7:0] cores - 1, [15:12] APIC id bits;
 * 0x8000001E extended APIC id, compute-unit (core) id, node id. */
#define AMD_NC_MASK 0xffu
#define AMD_APIC_ID_SIZE_SHIFT 12
#define AMD_APIC_ID_SIZE_MASK (0xfu << AMD_APIC_ID_SIZE_SHIFT)

#define CPUID_MAX_ENTRIES 256

bool cpuid_host_is_emulated(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

struct kvm_cpuid2 *cpuid_get_supported(int kvm_fd, struct sbx_err *err)
{
	size_t sz = sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	cleanup_free struct kvm_cpuid2 *c = calloc(1, sz);
	if (!c) {
		sbx_err_set(err, ENOMEM, "allocate CPUID table");
		return NULL;
	}
	c->nent = CPUID_MAX_ENTRIES;
	if (KVM_IOCTL_PTR(kvm_fd, KVM_GET_SUPPORTED_CPUID, c, err) < 0)
		return NULL;
	return steal_ptr(c);
}

/* Smallest shift with (1 << shift) >= n: the x2APIC id bits a topology level spans. */
static unsigned order_base_2(unsigned n)
{
	unsigned s = 0;
	while ((1u << s) < n)
		s++;
	return s;
}

static void fixup_leaf1(struct kvm_cpuid_entry2 *e, unsigned id, unsigned ncpus)
{
	e->ebx = (e->ebx & CPUID1_EBX_LOW_MASK) | (id << CPUID1_EBX_APIC_ID_SHIFT) |
		 ((ncpus & 0xff) << CPUID1_EBX_LOGICAL_SHIFT);
	e->ecx |= CPUID1_ECX_HYPERVISOR;
	if (ncpus > 1)
		e->edx |= CPUID1_EDX_HTT;
	else
		e->edx &= ~CPUID1_EDX_HTT;
}

/* One package of `ncpus` single-threaded cores. */
static void fixup_topology(struct kvm_cpuid_entry2 *e, unsigned id, unsigned ncpus)
{
	e->edx = id;
	if (e->index == 0) {
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (TOPO_LEVEL_SMT << 8) | e->index;
	} else if (e->index == 1) {
		e->eax = order_base_2(ncpus);
		e->ebx = ncpus;
		e->ecx = (TOPO_LEVEL_CORE << 8) | e->index;
	} else {
		e->eax = e->ebx = 0;
		e->ecx = e->index; /* level type 0: invalid, ends the enumeration */
	}
}

/* Leaf 4: EAX[31:26] cores per package - 1; EAX[25:14] sharing count - 1 (L3 shared by all). */
static void fixup_leaf4(struct kvm_cpuid_entry2 *e, unsigned ncpus)
{
	unsigned level = (e->eax >> 5) & 7;
	if ((e->eax & 0x1f) == 0)
		return; /* no more caches */
	e->eax &= 0x3fffu;
	e->eax |= (ncpus - 1) << 26;
	if (level == 3)
		e->eax |= (ncpus - 1) << 14;
}

static void fixup_amd_topology(struct kvm_cpuid_entry2 *e, unsigned id, unsigned ncpus)
{
	if (e->function == 0x80000008) {
		e->ecx &= ~(AMD_NC_MASK | AMD_APIC_ID_SIZE_MASK);
		e->ecx |= (ncpus - 1) | (order_base_2(ncpus) << AMD_APIC_ID_SIZE_SHIFT);
	} else { /* 0x8000001e: one thread per core, one node */
		e->eax = id;
		e->ebx = id & 0xff;
		e->ecx = 0;
	}
}

static void fixup_emulated(struct kvm_cpuid_entry2 *e)
{
	switch (e->function) {
	case 1:
		e->ecx &=
		    ~(CPUID1_ECX_FMA | CPUID1_ECX_CX16 | CPUID1_ECX_POPCNT | CPUID1_ECX_XSAVE |
		      CPUID1_ECX_OSXSAVE | CPUID1_ECX_AVX | CPUID1_ECX_F16C);
		break;
	case 7:
		if (e->index == 0) {
			e->ebx &= ~CPUID7_EBX_AVX_MASK;
			e->ecx &= ~CPUID7_ECX_AVX_MASK;
			e->edx &= ~CPUID7_EDX_AVX_MASK;
		}
		break;
	case 0xd: /* no XSAVE: no XSAVE state components */
		e->eax = e->ebx = e->ecx = e->edx = 0;
		break;
	case 0x80000001:
		e->ecx &= ~CPUIDX1_ECX_ABM;
		break;
	}
}

void cpuid_fixup(struct kvm_cpuid2 *c, unsigned id, unsigned ncpus, bool emulated)
{
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			fixup_leaf1(e, id, ncpus);
			break;
		case 4:
			fixup_leaf4(e, ncpus);
			break;
		case 0xb:
		case 0x1f:
			fixup_topology(e, id, ncpus);
			break;
		case 0x80000008:
		case 0x8000001e:
			fixup_amd_topology(e, id, ncpus);
			break;
		case 0x40000001:
			e->eax &= ~KVM_PV_HYPERCALL_MASK;
			break;
		}
		if (emulated)
			fixup_emulated(e);
	}
}

int cpuid_set_vcpu(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned id, unsigned ncpus,
		   bool emulated, struct sbx_err *err)
{
	size_t sz = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	cleanup_free struct kvm_cpuid2 *c = malloc(sz);
	if (!c)
		return sbx_err_set(err, ENOMEM, "allocate CPUID table");
	memcpy(c, supported, sz);
	cpuid_fixup(c, id, ncpus, emulated);
	int r = KVM_IOCTL_PTR(vcpu_fd, KVM_SET_CPUID2, c, err);
	return r < 0 ? sbx_err_wrap(err, "vcpu %u", id) : 0;
}

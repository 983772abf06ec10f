/*
 * vCPU threads. Stopping: vm_request_stop() sets a flag the loops test before each KVM_RUN;
 * vcpu_stop() also sets kvm_run.immediate_exit (so a thread about to enter KVM_RUN returns at
 * once) and sends SIGUSR1, whose no-op handler makes a running KVM_RUN return -EINTR
 * (KVM API doc 4.10 / "immediate_exit").
 */
#include "vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpuid.h"
#include "exit.h"
#include "guest_profile.h"
#include "kvm_ioctl.h"
#include "legacy.h"
#include "seccomp.h"

#define VCPU_KICK_SIGNAL SIGUSR1

/* Architectural MSRs (Intel SDM vol. 4) given their reset values as Firecracker does. */
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_MISC_ENABLE_FAST_STRING 0x1ull
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_MTRR_ENABLE_WB ((1ull << 11) | 6) /* MTRRs on, default type write-back */
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define BOOT_MSR_COUNT 10

/* Local APIC registers (Intel SDM vol. 3A §10.5.1): LVT LINT0/LINT1, delivery mode bits 10:8. */
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_DM_MASK 0x700u
#define APIC_DM_NMI 0x400u
#define APIC_DM_EXTINT 0x700u
/* x87 and SSE control words after FNINIT / reset (SDM vol. 1 §8.1.5, §10.2.3). */
#define FPU_FCW_DEFAULT 0x37f
#define FPU_MXCSR_DEFAULT 0x1f80

uint64_t vcpu_first_run_ns;

static void kick_handler(int sig)
{
	(void)sig;
}

int vcpu_signals_init(struct sbx_err *err)
{
	struct sigaction sa = {.sa_handler = kick_handler}; /* no SA_RESTART: KVM_RUN -> EINTR */
	sigemptyset(&sa.sa_mask);
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return sbx_err_set(err, errno, "sigaction SIGUSR1");
	return 0;
}

static void vcpu_set_boot_msrs(struct vcpu *vc)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[BOOT_MSR_COUNT];
	} m = {.hdr.nmsrs = BOOT_MSR_COUNT,
	       .e = {{.index = MSR_IA32_SYSENTER_CS},
		     {.index = MSR_IA32_SYSENTER_ESP},
		     {.index = MSR_IA32_SYSENTER_EIP},
		     {.index = MSR_STAR},
		     {.index = MSR_CSTAR},
		     {.index = MSR_KERNEL_GS_BASE},
		     {.index = MSR_SYSCALL_MASK},
		     {.index = MSR_LSTAR},
		     {.index = MSR_IA32_MISC_ENABLE, .data = MSR_IA32_MISC_ENABLE_FAST_STRING},
		     {.index = MSR_MTRR_DEF_TYPE, .data = MSR_MTRR_ENABLE_WB}}};
	/* KVM sets entries in order and stops at the first it refuses; a back end without MTRRs
	 * (or any of these) still boots Linux, so a short count is not an error. */
	(void)ioctl(vc->fd, KVM_SET_MSRS, &m);
}

static int lapic_set_lvt(struct kvm_lapic_state *l, unsigned reg, uint32_t mode)
{
	uint32_t v;
	memcpy(&v, &l->regs[reg], sizeof(v));
	v = (v & ~APIC_DM_MASK) | mode;
	memcpy(&l->regs[reg], &v, sizeof(v));
	return 0;
}

/* LINT0 = ExtINT (the 8259 PIC), LINT1 = NMI: the wiring the MP table describes. */
static int vcpu_setup_lapic(struct vcpu *vc, struct sbx_err *err)
{
	struct kvm_lapic_state l;
	int r = KVM_IOCTL_PTR(vc->fd, KVM_GET_LAPIC, &l, err);
	if (r < 0)
		return r;
	lapic_set_lvt(&l, APIC_LVT_LINT0, APIC_DM_EXTINT);
	lapic_set_lvt(&l, APIC_LVT_LINT1, APIC_DM_NMI);
	return KVM_IOCTL_PTR(vc->fd, KVM_SET_LAPIC, &l, err);
}

static int vcpu_setup_fpu(struct vcpu *vc, struct sbx_err *err)
{
	struct kvm_fpu fpu = {.fcw = FPU_FCW_DEFAULT, .mxcsr = FPU_MXCSR_DEFAULT};
	return KVM_IOCTL_PTR(vc->fd, KVM_SET_FPU, &fpu, err);
}

int vcpu_open(struct vm *vm, unsigned id, struct vcpu *vc, struct sbx_err *err)
{
	*vc = (struct vcpu){.vm = vm, .id = id, .fd = -1};
	int r = vc->fd = KVM_IOCTL(vm->vm_fd, KVM_CREATE_VCPU, id, err);
	if (r >= 0) {
		vc->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vc->fd, 0);
		if (vc->run == MAP_FAILED) {
			vc->run = NULL;
			r = sbx_err_set(err, errno, "mmap kvm_run");
		}
	}
	if (r < 0) {
		vcpu_destroy(vc);
		return sbx_err_wrap(err, "vcpu %u", id);
	}
	return 0;
}

int vcpu_create(struct vm *vm, unsigned id, unsigned ncpus, const struct kvm_cpuid2 *cpuid,
		bool emulated, const struct pvh_boot *boot, struct vcpu *vc, struct sbx_err *err)
{
	int r = vcpu_open(vm, id, vc, err);
	if (r < 0)
		return r;
	if (r >= 0)
		r = cpuid_set_vcpu(vc->fd, cpuid, id, ncpus, emulated, err);
	if (r >= 0) {
		vcpu_set_boot_msrs(vc);
		r = vcpu_setup_fpu(vc, err);
	}
	if (r >= 0)
		r = vcpu_setup_lapic(vc, err);
	if (r >= 0 && id == 0)
		r = pvh_setup_bsp(vc->fd, boot, err);
	if (r < 0) {
		vcpu_destroy(vc);
		return sbx_err_wrap(err, "vcpu %u", id);
	}
	return 0;
}

void vcpu_destroy(struct vcpu *vc)
{
	if (!vc)
		return;
	if (vc->run)
		munmap(vc->run, vc->vm->run_size);
	if (vc->fd >= 0)
		close(vc->fd);
	vc->run = NULL;
	vc->fd = -1;
}

/* Appends the registers that locate a failure: where it ran, in which mode, on which stack. */
static void vcpu_describe(struct vcpu *vc, const char *what, char *out, size_t len)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	if (ioctl(vc->fd, KVM_GET_REGS, &r) < 0 || ioctl(vc->fd, KVM_GET_SREGS, &s) < 0) {
		snprintf(out, len, "vcpu %u: %s (registers unavailable)", vc->id, what);
		return;
	}
	snprintf(out, len,
		 "vcpu %u: %s; RIP=0x%llx RSP=0x%llx CR0=0x%llx CR3=0x%llx CR4=0x%llx "
		 "EFER=0x%llx CS=0x%x(base 0x%llx, l=%u)",
		 vc->id, what, (unsigned long long)r.rip, (unsigned long long)r.rsp,
		 (unsigned long long)s.cr0, (unsigned long long)s.cr3, (unsigned long long)s.cr4,
		 (unsigned long long)s.efer, s.cs.selector, (unsigned long long)s.cs.base, s.cs.l);
}

static void vcpu_end(struct vcpu *vc, enum exit_action act, const char *msg)
{
	char text[sizeof(vc->vm->stop_reason)];
	if (act == EXIT_ACT_INTERNAL_ERROR || act == EXIT_ACT_FAIL)
		vcpu_describe(vc, msg, text, sizeof(text));
	else
		snprintf(text, sizeof(text), "%s", msg);
	vm_request_stop(vc->vm, exit_action_status(vc->vm, act), "%s", text);
}

/*
 * Before a snapshot: an I/O or MMIO exit is only complete (RIP past the instruction, an IN's
 * value in the register) after the next KVM_RUN; with immediate_exit set KVM finishes it and
 * returns EINTR without running the guest (KVM API doc, "immediate_exit").
 */
static void vcpu_complete_io(struct vcpu *vc)
{
	if (vc->vm->stop_status != VM_STOP_SNAPSHOT) /* stop_requested is set: status is final */
		return;
	__atomic_store_n(&vc->run->immediate_exit, 1, __ATOMIC_RELEASE);
	if (ioctl(vc->fd, KVM_RUN, 0) == 0 || errno != EINTR) {
		fprintf(stderr, "sandbox-vmm: vcpu %u: completing I/O before the snapshot: %s\n",
			vc->id, strerror(errno));
		__atomic_store_n(&vc->vm->snapshot_unsafe, true, __ATOMIC_RELEASE);
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vc = arg;
	struct vm *vm = vc->vm;
	struct sbx_err err = {0};
	if (guest_profile_arm_thread(&err) < 0 ||
	    seccomp_enter(SECCOMP_VCPU, &err) <
		0) { /* before the guest runs a single instruction */
		vm_request_stop(vm, VM_EXIT_VMM_ERROR, "vcpu %u: %s", vc->id, err.msg);
		return NULL;
	}
	while (!vm_stop_requested(vm)) {
		if (vc->id == 0 && !vcpu_first_run_ns)
			vcpu_first_run_ns = monotonic_ns();
		if (ioctl(vc->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				guest_profile_sample(vc);
				continue;
			}
			vm_request_stop(vm, VM_EXIT_VMM_ERROR, "vcpu %u: KVM_RUN: %s", vc->id,
					strerror(errno));
			break;
		}
		seccomp_test_trigger(SECCOMP_VCPU);
		struct exit_report rep = {""};
		enum exit_action act = exit_dispatch(vm, vc->run, &rep);
		if (act != EXIT_ACT_CONTINUE) {
			vcpu_end(vc, act, rep.msg);
			break;
		}
	}
	vcpu_complete_io(vc);
	return NULL;
}

int vcpu_start(struct vcpu *vc, struct sbx_err *err)
{
	int r = pthread_create(&vc->thread, NULL, vcpu_thread, vc);
	if (r != 0)
		return sbx_err_set(err, r, "start vcpu %u thread", vc->id);
	vc->started = true;
	return 0;
}

void vcpu_stop(struct vcpu *vc)
{
	if (!vc->started)
		return;
	__atomic_store_n(&vc->run->immediate_exit, 1, __ATOMIC_RELEASE);
	pthread_kill(vc->thread, VCPU_KICK_SIGNAL);
	pthread_join(vc->thread, NULL);
	vc->started = false;
}

/*
 * The KVM VM object: /dev/kvm, the VM fd, guest RAM in one memslot, the in-kernel interrupt
 * controllers and PIT, the IRQ line helper and the "VM should stop" rendezvous.
 * KVM API reference: Documentation/virt/kvm/api.rst (section numbers below are from 6.1).
 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kvm_ioctl.h"
#include "layout.h"

/* KVM_GET_API_VERSION must return 12 (api.rst 4.1); anything else is an incompatible KVM. */
#define KVM_EXPECTED_API_VERSION 12
#define VM_RAM_SLOT 0

static int vm_open_kvm(struct vm *vm, struct sbx_err *err)
{
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return sbx_err_set(err, errno, "open /dev/kvm");
	int v = KVM_IOCTL(vm->kvm_fd, KVM_GET_API_VERSION, 0, err);
	if (v < 0)
		return v;
	if (v != KVM_EXPECTED_API_VERSION)
		return sbx_err_setx(err, ENOTSUP, "/dev/kvm: KVM API version %d, expected %d", v,
				    KVM_EXPECTED_API_VERSION);
	int r = KVM_IOCTL(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0, err);
	if (r < 0)
		return r;
	if ((size_t)r < sizeof(struct kvm_run))
		return sbx_err_setx(err, ENOTSUP, "KVM_GET_VCPU_MMAP_SIZE: %d is too small", r);
	vm->run_size = (uint32_t)r;
	return 0;
}

/*
 * VMX needs a TSS and identity-map area inside the guest-physical space (api.rst 4.49, 4.74);
 * other KVM back ends (SVM, kvm_pvm) do not, so a refusal is not an error.
 */
static void vm_set_vmx_areas(struct vm *vm)
{
	uint64_t ident = LAYOUT_KVM_IDENTITY_MAP;
	(void)KVM_IOCTL_PTR(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident, NULL);
	(void)KVM_IOCTL(vm->vm_fd, KVM_SET_TSS_ADDR, LAYOUT_KVM_TSS, NULL);
}

static int vm_add_ram(struct vm *vm, uint64_t mem_size, int mem_fd, struct sbx_err *err)
{
	if (mem_size > LAYOUT_RAM_MAX)
		return sbx_err_setx(err, EINVAL, "guest memory %llu MiB exceeds the %llu MiB limit",
				    (unsigned long long)(mem_size >> 20),
				    (unsigned long long)(LAYOUT_RAM_MAX >> 20));
	int r = mem_fd < 0 ? guest_mem_create(&vm->mem, mem_size, err)
			   : guest_mem_map_private(&vm->mem, mem_fd, mem_size, err);
	if (r < 0)
		return r;
	struct kvm_userspace_memory_region region = {
	    .slot = VM_RAM_SLOT,
	    .guest_phys_addr = 0,
	    .memory_size = vm->mem.size,
	    .userspace_addr = (uintptr_t)vm->mem.host,
	};
	r = KVM_IOCTL_PTR(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region, err);
	if (r < 0)
		return sbx_err_wrap(err, "guest RAM slot %d (%llu MiB)", VM_RAM_SLOT,
				    (unsigned long long)(mem_size >> 20));
	return 0;
}

static int vm_create_irqchip(struct vm *vm, struct sbx_err *err)
{
	int r = KVM_IOCTL(vm->vm_fd, KVM_CREATE_IRQCHIP, 0, err);
	if (r < 0)
		return r;
	/* Dummy speaker: KVM also emulates port 0x61, so the kernel's PIT calibration never exits.
	 */
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	return KVM_IOCTL_PTR(vm->vm_fd, KVM_CREATE_PIT2, &pit, err);
}

int vm_create(struct vm *vm, uint64_t mem_size, struct sbx_err *err)
{
	return vm_create_from_file(vm, mem_size, -1, err);
}

int vm_create_from_file(struct vm *vm, uint64_t mem_size, int mem_fd, struct sbx_err *err)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->mem.memfd = -1;
	vm->mmio.name = "mmio";
	vm->pio.name = "pio";
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_cond_init(&vm->stop_cond, NULL);

	int r = vm_open_kvm(vm, err);
	if (r >= 0) {
		vm->vm_fd = r = KVM_IOCTL(vm->kvm_fd, KVM_CREATE_VM, 0, err);
		if (r >= 0)
			(void)fcntl(vm->vm_fd, F_SETFD, FD_CLOEXEC);
	}
	if (r >= 0) {
		vm_set_vmx_areas(vm);
		r = vm_add_ram(vm, mem_size, mem_fd, err);
	}
	if (r >= 0)
		r = vm_create_irqchip(vm, err);
	if (r < 0) {
		vm_destroy(vm);
		return r;
	}
	return 0;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	guest_mem_destroy(&vm->mem);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->vm_fd = vm->kvm_fd = -1;
	pthread_cond_destroy(&vm->stop_cond);
	pthread_mutex_destroy(&vm->stop_lock);
}

int vm_irq_pulse(struct vm *vm, uint32_t gsi)
{
	/* An edge for the IOAPIC (MP table marks these pins edge-triggered): raise, then lower. */
	struct kvm_irq_level lvl = {.irq = gsi, .level = 1};
	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &lvl) < 0)
		return -errno;
	lvl.level = 0;
	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &lvl) < 0)
		return -errno;
	return 0;
}

void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
{
	pthread_mutex_lock(&vm->stop_lock);
	if (!vm->stop_requested) {
		vm->stop_status = status;
		vm->stop_reason[0] = '\0';
		if (fmt) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(vm->stop_reason, sizeof(vm->stop_reason), fmt, ap);
			va_end(ap);
		}
		/* Release: a vCPU that sees the flag without the lock also sees the status. */
		__atomic_store_n(&vm->stop_requested, true, __ATOMIC_RELEASE);
		pthread_cond_broadcast(&vm->stop_cond);
	}
	pthread_mutex_unlock(&vm->stop_lock);
}

bool vm_stop_requested(struct vm *vm)
{
	return __atomic_load_n(&vm->stop_requested, __ATOMIC_ACQUIRE);
}

int vm_wait_stop(struct vm *vm)
{
	pthread_mutex_lock(&vm->stop_lock);
	while (!vm->stop_requested)
		pthread_cond_wait(&vm->stop_cond, &vm->stop_lock);
	int status = vm->stop_status;
	pthread_mutex_unlock(&vm->stop_lock);
	return status;
}

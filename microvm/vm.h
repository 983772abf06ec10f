/*
 * The VM object shared by the VMM core (vm.c, vcpu.c, boot.c, ...) and the devices.
 * Devices only use: mem (through guest_mem.h helpers), the two buses, and vm_irq_pulse().
 */
#ifndef SANDBOX_VM_H
#define SANDBOX_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "guest_mem.h"

struct vm {
	int kvm_fd;
	int vm_fd;
	struct guest_mem mem;
	struct bus mmio;
	struct bus pio;

	/* VMM core only (vm.c, vcpu.c, exit.c); devices leave these alone. */
	uint32_t run_size; /* bytes of each vCPU's kvm_run mapping (KVM_GET_VCPU_MMAP_SIZE) */
	pthread_mutex_t stop_lock; /* guards the stop_* fields; zero-init is a valid mutex */
	pthread_cond_t stop_cond;
	bool stop_requested;   /* the first request wins; later ones are ignored */
	int stop_status;       /* the process exit status (docs/architecture.md) */
	char stop_reason[256]; /* printed on stderr when non-empty */
	bool snapshot_unsafe;  /* a vCPU could not reach a consistent point: no snapshot */
};

/* Exit statuses of sandbox-vmm (docs/architecture.md "VMM command line"). */
enum vm_exit_status {
	VM_EXIT_GUEST_ENDED = 0, /* i8042 reset, KVM_EXIT_SHUTDOWN, system event */
	VM_EXIT_VMM_ERROR = 1,
	VM_EXIT_GUEST_PANIC = 3,    /* "Kernel panic" seen on the serial console */
	VM_EXIT_INTERNAL_ERROR = 4, /* KVM_EXIT_INTERNAL_ERROR (emulation failure) */
	VM_EXIT_GUEST_FAULT = 5, /* a stop the VMM cannot handle (FAIL_ENTRY, crash event, ...) */
	/* Not an exit status: the guest asked for a snapshot (--snapshot-to); main writes it and
	 * exits 0. vCPUs seeing it complete their pending I/O before they stop. */
	VM_STOP_SNAPSHOT = 100,
};

/*
 * Creates the VM: opens /dev/kvm, KVM_CREATE_VM, guest RAM of mem_size bytes in slot 0, the
 * in-kernel IOAPIC/PIC/LAPIC and PIT. On failure everything is released (vm_destroy is safe).
 */
int vm_create(struct vm *vm, uint64_t mem_size, struct sbx_err *err);
/* The same with guest RAM mapped copy-on-write from mem_fd (a snapshot's memory file). */
int vm_create_from_file(struct vm *vm, uint64_t mem_size, int mem_fd, struct sbx_err *err);
void vm_destroy(struct vm *vm);

/*
 * Asks the VM to end with `status`; the first request wins. reason (printf format, may be
 * NULL) is printed once at exit. Safe from any thread, including device callbacks.
 */
void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool vm_stop_requested(struct vm *vm);
/* Blocks until vm_request_stop() was called; returns the status. */
int vm_wait_stop(struct vm *vm);

/*
 * Signals an edge on IOAPIC input `gsi` (KVM_IRQ_LINE high then low). Safe from any thread.
 * Returns 0 or a negative errno.
 */
int vm_irq_pulse(struct vm *vm, uint32_t gsi);

#endif

/*
 * The VM object shared by the VMM core (vm.c, vcpu.c, boot.c, ...) and the devices.
 * Devices only use: mem (through guest_mem.h helpers), the two buses, and vm_irq_pulse().
 */
#ifndef SANDBOX_VM_H
#define SANDBOX_VM_H

#include <stdint.h>

#include "bus.h"
#include "guest_mem.h"

struct vm {
	int kvm_fd;
	int vm_fd;
	struct guest_mem mem;
	struct bus mmio;
	struct bus pio;
};

/*
 * Signals an edge on IOAPIC input `gsi` (KVM_IRQ_LINE high then low). Safe from any thread.
 * Returns 0 or a negative errno.
 */
int vm_irq_pulse(struct vm *vm, uint32_t gsi);

#endif

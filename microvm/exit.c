/*
 * One KVM_RUN exit -> one action. Guest-caused exits (port I/O, MMIO) are never fatal: an access
 * no device claims reads as all ones and is otherwise ignored and counted (bus.c). Exits that
 * end the VM are classified here; the vCPU loop (vcpu.c) adds the register dump.
 */
#include "exit.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void report(struct exit_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void report(struct exit_report *rep, const char *fmt, ...)
{
	if (!rep)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rep->msg, sizeof(rep->msg), fmt, ap);
	va_end(ap);
}

static enum exit_action after_device(struct vm *vm)
{
	/* A device callback (i8042 reset, serial panic watch) may have ended the VM. */
	return vm_stop_requested(vm) ? EXIT_ACT_STOP : EXIT_ACT_CONTINUE;
}

/*
 * KVM_EXIT_IO: `count` items of `size` bytes at run + data_offset (string I/O has count > 1).
 * KVM fills these, but the area is still bounds-checked against the mapping before use.
 */
static enum exit_action exit_io(struct vm *vm, struct kvm_run *run)
{
	uint32_t size = run->io.size, count = run->io.count;
	uint64_t off = run->io.data_offset, total = (uint64_t)size * count;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	if ((size != 1 && size != 2 && size != 4) || count == 0 || off > vm->run_size ||
	    total > vm->run_size - off) {
		__atomic_add_fetch(&vm->pio.unhandled, 1, __ATOMIC_RELAXED);
		return EXIT_ACT_CONTINUE;
	}
	uint8_t *data = (uint8_t *)run + off;
	for (uint32_t i = 0; i < count; i++)
		bus_dispatch(&vm->pio, run->io.port, data + (uint64_t)i * size, size, is_write);
	return after_device(vm);
}

static enum exit_action exit_mmio(struct vm *vm, struct kvm_run *run)
{
	uint32_t len = run->mmio.len;
	if (len == 0 || len > sizeof(run->mmio.data)) {
		__atomic_add_fetch(&vm->mmio.unhandled, 1, __ATOMIC_RELAXED);
		return EXIT_ACT_CONTINUE;
	}
	bus_dispatch(&vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write);
	return after_device(vm);
}

static const char *internal_suberror_name(uint32_t sub)
{
	switch (sub) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "emulation failure";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "event delivery failure";
	case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
		return "unexpected exit reason";
	default:
		return "unknown suberror";
	}
}

static enum exit_action exit_internal(struct kvm_run *run, struct exit_report *rep)
{
	char bytes[3 * 15 + 1] = "";
	uint32_t sub = run->internal.suberror;
	/* With the flag set, KVM gives the bytes of the instruction it could not emulate. */
	if (sub == KVM_INTERNAL_ERROR_EMULATION && run->emulation_failure.ndata >= 3 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		unsigned n = run->emulation_failure.insn_size;
		if (n > sizeof(run->emulation_failure.insn_bytes))
			n = sizeof(run->emulation_failure.insn_bytes);
		for (unsigned i = 0; i < n; i++)
			snprintf(bytes + 3 * i, sizeof(bytes) - 3 * i, " %02x",
				 run->emulation_failure.insn_bytes[i]);
	}
	report(rep, "KVM_EXIT_INTERNAL_ERROR suberror %u (%s)%s%s", sub,
	       internal_suberror_name(sub), bytes[0] ? ", instruction:" : "", bytes);
	return EXIT_ACT_INTERNAL_ERROR;
}

static enum exit_action exit_system_event(struct kvm_run *run, struct exit_report *rep)
{
	switch (run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		report(rep, "guest powered off");
		return EXIT_ACT_GUEST_SHUTDOWN;
	case KVM_SYSTEM_EVENT_RESET:
		report(rep, "guest reset");
		return EXIT_ACT_GUEST_RESET;
	default:
		report(rep, "KVM_EXIT_SYSTEM_EVENT type %u", run->system_event.type);
		return EXIT_ACT_FAIL;
	}
}

enum exit_action exit_dispatch(struct vm *vm, struct kvm_run *run, struct exit_report *rep)
{
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return exit_io(vm, run);
	case KVM_EXIT_MMIO:
		return exit_mmio(vm, run);
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; nothing can wake the vCPU, so the guest is done.
		 */
		report(rep, "guest halted");
		return EXIT_ACT_GUEST_SHUTDOWN;
	case KVM_EXIT_SHUTDOWN:
		/* Triple fault: what a reset looks like to KVM; Firecracker treats it as the end.
		 */
		report(rep, "guest shut down (KVM_EXIT_SHUTDOWN)");
		return EXIT_ACT_GUEST_SHUTDOWN;
	case KVM_EXIT_INTERNAL_ERROR:
		return exit_internal(run, rep);
	case KVM_EXIT_FAIL_ENTRY:
		report(rep, "KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x%llx on cpu %u",
		       (unsigned long long)run->fail_entry.hardware_entry_failure_reason,
		       run->fail_entry.cpu);
		return EXIT_ACT_FAIL;
	case KVM_EXIT_SYSTEM_EVENT:
		return exit_system_event(run, rep);
	case KVM_EXIT_INTR:
		return after_device(vm);
	default:
		report(rep, "unhandled KVM exit reason %u", run->exit_reason);
		return EXIT_ACT_FAIL;
	}
}

int exit_action_status(const struct vm *vm, enum exit_action act)
{
	switch (act) {
	case EXIT_ACT_GUEST_RESET:
	case EXIT_ACT_GUEST_SHUTDOWN:
		return VM_EXIT_GUEST_ENDED;
	case EXIT_ACT_STOP:
		return vm->stop_status;
	case EXIT_ACT_INTERNAL_ERROR:
		return VM_EXIT_INTERNAL_ERROR;
	case EXIT_ACT_FAIL:
		return VM_EXIT_GUEST_FAULT;
	case EXIT_ACT_CONTINUE:
		break;
	}
	return VM_EXIT_GUEST_ENDED;
}

/*
 * The vCPU exit dispatcher: a pure function of (vm, kvm_run) that handles one KVM_RUN exit and
 * says what the vCPU loop should do next. It touches no vCPU fd, so unit tests drive it with
 * fabricated kvm_run structs (Firecracker's model).
 */
#ifndef SANDBOX_EXIT_H
#define SANDBOX_EXIT_H

#include <linux/kvm.h>

#include "vm.h"

enum exit_action {
	EXIT_ACT_CONTINUE,	 /* handled; KVM_RUN again */
	EXIT_ACT_GUEST_RESET,	 /* the guest asked for a reset: it is done (exit 0) */
	EXIT_ACT_GUEST_SHUTDOWN, /* triple fault, HLT without irqchip, power-off event (exit 0) */
	EXIT_ACT_STOP,		 /* a device asked the VM to stop (vm->stop_status says how) */
	EXIT_ACT_INTERNAL_ERROR, /* KVM could not emulate something (exit 4) */
	EXIT_ACT_FAIL,		 /* an exit the VMM cannot handle (exit 5) */
};

struct exit_report {
	char msg[256]; /* for anything but CONTINUE: what happened, for the one stderr line */
};

enum exit_action exit_dispatch(struct vm *vm, struct kvm_run *run, struct exit_report *rep);

/* The process exit status for a terminal action (vm->stop_status for EXIT_ACT_STOP). */
int exit_action_status(const struct vm *vm, enum exit_action act);

#endif

/*
 * The hostile guest's second vCPU (the VMM is started with --cpus 2): woken by INIT/SIPI through
 * the local APIC, it runs one function in a loop next to the boot vCPU, which is how the race
 * attack hammers a device's registers while the first vCPU drives its queues.
 */
#ifndef HOSTILE_SMP_H
#define HOSTILE_SMP_H

#include "guest.h"

/* Starts the AP (APIC ID 1) idle; false if it never came up (one vCPU only). */
bool smp_start_ap(void);
/* The AP calls fn(arg) over and over until smp_ap_idle(); one at a time. */
void smp_ap_run(void (*fn)(uint32_t arg), uint32_t arg);
/* Returns once the AP has finished its current call and waits for the next. */
void smp_ap_idle(void);
/* Idle, then INIT: the AP waits for a SIPI again and takes no host CPU (a spinning vCPU does,
 * and every guest instruction is emulated on kvm_pvm). smp_start_ap() wakes it again. */
void smp_ap_park(void);
/* Calls of the current function so far (the AP's progress). */
uint32_t smp_ap_calls(void);

#endif

/*
 * KVM state in a snapshot: per vCPU (snapshot_vcpu.c) and per VM (snapshot_vm.c). Save runs after
 * every vCPU thread stopped at a consistent point (vcpu.c: pending I/O completed); restore runs
 * before any vCPU thread starts.
 */
#ifndef SANDBOX_SNAPSHOT_KVM_H
#define SANDBOX_SNAPSHOT_KVM_H

#include "snapshot.h"
#include "vcpu.h"
#include "vm.h"

/* One SNAP_TAG_VCPU section: registers, FPU/XSAVE, XCRs, debug regs, MSRs, LAPIC, events, MP
 * state, CPUID. */
int snap_vcpu_save(struct vcpu *vc, struct snap_w *w, struct sbx_err *err);
/* Reads the next SNAP_TAG_VCPU section into the freshly opened vCPU `vc` (vcpu_open). */
int snap_vcpu_restore(struct vcpu *vc, struct snap_rd *r, struct sbx_err *err);

/* One SNAP_TAG_VM section: PIC master/slave, IOAPIC, PIT2, KVM clock. */
int snap_vm_save(struct vm *vm, struct snap_w *w, struct sbx_err *err);
int snap_vm_restore(struct vm *vm, struct snap_rd *r, struct sbx_err *err);

#endif

/*
 * VM-wide KVM state (KVM API doc 4.26-4.27 irqchip, 4.70-4.71 PIT2, 4.48-4.49 clock): the two
 * 8259 PICs, the IOAPIC, the 8254 PIT, and kvmclock's time base.
 */
#include <linux/kvm.h>
#include <string.h>

#include "kvm_ioctl.h"
#include "snapshot_kvm.h"

/* KVM_GET_IRQCHIP chip ids (api.rst 4.26). */
static const unsigned irqchip_ids[] = {KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE,
				       KVM_IRQCHIP_IOAPIC};
#define NUM_IRQCHIPS (sizeof(irqchip_ids) / sizeof(irqchip_ids[0]))

int snap_vm_save(struct vm *vm, struct snap_w *w, struct sbx_err *err)
{
	size_t sec = snap_section_begin(w, SNAP_TAG_VM);
	for (unsigned i = 0; i < NUM_IRQCHIPS; i++) {
		struct kvm_irqchip chip = {.chip_id = irqchip_ids[i]};
		int r = KVM_IOCTL_PTR(vm->vm_fd, KVM_GET_IRQCHIP, &chip, err);
		if (r < 0)
			return sbx_err_wrap(err, "snapshot irqchip %u", irqchip_ids[i]);
		snap_put_blob(w, &chip, sizeof(chip));
	}
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	memset(&clock, 0, sizeof(clock));
	int r = KVM_IOCTL_PTR(vm->vm_fd, KVM_GET_PIT2, &pit, err);
	if (r >= 0)
		r = KVM_IOCTL_PTR(vm->vm_fd, KVM_GET_CLOCK, &clock, err);
	if (r < 0)
		return sbx_err_wrap(err, "snapshot VM state");
	snap_put_blob(w, &pit, sizeof(pit));
	snap_put_blob(w, &clock, sizeof(clock));
	snap_section_end(w, sec);
	return 0;
}

int snap_vm_restore(struct vm *vm, struct snap_rd *r, struct sbx_err *err)
{
	struct snap_rd s;
	struct kvm_irqchip chips[NUM_IRQCHIPS];
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	int ret = snap_section(r, SNAP_TAG_VM, "VM state", &s, err);
	for (unsigned i = 0; ret >= 0 && i < NUM_IRQCHIPS; i++) {
		ret = snap_get_blob(&s, &chips[i], sizeof(chips[i]), err);
		if (ret >= 0 && chips[i].chip_id != irqchip_ids[i])
			ret = sbx_err_setx(err, EINVAL, "snapshot state is corrupt (irqchip id %u)",
					   chips[i].chip_id);
	}
	if (ret >= 0)
		ret = snap_get_blob(&s, &pit, sizeof(pit), err);
	if (ret >= 0)
		ret = snap_get_blob(&s, &clock, sizeof(clock), err);
	if (ret >= 0)
		ret = snap_end(&s, err);
	if (ret < 0)
		return ret;
	for (unsigned i = 0; ret >= 0 && i < NUM_IRQCHIPS; i++)
		ret = KVM_IOCTL_PTR(vm->vm_fd, KVM_SET_IRQCHIP, &chips[i], err);
	if (ret >= 0)
		ret = KVM_IOCTL_PTR(vm->vm_fd, KVM_SET_PIT2, &pit, err);
	/* The guest clock goes on from the snapshot's value, as Firecracker does: only the input
	 * flags KVM accepts may be set, and "TSC stable" is an output flag of KVM_GET_CLOCK. The
	 * guest's wall clock is therefore stale until it is set (docs/snapshot.md). */
	clock.flags = 0;
	if (ret >= 0)
		ret = KVM_IOCTL_PTR(vm->vm_fd, KVM_SET_CLOCK, &clock, err);
	return ret < 0 ? sbx_err_wrap(err, "restore VM state") : 0;
}

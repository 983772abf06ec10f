/*
 * Snapshot and restore of the whole VM (docs/snapshot.md). The state file's sections come in
 * restore order: VM (irqchip, PIT, clock), each vCPU, serial, i8042/CMOS, each virtio device.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "snapshot_kvm.h"
#include "virtio_devices.h"
#include "virtio_fs.h"
#include "virtio_mmio.h"
#include "virtio_net.h"
#include "vmm.h"

static int build_state(struct vmm *v, struct snap_w *w, struct sbx_err *err)
{
	int r = snap_vm_save(&v->vm, w, err);
	for (unsigned i = 0; r >= 0 && i < v->nvcpus; i++)
		r = snap_vcpu_save(&v->vcpus[i], w, err);
	if (r < 0)
		return r;
	serial_save(v->serial, w);
	legacy_save(v->legacy, w);
	for (unsigned i = 0; r >= 0 && i < v->ndevs; i++)
		r = virtio_dev_save(v->devs[i], w, err);
	return r;
}

static int write_dir(struct vmm *v, const char *tmp, const struct snap_w *w, struct sbx_err *err)
{
	struct snap_info info = {.ncpus = v->nvcpus,
				 .ndevices = v->ndevs,
				 .mem_size = v->vm.mem.size,
				 .build_id = snap_build_id()};
	cleanup_free uint8_t *buf = NULL;
	size_t len = 0;
	if (!info.build_id)
		return sbx_err_setx(err, EIO, "cannot hash /proc/self/exe for the build id");
	int r = snap_encode(&info, w, &buf, &len, err);
	if (r >= 0)
		r = snap_write_memory(tmp, &v->vm.mem, err);
	if (r >= 0)
		r = snap_write_file(tmp, SNAP_STATE_FILE, buf, len, err);
	return r;
}

int vmm_snapshot_save(struct vmm *v, const char *dir, struct sbx_err *err)
{
	if (v->vm.snapshot_unsafe)
		return sbx_err_setx(err, EIO, "snapshot: a vCPU did not stop cleanly");
	struct snap_w w = {0};
	char tmp[4096];
	int r = build_state(v, &w, err);
	if (r >= 0)
		r = snap_dir_begin(dir, tmp, sizeof(tmp), err);
	if (r >= 0) {
		r = write_dir(v, tmp, &w, err);
		if (r >= 0)
			r = snap_dir_commit(tmp, dir, err);
		if (r < 0)
			snap_dir_remove(tmp);
	}
	snap_w_free(&w);
	return r < 0 ? sbx_err_wrap(err, "snapshot to '%s'", dir) : 0;
}

static int check_config(const struct snap_info *info, const struct vmm_opts *o, struct sbx_err *err)
{
	if (info->ncpus == 0 || info->ncpus > MPTABLE_MAX_CPUS ||
	    info->ndevices > LAYOUT_VIRTIO_MAX_DEVICES || info->mem_size == 0 ||
	    info->mem_size > LAYOUT_RAM_MAX)
		return sbx_err_setx(err, EINVAL, "snapshot state is corrupt (VM config)");
	if (o->cpus_set && o->cpus != info->ncpus)
		return sbx_err_setx(err, EINVAL, "--cpus %u does not match the snapshot's %u vCPUs",
				    o->cpus, info->ncpus);
	if (o->mem_set && (o->mem_mib << 20) != info->mem_size)
		return sbx_err_setx(
		    err, EINVAL, "--memory %llu does not match the snapshot's %llu MiB",
		    (unsigned long long)o->mem_mib, (unsigned long long)(info->mem_size >> 20));
	return 0;
}

int vmm_restore_begin(struct vmm *v, const struct vmm_opts *o, struct sbx_err *err)
{
	size_t len = 0;
	int r = snap_read_state(o->restore, &v->snap_buf, &len, err);
	if (r >= 0)
		r = snap_decode(v->snap_buf, len, snap_build_id(), &v->snap_info, &v->snap, err);
	if (r >= 0)
		r = check_config(&v->snap_info, o, err);
	if (r < 0)
		return sbx_err_wrap(err, "restore from '%s'", o->restore);
	cleanup_close int fd = snap_open_memory(o->restore, v->snap_info.mem_size, err);
	if (fd < 0)
		return sbx_err_wrap(err, "restore from '%s'", o->restore);
	r = vm_create_from_file(&v->vm, v->snap_info.mem_size, fd, err);
	if (r < 0)
		return r;
	v->vm_created = true;
	/* A virtio-fs back end maps guest RAM from an fd: a shared copy (docs/virtiofs.md). */
	for (unsigned i = 0; i < o->nfs; i++)
		if (o->fs[i].socket[0])
			return guest_mem_share(&v->vm.mem, fd, err);
	return 0;
}

/*
 * The guest's clock can jump by the snapshot's age on resume (on kvm_pvm its TSC is the
 * host's), and the RCU stall detector then finds a grace period "stalled" since the snapshot
 * and dumps every stack: ~0.4 s of emulated printk per run (docs/snapshot.md). KVM_KVMCLOCK_CTRL
 * sets PVCLOCK_GUEST_STOPPED, which the stall and soft-lockup checks take as "the host paused
 * us", as after QEMU's resume. It fails only when the guest never enabled kvmclock (EINVAL);
 * then there is no stall check to calm and nothing to report.
 */
static void tell_guest_it_was_paused(struct vcpu *vc)
{
	(void)ioctl(vc->fd, KVM_KVMCLOCK_CTRL, 0);
}

static int restore_vcpus(struct vmm *v, struct sbx_err *err)
{
	int r = snap_vm_restore(&v->vm, &v->snap, err);
	for (unsigned i = 0; r >= 0 && i < v->snap_info.ncpus; i++) {
		r = vcpu_open(&v->vm, i, &v->vcpus[i], err);
		if (r < 0)
			break;
		v->nvcpus++;
		r = snap_vcpu_restore(&v->vcpus[i], &v->snap, err);
	}
	for (unsigned i = 0; r >= 0 && i < v->nvcpus; i++)
		tell_guest_it_was_paused(&v->vcpus[i]);
	return r;
}

/* The --fs option whose tag names this restored virtio-fs slot (NULL: the slot stays empty). */
static const char *fs_socket_for(const char *tag, void *ctx)
{
	struct vmm_opts *o = ctx;
	for (unsigned i = 0; i < o->nfs; i++)
		if (!strcmp(o->fs[i].tag, tag) && !o->fs[i].used) {
			o->fs[i].used = true;
			return o->fs[i].socket;
		}
	return NULL;
}

/* The next --disk for an empty block slot, or NULL; *next advances over the options. */
static const char *next_fill(const struct vmm_opts *o, unsigned *next)
{
	return *next < o->ndisks ? o->disks[(*next)++].path : NULL;
}

static int restore_device(struct vmm *v, const struct vmm_opts *o, unsigned *fill,
			  struct sbx_err *err)
{
	struct snap_rd sec;
	uint32_t id = 0, irq = 0;
	uint64_t base = 0;
	unsigned i = v->ndevs;
	void **slot = &v->devs[i];
	int r = virtio_dev_restore_begin(&v->snap, &sec, &id, &base, &irq, err);
	if (r < 0)
		return r;
	if (base != LAYOUT_VIRTIO_MMIO_BASE + i * LAYOUT_VIRTIO_MMIO_SIZE ||
	    irq != LAYOUT_VIRTIO_IRQ_BASE + i)
		return sbx_err_setx(err, EINVAL, "snapshot state is corrupt (device %u window)", i);
	switch (id) {
	case VIRTIO_ID_BLOCK:
		r = virtio_blk_restore(&v->vm, base, irq, &sec,
				       virtio_blk_slot_is_empty(sec) ? next_fill(o, fill) : NULL,
				       slot, err);
		break;
	case VIRTIO_ID_VSOCK:
		if (!o->vsock_uds)
			return sbx_err_setx(err, EINVAL,
					    "the snapshot has a vsock device: --vsock-uds needed");
		r = virtio_vsock_restore(&v->vm, base, irq, &sec, o->vsock_cid, o->vsock_uds, slot,
					 err);
		break;
	case VIRTIO_ID_ENTROPY:
		r = virtio_rng_restore(&v->vm, base, irq, &sec, slot, err);
		break;
	case VIRTIO_ID_NET:
		r = virtio_net_restore(&v->vm, base, irq, &sec, &o->net, slot, err);
		break;
	case VIRTIO_ID_FS:
		r = virtio_fs_restore(&v->vm, base, irq, &sec, fs_socket_for, (void *)o, slot, err);
		break;
	default:
		return sbx_err_setx(err, EINVAL, "snapshot state is corrupt (device id %u)", id);
	}
	if (r >= 0)
		v->ndevs++;
	return r;
}

static bool has_net(const struct vmm *v)
{
	for (unsigned i = 0; i < v->ndevs; i++)
		if (((struct virtio_mmio *)v->devs[i])->ops->device_id == VIRTIO_ID_NET)
			return true;
	return false;
}

static bool has_vsock(const struct vmm *v)
{
	for (unsigned i = 0; i < v->ndevs; i++)
		if (((struct virtio_mmio *)v->devs[i])->ops->device_id == VIRTIO_ID_VSOCK)
			return true;
	return false;
}

static int restore_devices(struct vmm *v, const struct vmm_opts *o, struct sbx_err *err)
{
	unsigned fill = 0;
	int r = serial_restore(v->serial, &v->snap, err);
	if (r >= 0)
		r = legacy_restore(v->legacy, &v->snap, err);
	for (unsigned i = 0; r >= 0 && i < v->snap_info.ndevices; i++)
		r = restore_device(v, o, &fill, err);
	if (r >= 0)
		r = snap_end(&v->snap, err);
	if (r >= 0 && fill < o->ndisks)
		r = sbx_err_setx(err, EINVAL,
				 "%u --disk given, the snapshot has %u empty disk slot(s)",
				 o->ndisks, fill);
	if (r >= 0 && o->vsock_uds && !has_vsock(v))
		r = sbx_err_setx(err, EINVAL,
				 "--vsock-uds given, the snapshot has no vsock device");
	if (r >= 0 && o->net.enabled && !has_net(v))
		r = sbx_err_setx(err, EINVAL, "--net given, the snapshot has no network slot");
	for (unsigned i = 0; r >= 0 && i < o->nfs; i++)
		if (!o->fs[i].used || !o->fs[i].socket[0])
			r = sbx_err_setx(err, EINVAL, "--fs tag=%s: %s", o->fs[i].tag,
					 o->fs[i].used
					     ? "a restore needs socket=PATH"
					     : "the snapshot has no virtio-fs slot with that tag");
	return r;
}

int vmm_restore_finish(struct vmm *v, const struct vmm_opts *o, struct sbx_err *err)
{
	int r = restore_vcpus(v, err);
	if (r >= 0)
		r = restore_devices(v, o, err);
	free(v->snap_buf);
	v->snap_buf = NULL;
	if (r < 0)
		return sbx_err_wrap(err, "restore from '%s'", o->restore);
	/* Last, once the irqchip state is back: a pulse now reaches the restored IOAPIC. */
	for (unsigned i = 0; i < v->ndevs; i++)
		virtio_dev_resume(v->devs[i]);
	legacy_boot_timer_log(v->legacy, "restored");
	return 0;
}

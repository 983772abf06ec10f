/*
 * Per-vCPU KVM state, saved and restored in the order Firecracker uses (it is what the KVM API
 * needs): CPUID first (it decides which MSRs and XSAVE parts exist), LAPIC before the MSRs (the
 * TSC deadline MSR lives in the LAPIC), vCPU events last (they carry the pending
 * exception/interrupt/NMI that the register writes would otherwise clear).
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cleanup.h"
#include "kvm_ioctl.h"
#include "snapshot_kvm.h"

/* Upper bounds on the variable parts (KVM_MAX_CPUID_ENTRIES is 256 in Linux 6.1). */
#define SNAP_MAX_CPUID 256u
#define SNAP_MAX_MSRS 1024u
/* Which optional parts a vCPU record carries. */
#define SNAP_VCPU_HAS_XSAVE 1u
#define SNAP_VCPU_HAS_XCRS 2u

struct cpuid_buf {
	struct kvm_cpuid2 hdr;
	struct kvm_cpuid_entry2 e[SNAP_MAX_CPUID];
};

struct msr_buf {
	struct kvm_msrs hdr;
	struct kvm_msr_entry e[SNAP_MAX_MSRS];
};

/* The fixed-size state of one vCPU, as KVM hands it out. */
struct vcpu_fixed {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dregs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp;
};

static uint32_t vcpu_optional(struct vm *vm)
{
	uint32_t f = 0;
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0)
		f |= SNAP_VCPU_HAS_XSAVE;
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0)
		f |= SNAP_VCPU_HAS_XCRS;
	return f;
}

/*
 * Every MSR KVM lists (KVM_GET_MSR_INDEX_LIST, as Firecracker does) that this vCPU can read.
 * KVM_GET_MSRS stops at the first MSR it refuses; that one is dropped and the rest retried.
 */
static int read_msrs(struct vcpu *vc, struct msr_buf *m, struct sbx_err *err)
{
	struct {
		struct kvm_msr_list hdr;
		uint32_t idx[SNAP_MAX_MSRS];
	} list = {.hdr.nmsrs = SNAP_MAX_MSRS};
	if (ioctl(vc->vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &list) < 0)
		return sbx_err_set(err, errno, "KVM_GET_MSR_INDEX_LIST");
	uint32_t n = 0;
	for (uint32_t i = 0; i < list.hdr.nmsrs; i++)
		m->e[n++] = (struct kvm_msr_entry){.index = list.idx[i]};
	uint32_t done = 0;
	while (done < n) {
		struct msr_buf part = {.hdr.nmsrs = n - done};
		memcpy(part.e, &m->e[done], (n - done) * sizeof(part.e[0]));
		int r = ioctl(vc->fd, KVM_GET_MSRS, &part);
		if (r < 0)
			return sbx_err_set(err, errno, "KVM_GET_MSRS");
		memcpy(&m->e[done], part.e, (size_t)r * sizeof(part.e[0]));
		done += (uint32_t)r;
		if (done < n) { /* m->e[done] is unreadable here: drop it */
			memmove(&m->e[done], &m->e[done + 1], (n - done - 1) * sizeof(m->e[0]));
			n--;
		}
	}
	m->hdr.nmsrs = n;
	return 0;
}

static int get_fixed(struct vcpu *vc, uint32_t opt, struct vcpu_fixed *f, struct sbx_err *err)
{
	int fd = vc->fd;
	int r = KVM_IOCTL_PTR(fd, KVM_GET_MP_STATE, &f->mp, err);
	if (r >= 0)
		r = KVM_IOCTL_PTR(fd, KVM_GET_REGS, &f->regs, err);
	if (r >= 0)
		r = KVM_IOCTL_PTR(fd, KVM_GET_SREGS, &f->sregs, err);
	if (r >= 0)
		r = KVM_IOCTL_PTR(fd, KVM_GET_FPU, &f->fpu, err);
	if (r >= 0 && (opt & SNAP_VCPU_HAS_XSAVE))
		r = KVM_IOCTL_PTR(fd, KVM_GET_XSAVE, &f->xsave, err);
	if (r >= 0 && (opt & SNAP_VCPU_HAS_XCRS))
		r = KVM_IOCTL_PTR(fd, KVM_GET_XCRS, &f->xcrs, err);
	if (r >= 0)
		r = KVM_IOCTL_PTR(fd, KVM_GET_DEBUGREGS, &f->dregs, err);
	if (r >= 0)
		r = KVM_IOCTL_PTR(fd, KVM_GET_LAPIC, &f->lapic, err);
	if (r >= 0)
		r = KVM_IOCTL_PTR(fd, KVM_GET_VCPU_EVENTS, &f->events, err);
	return r;
}

static void put_fixed(struct snap_w *w, uint32_t opt, const struct vcpu_fixed *f)
{
	snap_put_blob(w, &f->regs, sizeof(f->regs));
	snap_put_blob(w, &f->sregs, sizeof(f->sregs));
	snap_put_blob(w, &f->fpu, sizeof(f->fpu));
	if (opt & SNAP_VCPU_HAS_XSAVE)
		snap_put_blob(w, &f->xsave, sizeof(f->xsave));
	if (opt & SNAP_VCPU_HAS_XCRS)
		snap_put_blob(w, &f->xcrs, sizeof(f->xcrs));
	snap_put_blob(w, &f->dregs, sizeof(f->dregs));
	snap_put_blob(w, &f->lapic, sizeof(f->lapic));
	snap_put_blob(w, &f->events, sizeof(f->events));
	snap_put_blob(w, &f->mp, sizeof(f->mp));
}

int snap_vcpu_save(struct vcpu *vc, struct snap_w *w, struct sbx_err *err)
{
	cleanup_free struct vcpu_fixed *f = calloc(1, sizeof(*f));
	cleanup_free struct msr_buf *msrs = calloc(1, sizeof(*msrs));
	cleanup_free struct cpuid_buf *cpuid = calloc(1, sizeof(*cpuid));
	if (!f || !msrs || !cpuid)
		return sbx_err_set(err, ENOMEM, "snapshot vcpu %u", vc->id);
	uint32_t opt = vcpu_optional(vc->vm);
	cpuid->hdr.nent = SNAP_MAX_CPUID;
	int r = get_fixed(vc, opt, f, err);
	if (r >= 0)
		r = KVM_IOCTL(vc->fd, KVM_GET_CPUID2, cpuid, err);
	if (r >= 0)
		r = read_msrs(vc, msrs, err);
	if (r < 0)
		return sbx_err_wrap(err, "snapshot vcpu %u", vc->id);
	size_t sec = snap_section_begin(w, SNAP_TAG_VCPU);
	snap_put_u32(w, vc->id);
	snap_put_u32(w, opt);
	put_fixed(w, opt, f);
	snap_put_blob(w, cpuid->e, cpuid->hdr.nent * sizeof(cpuid->e[0]));
	snap_put_blob(w, msrs->e, msrs->hdr.nmsrs * sizeof(msrs->e[0]));
	snap_section_end(w, sec);
	return 0;
}

static int get_fixed_rd(struct snap_rd *s, uint32_t opt, struct vcpu_fixed *f, struct sbx_err *err)
{
	int r = snap_get_blob(s, &f->regs, sizeof(f->regs), err);
	if (r >= 0)
		r = snap_get_blob(s, &f->sregs, sizeof(f->sregs), err);
	if (r >= 0)
		r = snap_get_blob(s, &f->fpu, sizeof(f->fpu), err);
	if (r >= 0 && (opt & SNAP_VCPU_HAS_XSAVE))
		r = snap_get_blob(s, &f->xsave, sizeof(f->xsave), err);
	if (r >= 0 && (opt & SNAP_VCPU_HAS_XCRS))
		r = snap_get_blob(s, &f->xcrs, sizeof(f->xcrs), err);
	if (r >= 0)
		r = snap_get_blob(s, &f->dregs, sizeof(f->dregs), err);
	if (r >= 0)
		r = snap_get_blob(s, &f->lapic, sizeof(f->lapic), err);
	if (r >= 0)
		r = snap_get_blob(s, &f->events, sizeof(f->events), err);
	if (r >= 0)
		r = snap_get_blob(s, &f->mp, sizeof(f->mp), err);
	return r;
}

/* A variable-length array of `elem`-sized entries, at most max of them. */
static int get_array(struct snap_rd *s, void *dst, size_t elem, size_t max, uint32_t *n,
		     struct sbx_err *err)
{
	size_t got = 0;
	int r = snap_get_blob_max(s, dst, elem * max, &got, err);
	if (r >= 0 && got % elem)
		r = sbx_err_setx(err, EINVAL, "snapshot state is corrupt (in %s: %zu-byte array)",
				 s->what, got);
	*n = (uint32_t)(got / elem);
	return r;
}

static int set_fixed(struct vcpu *vc, uint32_t opt, struct vcpu_fixed *f, struct sbx_err *err)
{
	int fd = vc->fd;
	int r = KVM_IOCTL_PTR(fd, KVM_SET_MP_STATE, &f->mp, err);
	if (r >= 0)
		r = KVM_IOCTL_PTR(fd, KVM_SET_REGS, &f->regs, err);
	if (r >= 0)
		r = KVM_IOCTL_PTR(fd, KVM_SET_SREGS, &f->sregs, err);
	if (r >= 0)
		r = KVM_IOCTL_PTR(fd, KVM_SET_FPU, &f->fpu, err);
	if (r >= 0 && (opt & SNAP_VCPU_HAS_XSAVE))
		r = KVM_IOCTL_PTR(fd, KVM_SET_XSAVE, &f->xsave, err);
	if (r >= 0 && (opt & SNAP_VCPU_HAS_XCRS))
		r = KVM_IOCTL_PTR(fd, KVM_SET_XCRS, &f->xcrs, err);
	if (r >= 0)
		r = KVM_IOCTL_PTR(fd, KVM_SET_DEBUGREGS, &f->dregs, err);
	if (r >= 0)
		r = KVM_IOCTL_PTR(fd, KVM_SET_LAPIC, &f->lapic, err);
	return r;
}

static int set_msrs(struct vcpu *vc, struct msr_buf *m, struct sbx_err *err)
{
	int r = KVM_IOCTL(vc->fd, KVM_SET_MSRS, m, err);
	if (r >= 0 && (uint32_t)r < m->hdr.nmsrs)
		return sbx_err_setx(err, EINVAL, "KVM_SET_MSRS: MSR %#x refused", m->e[r].index);
	return r;
}

int snap_vcpu_restore(struct vcpu *vc, struct snap_rd *r, struct sbx_err *err)
{
	cleanup_free struct vcpu_fixed *f = calloc(1, sizeof(*f));
	cleanup_free struct msr_buf *msrs = calloc(1, sizeof(*msrs));
	cleanup_free struct cpuid_buf *cpuid = calloc(1, sizeof(*cpuid));
	if (!f || !msrs || !cpuid)
		return sbx_err_set(err, ENOMEM, "restore vcpu %u", vc->id);
	struct snap_rd s;
	uint32_t id = 0, opt = 0;
	int ret = snap_section(r, SNAP_TAG_VCPU, "vcpu", &s, err);
	if (ret >= 0 && (ret = snap_get_u32(&s, &id, err)) >= 0 && id != vc->id)
		ret = sbx_err_setx(err, EINVAL, "snapshot state is corrupt (vcpu %u, %u expected)",
				   id, vc->id);
	if (ret >= 0 && (ret = snap_get_u32(&s, &opt, err)) >= 0 && (opt & ~vcpu_optional(vc->vm)))
		ret = sbx_err_setx(err, ENOTSUP, "snapshot needs XSAVE/XCRS state this KVM lacks");
	if (ret >= 0)
		ret = get_fixed_rd(&s, opt, f, err);
	if (ret >= 0)
		ret = get_array(&s, cpuid->e, sizeof(cpuid->e[0]), SNAP_MAX_CPUID, &cpuid->hdr.nent,
				err);
	if (ret >= 0)
		ret = get_array(&s, msrs->e, sizeof(msrs->e[0]), SNAP_MAX_MSRS, &msrs->hdr.nmsrs,
				err);
	if (ret >= 0)
		ret = snap_end(&s, err);
	if (ret < 0)
		return ret;
	ret = KVM_IOCTL(vc->fd, KVM_SET_CPUID2, cpuid, err);
	if (ret >= 0)
		ret = set_fixed(vc, opt, f, err);
	if (ret >= 0)
		ret = set_msrs(vc, msrs, err);
	if (ret >= 0)
		ret = KVM_IOCTL_PTR(vc->fd, KVM_SET_VCPU_EVENTS, &f->events, err);
	return ret < 0 ? sbx_err_wrap(err, "restore vcpu %u", vc->id) : 0;
}

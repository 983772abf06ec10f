/*
 * sandbox-vmm: one KVM micro-VM. Parses the command line (docs/architecture.md "VMM command
 * line"), builds the VM, runs its vCPUs until the guest ends, and exits with the status the
 * contract defines. Errors are printed once, here.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "boot_pvh.h"
#include "cmdline.h"
#include "cpuid.h"
#include "guest_profile.h"
#include "layout.h"
#include "legacy.h"
#include "mptable.h"
#include "seccomp.h"
#include "serial.h"
#include "vcpu.h"
#include "virtio_devices.h"
#include "virtio_net.h"
#include "vm.h"
#include "vmm.h"

#define PROG "sandbox-vmm"
#define DEFAULT_MEM_MIB 128u
#define MIN_MEM_MIB 32u	       /* the kernel loads at 16 MiB; it needs room after itself */
#define VSOCK_MIN_GUEST_CID 3u /* 0-2 are reserved (hypervisor, local, host) */
#define VSOCK_MAX_GUEST_CID 0xfffffffeu

/*
 * --id: who this VMM is on the host (sandbox passes its host-side run directory). A jailed
 * VMM's other arguments are jail-internal paths, so this is what names it in `ps`, in leak
 * checks and in its error line.
 */
static const char *vmm_id;

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: " PROG " --kernel VMLINUX --initrd CPIO [options]\n"
	    "       " PROG " --restore DIR [--disk PATH[,ro]]... [--vsock-uds PATH] [options]\n"
	    "  --kernel FILE        uncompressed vmlinux with a PVH entry note (required)\n"
	    "  --initrd FILE        initramfs (required)\n"
	    "  --cmdline TEXT       appended to the kernel command line\n"
	    "  --cpus N             vCPUs, 1..%u (default 1)\n"
	    "  --memory MIB         guest RAM, %u..%llu MiB (default %u)\n"
	    "  --disk PATH[,ro]     virtio-blk disk (repeatable: vda, vdb, ...); with --restore\n"
	    "                       it fills the snapshot's empty disk slots in order\n"
	    "  --empty-disk         virtio-blk slot with no file (capacity 0, read-only)\n"
	    "  --snapshot-to DIR    when the guest writes 0x10 to port 0x440: snapshot, exit 0\n"
	    "  --restore DIR        resume the VM snapshotted in DIR (no --kernel/--initrd)\n"
	    "  --vsock-cid CID      virtio-vsock guest CID (>= 3), with --vsock-uds\n"
	    "                       (with --restore: optional, default the snapshot's)\n"
	    "  --vsock-uds PATH     host unix socket for vsock (Firecracker scheme)\n"
	    "  --rng                virtio-rng device\n"
	    "  --net tap=NAME|fd=N|none[,mac=MAC][,rx-bps=N,tx-bps=N,rx-pps=N,tx-pps=N]\n"
	    "                       virtio-net over a tap (none: an empty slot a restore\n"
	    "                       fills; with --restore: the tap for that slot)\n"
	    "  --fs tag=TAG[,socket=PATH]  virtio-fs device served by the vhost-user back end\n"
	    "                       at PATH (repeatable); without socket an empty slot that a\n"
	    "                       --restore with the same tag fills\n"
	    "  --serial-log FILE    write the guest console to FILE\n"
	    "  --debug              guest console and timings on stderr\n"
	    "  --boot-timer FILE    append '<ns> <stage>' for each write to port 0x440\n"
	    "  --guest-profile FILE sample the guest RIP on the vCPU threads' CPU clock into FILE\n"
	    "  --no-seccomp         no per-thread syscall filters (debugging only)\n"
	    "  --id TEXT            names this VMM (command line, error messages)\n"
	    "exit status: 0 guest ended, 1 VMM error, 3 guest kernel panic,\n"
	    "             4 KVM internal error, 5 unhandled guest stop\n",
	    MPTABLE_MAX_CPUS, MIN_MEM_MIB, (unsigned long long)(LAYOUT_RAM_MAX >> 20),
	    DEFAULT_MEM_MIB);
}

/* Strict decimal: digits only, no sign, no overflow, within [min, max]. */
static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out,
		     struct sbx_err *err)
{
	char *end;
	errno = 0;
	unsigned long long v = (s[0] >= '0' && s[0] <= '9') ? strtoull(s, &end, 10) : 0;
	if (s[0] < '0' || s[0] > '9' || errno || *end || v < min || v > max)
		return sbx_err_setx(err, EINVAL, "%s '%s': expected a number in %llu..%llu", opt, s,
				    (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

/* arg NULL: --empty-disk (path ""). */
static int parse_disk(struct vmm_opts *o, const char *arg, struct sbx_err *err)
{
	if (o->ndisks >= LAYOUT_VIRTIO_MAX_DEVICES)
		return sbx_err_setx(err, E2BIG, "--disk: too many disks (max %u devices)",
				    LAYOUT_VIRTIO_MAX_DEVICES);
	if (!arg) {
		o->disks[o->ndisks++] = (typeof(o->disks[0])){.path = "", .ro = true};
		return 0;
	}
	size_t len = strlen(arg);
	bool ro = len >= 3 && strcmp(arg + len - 3, ",ro") == 0;
	if (ro)
		len -= 3;
	if (len == 0 || len >= sizeof(o->disks[0].path))
		return sbx_err_setx(err, EINVAL, "--disk '%s': expected PATH[,ro]", arg);
	memcpy(o->disks[o->ndisks].path, arg, len);
	o->disks[o->ndisks].path[len] = '\0';
	o->disks[o->ndisks].ro = ro;
	o->ndisks++;
	return 0;
}

enum {
	OPT_KERNEL = 256,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_CPUS,
	OPT_MEMORY,
	OPT_DISK,
	OPT_VSOCK_CID,
	OPT_VSOCK_UDS,
	OPT_RNG,
	OPT_SERIAL_LOG,
	OPT_DEBUG,
	OPT_BOOT_TIMER,
	OPT_HELP,
	OPT_EMPTY_DISK,
	OPT_SNAPSHOT_TO,
	OPT_RESTORE,
	OPT_FS,
	OPT_NO_SECCOMP,
	OPT_NET,
	OPT_ID,
	OPT_GUEST_PROFILE
};

static const struct option long_opts[] = {
    {"kernel", required_argument, NULL, OPT_KERNEL},
    {"initrd", required_argument, NULL, OPT_INITRD},
    {"cmdline", required_argument, NULL, OPT_CMDLINE},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"disk", required_argument, NULL, OPT_DISK},
    {"vsock-cid", required_argument, NULL, OPT_VSOCK_CID},
    {"vsock-uds", required_argument, NULL, OPT_VSOCK_UDS},
    {"rng", no_argument, NULL, OPT_RNG},
    {"serial-log", required_argument, NULL, OPT_SERIAL_LOG},
    {"debug", no_argument, NULL, OPT_DEBUG},
    {"boot-timer", required_argument, NULL, OPT_BOOT_TIMER},
    {"help", no_argument, NULL, OPT_HELP},
    {"empty-disk", no_argument, NULL, OPT_EMPTY_DISK},
    {"snapshot-to", required_argument, NULL, OPT_SNAPSHOT_TO},
    {"restore", required_argument, NULL, OPT_RESTORE},
    {"no-seccomp", no_argument, NULL, OPT_NO_SECCOMP},
    {"fs", required_argument, NULL, OPT_FS},
    {"net", required_argument, NULL, OPT_NET},
    {"id", required_argument, NULL, OPT_ID},
    {"guest-profile", required_argument, NULL, OPT_GUEST_PROFILE},
    {NULL, 0, NULL, 0},
};

static int parse_one(struct vmm_opts *o, int c, const char *arg, struct sbx_err *err)
{
	uint64_t v;
	int r = 0;
	switch (c) {
	case OPT_KERNEL:
		o->kernel = arg;
		break;
	case OPT_INITRD:
		o->initrd = arg;
		break;
	case OPT_CMDLINE:
		o->cmdline_extra = arg;
		break;
	case OPT_CPUS:
		r = parse_u64("--cpus", arg, 1, MPTABLE_MAX_CPUS, &v, err);
		o->cpus = (unsigned)v;
		o->cpus_set = true;
		break;
	case OPT_MEMORY:
		r = parse_u64("--memory", arg, MIN_MEM_MIB, LAYOUT_RAM_MAX >> 20, &o->mem_mib, err);
		o->mem_set = true;
		break;
	case OPT_DISK:
		r = parse_disk(o, arg, err);
		break;
	case OPT_EMPTY_DISK:
		r = parse_disk(o, NULL, err);
		break;
	case OPT_SNAPSHOT_TO:
		o->snapshot_to = arg;
		break;
	case OPT_RESTORE:
		o->restore = arg;
		break;
	case OPT_VSOCK_CID:
		r = parse_u64("--vsock-cid", arg, VSOCK_MIN_GUEST_CID, VSOCK_MAX_GUEST_CID,
			      &o->vsock_cid, err);
		break;
	case OPT_VSOCK_UDS:
		o->vsock_uds = arg;
		break;
	case OPT_RNG:
		o->rng = true;
		break;
	case OPT_NET:
		r = net_opts_parse(arg, &o->net, err);
		break;
	case OPT_FS:
		if (o->nfs >= LAYOUT_VIRTIO_MAX_DEVICES)
			r = sbx_err_setx(err, E2BIG, "--fs: too many (max %u devices)",
					 LAYOUT_VIRTIO_MAX_DEVICES);
		else
			r = virtio_fs_parse_opt(arg, &o->fs[o->nfs++], err);
		break;
	case OPT_SERIAL_LOG:
		o->serial_log = arg;
		break;
	case OPT_DEBUG:
		o->debug = true;
		break;
	case OPT_BOOT_TIMER:
		o->boot_timer = arg;
		break;
	case OPT_NO_SECCOMP:
		o->no_seccomp = true;
		break;
	case OPT_ID:
		vmm_id = arg;
		break;
	case OPT_GUEST_PROFILE:
		o->guest_profile = arg;
		break;
	default:
		r = sbx_err_setx(err, EINVAL, "unknown option (see --help)");
		break;
	}
	return r;
}

/* --restore takes its VM from the snapshot: options that shape a new VM do not apply. */
static int check_restore_opts(const struct vmm_opts *o, struct sbx_err *err)
{
	if (o->snapshot_to || o->rng || o->cmdline_extra)
		return sbx_err_setx(err, EINVAL,
				    "--snapshot-to, --rng and --cmdline do not go with --restore");
	for (unsigned i = 0; i < o->ndisks; i++)
		if (!o->disks[i].path[0])
			return sbx_err_setx(err, EINVAL, "--empty-disk does not go with --restore");
	if (o->vsock_cid && !o->vsock_uds)
		return sbx_err_setx(err, EINVAL, "--vsock-cid needs --vsock-uds");
	if (o->net.enabled && o->net.empty)
		return sbx_err_setx(err, EINVAL, "--net none does not go with --restore");
	return 0;
}

static int check_opts(const struct vmm_opts *o, struct sbx_err *err)
{
	if (o->restore)
		return check_restore_opts(o, err);
	if (!o->kernel)
		return sbx_err_setx(err, EINVAL, "--kernel is required (see --help)");
	if (!o->initrd)
		return sbx_err_setx(err, EINVAL, "--initrd is required (see --help)");
	if (!o->vsock_cid != !o->vsock_uds)
		return sbx_err_setx(err, EINVAL, "--vsock-cid and --vsock-uds go together");
	unsigned ndev =
	    o->ndisks + (o->vsock_cid ? 1 : 0) + (o->rng ? 1 : 0) + o->nfs + o->net.enabled;
	if (ndev > LAYOUT_VIRTIO_MAX_DEVICES)
		return sbx_err_setx(err, E2BIG, "%u virtio devices requested (max %u)", ndev,
				    LAYOUT_VIRTIO_MAX_DEVICES);
	return 0;
}

/* Returns 0 to run, 1 when --help was printed, < 0 on a bad command line. */
static int parse_args(int argc, char **argv, struct vmm_opts *o, struct sbx_err *err)
{
	*o = (struct vmm_opts){.cpus = 1, .mem_mib = DEFAULT_MEM_MIB};
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		if (c == OPT_HELP) {
			usage(stdout);
			return 1;
		}
		if (c == '?' || c == ':')
			return sbx_err_setx(err, EINVAL, "bad option '%s' (see --help)",
					    argv[optind - 1]);
		int r = parse_one(o, c, optarg, err);
		if (r < 0)
			return r;
	}
	if (optind < argc)
		return sbx_err_setx(err, EINVAL, "unexpected argument '%s'", argv[optind]);
	return check_opts(o, err);
}

static int open_output(const char *path, int flags, const char *what, struct sbx_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
	if (fd < 0)
		return sbx_err_set(err, errno, "open %s '%s'", what, path);
	return fd;
}

/* Disks, vsock, rng, then fs: window i at LAYOUT_VIRTIO_MMIO_BASE + i * 4 KiB, IRQ base + i. */
static int vmm_add_devices(struct vmm *v, const struct vmm_opts *o, struct sbx_err *err)
{
	for (unsigned i = 0; i < o->ndisks + 2 + o->nfs; i++) {
		uint64_t base = LAYOUT_VIRTIO_MMIO_BASE + v->ndevs * LAYOUT_VIRTIO_MMIO_SIZE;
		uint32_t irq = LAYOUT_VIRTIO_IRQ_BASE + v->ndevs;
		void **slot = &v->devs[v->ndevs];
		int r = 0;
		if (i < o->ndisks && !o->disks[i].path[0])
			r = virtio_blk_create_empty(&v->vm, base, irq, slot, err);
		else if (i < o->ndisks)
			r = virtio_blk_create(&v->vm, base, irq, o->disks[i].path, o->disks[i].ro,
					      slot, err);
		else if (i == o->ndisks && o->vsock_cid)
			r = virtio_vsock_create(&v->vm, base, irq, o->vsock_cid, o->vsock_uds, slot,
						err);
		else if (i == o->ndisks + 1 && o->rng)
			r = virtio_rng_create(&v->vm, base, irq, slot, err);
		else if (i >= o->ndisks + 2)
			r = virtio_fs_create(&v->vm, base, irq, o->fs[i - o->ndisks - 2].tag,
					     o->fs[i - o->ndisks - 2].socket, slot, err);
		else
			continue;
		if (r < 0)
			return r;
		v->ndevs++;
	}
	return 0;
}

/* The network device comes after all others, so adding it moves no other device's window. */
static int vmm_add_net(struct vmm *v, const struct vmm_opts *o, struct sbx_err *err)
{
	if (!o->net.enabled)
		return 0;
	int r =
	    virtio_net_create(&v->vm, LAYOUT_VIRTIO_MMIO_BASE + v->ndevs * LAYOUT_VIRTIO_MMIO_SIZE,
			      LAYOUT_VIRTIO_IRQ_BASE + v->ndevs, &o->net, &v->devs[v->ndevs], err);
	if (r >= 0)
		v->ndevs++;
	return r;
}

static int vmm_load_guest(struct vmm *v, const struct vmm_opts *o, bool emulated,
			  struct pvh_boot *boot, struct sbx_err *err)
{
	char cmdline[LAYOUT_CMDLINE_MAX];
	int r = pvh_load_kernel(&v->vm.mem, o->kernel, boot, err);
	if (r >= 0)
		r = pvh_load_initrd(&v->vm.mem, o->initrd, boot, err);
	if (r >= 0)
		r = mptable_write(&v->vm.mem, o->cpus, err);
	if (r >= 0)
		r = vmm_add_devices(v, o, err);
	if (r >= 0)
		r = vmm_add_net(v, o, err);
	if (r >= 0)
		r = cmdline_build(cmdline, sizeof(cmdline), emulated, v->ndevs, o->cmdline_extra,
				  err);
	if (r >= 0)
		r = pvh_write_boot_info(&v->vm.mem, cmdline, boot, err);
	if (r >= 0 && o->debug)
		fprintf(stderr, PROG ": kernel command line: %s\n", cmdline);
	return r;
}

static int vmm_add_legacy(struct vmm *v, const struct vmm_opts *o, struct sbx_err *err)
{
	int out = -1;
	if (o->serial_log)
		out = open_output(o->serial_log, O_TRUNC, "serial log", err);
	else if (o->debug)
		out = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (out < 0 && (o->serial_log || o->debug))
		return o->serial_log ? out : sbx_err_set(err, errno, "dup stderr");
	int r = serial_create(&v->vm, out, &v->serial, err);
	if (r < 0)
		return r;
	int bt = -1;
	if (o->boot_timer && (bt = open_output(o->boot_timer, O_APPEND, "boot timer", err)) < 0)
		return bt;
	return legacy_create(&v->vm, bt, v->start_ns, &v->legacy, err);
}

static int vmm_check_cpus(struct vmm *v, unsigned cpus, struct sbx_err *err)
{
	int max = ioctl(v->vm.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max <= 0)
		max = ioctl(v->vm.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max > 0 && cpus > (unsigned)max)
		return sbx_err_setx(err, EINVAL, "--cpus %u: this host's KVM allows at most %d",
				    cpus, max);
	return 0;
}

static int vmm_setup(struct vmm *v, const struct vmm_opts *o, struct sbx_err *err)
{
	bool emulated = cpuid_host_is_emulated();
	struct pvh_boot boot = {0};
	int r = vm_create(&v->vm, o->mem_mib << 20, err);
	if (r < 0)
		return r;
	v->vm_created = true;
	if ((r = vmm_check_cpus(v, o->cpus, err)) < 0 ||
	    (r = vmm_load_guest(v, o, emulated, &boot, err)) < 0 ||
	    (r = vmm_add_legacy(v, o, err)) < 0)
		return r;
	if (o->snapshot_to)
		legacy_enable_snapshot_trigger(v->legacy);
	v->cpuid = cpuid_get_supported(v->vm.kvm_fd, err);
	if (!v->cpuid)
		return -err->code;
	for (unsigned i = 0; i < o->cpus; i++) {
		r = vcpu_create(&v->vm, i, o->cpus, v->cpuid, emulated, &boot, &v->vcpus[i], err);
		if (r < 0)
			return r;
		v->nvcpus++;
	}
	return 0;
}

static int vmm_restore(struct vmm *v, const struct vmm_opts *o, struct sbx_err *err)
{
	int r = vmm_restore_begin(v, o, err);
	if (r >= 0)
		r = vmm_add_legacy(v, o, err);
	if (r >= 0)
		r = vmm_restore_finish(v, o, err);
	return r;
}

static void vmm_stop_vcpus(struct vmm *v)
{
	for (unsigned i = 0; i < v->nvcpus; i++)
		vcpu_stop(&v->vcpus[i]);
}

/* seccomp_lists: the main thread's filter (microvm/seccomp.h), installed once the vCPUs run. */
static int vmm_run(struct vmm *v, unsigned seccomp_lists, struct sbx_err *err)
{
	int r = vcpu_signals_init(err);
	for (unsigned i = 0; r >= 0 && i < v->nvcpus; i++)
		r = vcpu_start(&v->vcpus[i], err);
	if (r >= 0 && (r = seccomp_enter(seccomp_lists, err)) >= 0)
		seccomp_test_trigger(seccomp_lists);
	if (r < 0) {
		vm_request_stop(&v->vm, VM_EXIT_VMM_ERROR, NULL);
		vmm_stop_vcpus(v);
		return r;
	}
	int status = vm_wait_stop(&v->vm);
	vmm_stop_vcpus(v);
	return status;
}

static void vmm_teardown(struct vmm *v)
{
	vmm_stop_vcpus(v);
	for (unsigned i = 0; i < v->nvcpus; i++)
		vcpu_destroy(&v->vcpus[i]);
	for (unsigned i = 0; i < v->ndevs; i++)
		virtio_dev_destroy(v->devs[i]);
	serial_destroy(v->serial);
	legacy_destroy(v->legacy);
	free(v->cpuid);
	free(v->snap_buf);
	if (v->vm_created)
		vm_destroy(&v->vm);
}

static double ms_between(uint64_t a, uint64_t b)
{
	return b > a ? (double)(b - a) / 1e6 : 0.0;
}

int main(int argc, char **argv)
{
	static struct vmm v;
	struct sbx_err err = {0};
	struct vmm_opts o;
	v.start_ns = monotonic_ns();
	/* A peer closing a vsock or log pipe must surface as EPIPE on that fd, not kill the VM. */
	signal(SIGPIPE, SIG_IGN);
	int r = parse_args(argc, argv, &o, &err);
	if (r == 1)
		return 0;
	if (r >= 0) {
		seccomp_configure(!o.no_seccomp);
		if (o.guest_profile)
			r = guest_profile_open(o.guest_profile, &err);
	}
	if (r >= 0) {
		r = o.restore ? vmm_restore(&v, &o, &err) : vmm_setup(&v, &o, &err);
	}
	if (r >= 0)
		r = vmm_run(&v, o.snapshot_to ? SECCOMP_VMM | SECCOMP_SNAPSHOT : SECCOMP_VMM, &err);
	guest_profile_close();
	if (r == VM_STOP_SNAPSHOT) {
		uint64_t t0 = monotonic_ns();
		r = vmm_snapshot_save(&v, o.snapshot_to, &err);
		if (r >= 0 && o.debug)
			fprintf(stderr, PROG ": snapshot written to %s in %.1f ms\n", o.snapshot_to,
				ms_between(t0, monotonic_ns()));
	}
	uint64_t stop_ns = monotonic_ns();
	if (r < 0) {
		if (vmm_id)
			fprintf(stderr, PROG ": %s (vm %s)\n", err.msg, vmm_id);
		else
			fprintf(stderr, PROG ": %s\n", err.msg);
		vmm_teardown(&v);
		return VM_EXIT_VMM_ERROR;
	}
	/* Always say how the VM ended: a triple fault and a clean reset both exit 0, and the
	 * caller (sandbox keeps this in its run dir) needs the difference when a run goes wrong. */
	if (v.vm.stop_reason[0])
		fprintf(stderr, PROG ": %s\n", v.vm.stop_reason);
	vmm_teardown(&v);
	if (o.debug)
		fprintf(
		    stderr,
		    PROG
		    ": timing: start->first KVM_RUN %.2f ms, guest %.1f ms, stop->exit %.2f ms; "
		    "unhandled pio %" PRIu64 " mmio %" PRIu64 "\n",
		    ms_between(v.start_ns, vcpu_first_run_ns),
		    ms_between(vcpu_first_run_ns, stop_ns), ms_between(stop_ns, monotonic_ns()),
		    v.vm.pio.unhandled, v.vm.mmio.unhandled);
	return r;
}

/*
 * Kernel command line. Each switch is here for a reason:
 *   console=ttyS0        the VMM's 8250 at 0x3f8 is the only console
 *   quiet                every console byte is a VM exit (1.8 ms under emulation)
 *   reboot=k             reboot by i8042 0xfe write -> the VMM sees the guest end (exit 0)
 *   panic=-1             reboot at once on panic; the VMM has already seen "Kernel panic"
 *   (no pci=off/nomodule: our kernel has neither PCI nor modules, and parameters it does not
 *    know are passed to /init as arguments)
 *   io_delay=none        no port-0x80 writes between legacy port accesses (each one an exit)
 *   i8042.*              if the i8042 driver is built in, do not probe aux/mux/PnP
 *   8250.nr_uarts=1      only COM1 exists; probing COM2-4 costs exits for nothing
 *   tsc=nowatchdog       where the kernel cannot trust the TSC alone (no invariant TSC with
 *                        TSC_ADJUST in CPUID), the clocksource watchdog re-reads it against
 *                        kvm-clock every 0.5 s: a timer that wakes an idle guest twice a second,
 *                        milliseconds of emulated kernel code each on kvm_pvm. KVM keeps guest
 *                        TSC and kvm-clock in step (both restored from a snapshot), so the check
 *                        buys nothing (docs/guest-kernel.md, "Idle")
 * On kvm_pvm (software emulation) the kernel must not use instructions KVM's emulator lacks at
 * CPL0; CPUID masking alone is not honoured there (/work/shared/guest-kernel-notes.md).
 */
#include "cmdline.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "layout.h"

#define CMDLINE_BASE                                                                               \
	"console=ttyS0 quiet reboot=k panic=-1 io_delay=none tsc=nowatchdog "                      \
	"i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd 8250.nr_uarts=1"
/*
 * kvm_pvm passes the host's CPUID through whatever KVM_SET_CPUID2 says, so the kernel is told on
 * its command line. Each name is a CPL0 instruction KVM's emulator cannot execute: popcnt, cx16
 * (cmpxchg16b), smap (clac/stac), fsgsbase (wrgsbase on context switch), pku/ospke (wrpkru),
 * invpcid/pcid, rdrand/rdseed (random init), rdpid; noxsave covers xsave* and the AVX family.
 * erms/fsrm are not missing from the emulator but slow in it: the emulator runs a rep string
 * instruction one element at a time, so with them clear_page/copy_page/memset/copy_user use
 * byte-wise `rep stosb/movsb` (4096 emulated steps per page); without them (rep_good stays) the
 * quadword variants take 512 (docs/benchmarks.md, "Where one run spends its time").
 * clearcpuid's value must stay under 128 bytes (arch/x86/kernel/cpu/common.c).
 * percpu_alloc=page: x86 embeds the per-CPU areas in 2 MiB units, and with one vCPU each percpu
 * chunk is then 512 bitmap blocks that the allocator rescans on many allocations and frees
 * (pcpu_chunk_refresh_hint). Every mount copied into a container's namespace, every route and
 * address allocates per-CPU memory: under emulation the scans were 7% of a template run. Page
 * units are only as large as the per-CPU data (40 pages here, dmesg "percpu:"). Hardware hosts keep
 * the large-page mapping: there the scans take microseconds.
 */
#define CMDLINE_EMULATED                                                                           \
	"noxsave clearcpuid=popcnt,cx16,smap,fsgsbase,pku,ospke,invpcid,pcid,rdrand,rdseed,rdpid," \
	"erms,fsrm percpu_alloc=page"

struct cmdline_buf {
	char *p;
	size_t cap, len;
	bool overflow;
};

static void append(struct cmdline_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void append(struct cmdline_buf *b, const char *fmt, ...)
{
	if (b->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->overflow = true;
		return;
	}
	b->len += (size_t)n;
}

int cmdline_build(char *buf, size_t buflen, bool emulated, unsigned ndevices, const char *extra,
		  struct sbx_err *err)
{
	size_t cap = buflen < LAYOUT_CMDLINE_MAX ? buflen : LAYOUT_CMDLINE_MAX;
	if (cap == 0)
		return sbx_err_setx(err, EINVAL, "kernel command line: no buffer");
	if (ndevices > LAYOUT_VIRTIO_MAX_DEVICES)
		return sbx_err_setx(err, EINVAL, "kernel command line: %u devices (max %u)",
				    ndevices, LAYOUT_VIRTIO_MAX_DEVICES);
	struct cmdline_buf b = {buf, cap, 0, false};
	buf[0] = '\0';
	append(&b, "%s", CMDLINE_BASE);
	if (emulated)
		append(&b, " %s", CMDLINE_EMULATED);
	for (unsigned i = 0; i < ndevices; i++)
		/* virtio_mmio.device=<size>@<base>:<irq> (drivers/virtio/virtio_mmio.c) */
		append(&b, " virtio_mmio.device=4K@0x%llx:%u",
		       LAYOUT_VIRTIO_MMIO_BASE + i * LAYOUT_VIRTIO_MMIO_SIZE,
		       LAYOUT_VIRTIO_IRQ_BASE + i);
	if (extra && extra[0])
		append(&b, " %s", extra);
	if (b.overflow) {
		buf[0] = '\0';
		return sbx_err_setx(err, E2BIG, "kernel command line longer than %zu bytes",
				    cap - 1);
	}
	return 0;
}

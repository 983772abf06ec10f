/*
 * Second vCPU: INIT, then STARTUP IPIs through the local APIC's ICR (Intel SDM vol. 3A §8.4.4.1,
 * "Typical BSP Initialization Sequence"); KVM's in-kernel APIC puts the AP in real mode at the
 * trampoline (entry.S). The two vCPUs share plain variables: paging is off and both run the
 * same memory model, so volatile accesses with compiler barriers are enough for these flags.
 */
#include "smp.h"

#define AP_TRAMPOLINE 0x8000u /* below 640 KiB, free RAM (the VMM's boot data ends at 0x7fff) */
#define AP_APIC_ID 1u
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_INIT 0x00004500u /* INIT, level assert */
#define ICR_STARTUP 0x00004600u

extern const char ap_trampoline[], ap_trampoline_end[];

static volatile uint32_t ap_alive, ap_busy, ap_calls;
static void (*volatile ap_fn)(uint32_t);
static volatile uint32_t ap_arg;

void ap_main(void);
void ap_main(void)
{
	ap_alive = 1;
	for (;;) {
		void (*fn)(uint32_t) = ap_fn;
		if (!fn) {
			ap_busy = 0;
			__asm__ volatile("pause" ::: "memory");
			continue;
		}
		ap_busy = 1;
		barrier();
		fn(ap_arg);
		ap_calls++;
	}
}

static void ipi(uint32_t lo)
{
	mmio_w32(LAPIC_BASE + LAPIC_ICR_HI, AP_APIC_ID << 24);
	mmio_w32(LAPIC_BASE + LAPIC_ICR_LO, lo);
}

bool smp_start_ap(void)
{
	if (ap_alive)
		return true;
	memcpy((void *)AP_TRAMPOLINE, ap_trampoline, (size_t)(ap_trampoline_end - ap_trampoline));
	ipi(ICR_INIT);
	for (int tries = 0; tries < 2 && !ap_alive; tries++) {
		ipi(ICR_STARTUP | (AP_TRAMPOLINE >> 12));
		for (uint32_t i = 0; i < 200000 && !ap_alive; i++)
			inb(POST_PORT); /* an exit: time passes for the AP */
	}
	return ap_alive;
}

void smp_ap_run(void (*fn)(uint32_t arg), uint32_t arg)
{
	smp_ap_idle();
	ap_calls = 0;
	ap_arg = arg;
	barrier();
	ap_fn = fn;
	/* Wait until the AP took it, so the caller's work overlaps the AP's for sure. */
	for (uint32_t i = 0; i < 1000000 && !ap_busy && ap_alive; i++)
		__asm__ volatile("pause" ::: "memory");
}

void smp_ap_idle(void)
{
	ap_fn = NULL;
	barrier();
	while (ap_alive && ap_busy)
		__asm__ volatile("pause" ::: "memory");
}

void smp_ap_park(void)
{
	smp_ap_idle();
	ipi(ICR_INIT);
	ap_alive = 0;
}

uint32_t smp_ap_calls(void)
{
	return ap_calls;
}

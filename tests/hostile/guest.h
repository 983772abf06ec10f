/*
 * The hostile test guest: a freestanding 32-bit program (no Linux) that attacks the VMM's
 * devices from inside a VM. Port and MMIO accessors, console output, the RAM size and the
 * command line. docs/security.md "Hostile guest" lists the attacks and what the VMM does.
 */
#ifndef HOSTILE_GUEST_H
#define HOSTILE_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fixed by the VMM (microvm/layout.h); the guest is built apart from it, so they are repeated. */
#define VIRTIO_MMIO_BASE 0xd0000000u
#define VIRTIO_MMIO_SIZE 0x1000u
#define VIRTIO_MAX_DEVICES 8u
#define SERIAL_PORT 0x3f8u
#define I8042_DATA 0x60u
#define I8042_CMD 0x64u
#define CMOS_INDEX 0x70u
#define CMOS_DATA 0x71u
#define BOOT_TIMER_PORT 0x440u
#define POST_PORT 0x80u
#define LAPIC_BASE 0xfee00000u
#define IOAPIC_BASE 0xfec00000u

/* Guest-physical areas the guest uses (its image loads at 1 MiB and is < 1 MiB). */
#define RING_AREA 0x400000u /* per device 64 KiB: four queues of 16 KiB */
#define RING_AREA_DEV 0x10000u
#define BUF_AREA 0x800000u /* per device 256 KiB of request buffers */
#define BUF_AREA_DEV 0x40000u
#define SCRATCH_AREA 0xc00000u /* attack payloads */

static inline void outb(uint16_t p, uint8_t v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(p));
}
static inline void outw(uint16_t p, uint16_t v)
{
	__asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(p));
}
static inline void outl(uint16_t p, uint32_t v)
{
	__asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(p));
}
static inline uint8_t inb(uint16_t p)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p));
	return v;
}
static inline uint16_t inw(uint16_t p)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p));
	return v;
}
static inline uint32_t inl(uint16_t p)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p));
	return v;
}

/* MMIO: paging is off, so a physical address is a pointer. */
static inline uint32_t mmio_r32(uint32_t a)
{
	return *(volatile uint32_t *)a;
}
static inline uint16_t mmio_r16(uint32_t a)
{
	return *(volatile uint16_t *)a;
}
static inline uint8_t mmio_r8(uint32_t a)
{
	return *(volatile uint8_t *)a;
}
static inline void mmio_w32(uint32_t a, uint32_t v)
{
	*(volatile uint32_t *)a = v;
}
static inline void mmio_w16(uint32_t a, uint16_t v)
{
	*(volatile uint16_t *)a = v;
}
static inline void mmio_w8(uint32_t a, uint8_t v)
{
	*(volatile uint8_t *)a = v;
}

static inline void barrier(void)
{
	__asm__ volatile("" ::: "memory");
}

/* gcc may emit calls to these even freestanding. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* Console on COM1: one `rep outsb` per string (KVM may batch it; kvm_pvm exits per byte). */
void con_write(const char *s, size_t n);
void con_puts(const char *s);
void con_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* hvm_start_info (Xen PVH ABI): the command line and the e820 map. */
struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

extern uint32_t ram_end; /* end of the highest RAM range */
extern const char *cmdline;
/* Value of "key=" on the command line (up to the next space) copied to out; false if absent. */
bool cmdline_get(const char *key, char *out, size_t len);
uint32_t parse_u32(const char *s);

void guest_reset(void) __attribute__((noreturn));

#endif

/*
 * Access widths the virtio-mmio transport does not expect (§4.2.2.2: control registers are
 * 32 bits wide and aligned): 8-byte accesses through MMX `movq` and SSE `movdqu` (which KVM
 * splits into two 8-byte MMIO exits), an 8-byte `lock cmpxchg8b`, 1- and 2-byte accesses inside
 * and across 4-byte registers, and accesses straddling a window's end, on every device's
 * registers and config space and on the empty windows.
 */
#include "attacks.h"

#define CR0_EM (1u << 2)
#define CR0_TS (1u << 3)
#define CR4_OSFXSR (1u << 9)

/* MMX and SSE need CR0.EM and CR0.TS clear and CR4.OSFXSR set (SDM vol. 3A §13.1). No EMMS
 * after MMX: KVM cannot emulate it (emulation failure, measured) and nothing here uses x87. */
static void enable_wide_moves(void)
{
	uint32_t cr0, cr4;
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	__asm__ volatile("mov %0, %%cr0" ::"r"(cr0 & ~(CR0_EM | CR0_TS)));
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	__asm__ volatile("mov %0, %%cr4" ::"r"(cr4 | CR4_OSFXSR));
}

static uint64_t mmio_r64(uint32_t a)
{
	uint64_t v;
	__asm__ volatile("movq (%1), %%mm0\n\tmovq %%mm0, %0" : "=m"(v) : "r"(a) : "memory");
	return v;
}

static void mmio_w64(uint32_t a, uint64_t v)
{
	__asm__ volatile("movq %0, %%mm0\n\tmovq %%mm0, (%1)" ::"m"(v), "r"(a) : "memory");
}

/* 16 bytes: two 8-byte exits (KVM's MMIO fragments are at most 8 bytes). */
static void mmio_rw128(uint32_t a, bool write)
{
	static uint8_t buf[16] __attribute__((aligned(16)));
	if (write)
		__asm__ volatile("movdqu %0, %%xmm0\n\tmovdqu %%xmm0, (%1)" ::"m"(buf), "r"(a)
				 : "memory");
	else
		__asm__ volatile("movdqu (%1), %%xmm0\n\tmovdqu %%xmm0, %0"
				 : "=m"(buf)
				 : "r"(a)
				 : "memory");
}

/* An 8-byte read, compare and (on a match) 8-byte write, as one locked instruction. */
static void mmio_cmpxchg8b(uint32_t a)
{
	uint32_t lo = 0, hi = 0;
	__asm__ volatile("lock cmpxchg8b (%2)"
			 : "+a"(lo), "+d"(hi)
			 : "r"(a), "b"(0xffffffffu), "c"(0xffffffffu)
			 : "memory", "cc");
}

/* Control registers: a driver half-way through initialisation, which narrow or wide writes
 * must not move (a 1-byte 0 into Status would be a reset if it were taken). */
static void width_registers(struct vdev *d)
{
	virtio_reset(d);
	vw(d, R_STATUS, ST_ACK | ST_DRIVER);
	for (uint32_t off = 0; off < R_CONFIG; off += 4) {
		if (mmio_r64(d->base + off) != 0)
			con_printf("BAD %s: 8-byte read at %x is not 0\n", d->name, off);
		mmio_w64(d->base + off, 0);
		mmio_w64(d->base + off + 4, 0); /* 8 wide across two registers */
		mmio_rw128(d->base + off, false);
		mmio_rw128(d->base + off, true);
		for (uint32_t b = 1; b < 4; b++) {
			(void)mmio_r8(d->base + off + b);
			mmio_w8(d->base + off + b, 0);
		}
		(void)mmio_r16(d->base + off + 1);
		mmio_w16(d->base + off + 1, 0);
		(void)mmio_r16(d->base + off + 3); /* across two registers */
		mmio_w16(d->base + off + 3, 0);
		mmio_w8(d->base + off, 0);
		mmio_w16(d->base + off, 0);
	}
	mmio_cmpxchg8b(d->base + R_STATUS);
	mmio_cmpxchg8b(d->base + R_QUEUE_NOTIFY);
	if (vr(d, R_STATUS) != (ST_ACK | ST_DRIVER) || vr(d, R_MAGIC) != 0x74726976u)
		con_printf("BAD %s: a narrow or wide write changed the device (status %x)\n",
			   d->name, vr(d, R_STATUS));
}

/* Config space: 8 and 16 bytes at every offset, aligned and not, read and written. An aligned
 * 8-byte read must see what two 4-byte reads see (blk's capacity lives here). Then accesses
 * straddling the window's end: KVM splits them at the page, so the next window (a device or
 * nothing) gets the rest. */
static void width_config(struct vdev *d)
{
	uint64_t wide = mmio_r64(d->base + R_CONFIG);
	uint64_t narrow = vr(d, R_CONFIG) | (uint64_t)vr(d, R_CONFIG + 4) << 32;
	if (wide != narrow)
		con_printf("BAD %s: 8-byte config read %x%08x, two 4-byte reads %x%08x\n", d->name,
			   (uint32_t)(wide >> 32), (uint32_t)wide, (uint32_t)(narrow >> 32),
			   (uint32_t)narrow);
	for (uint32_t off = R_CONFIG; off + 8 <= VIRTIO_MMIO_SIZE; off += 4) {
		(void)mmio_r64(d->base + off);
		(void)mmio_r64(d->base + off + 1);
		mmio_w64(d->base + off + 3, 0xa5a5a5a5a5a5a5a5ull);
		mmio_rw128(d->base + off, false);
	}
	static const uint32_t ends[] = {0xff8, 0xff9, 0xffc, 0xfff};
	for (unsigned i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		(void)mmio_r64(d->base + ends[i]);
		mmio_w64(d->base + ends[i], 0);
		mmio_rw128(d->base + ends[i] - 8, false);
		(void)mmio_r32(d->base + ends[i]);
		mmio_w16(d->base + ends[i], 0);
	}
}

void attack_width(void)
{
	enable_wide_moves();
	for (unsigned i = 0; i < ndevices; i++) {
		width_registers(&devices[i]);
		width_config(&devices[i]);
		virtio_reset(&devices[i]);
	}
	/* Empty windows and the top of the last one: unclaimed reads are all ones at any width. */
	for (unsigned w = 0; w < VIRTIO_MAX_DEVICES; w++) {
		uint32_t base = VIRTIO_MMIO_BASE + w * VIRTIO_MMIO_SIZE;
		if (mmio_r32(base) == 0x74726976u)
			continue;
		if (mmio_r64(base + 0x50) != ~0ull)
			con_printf("BAD empty window %x: 8-byte read is not all ones\n", base);
		mmio_w64(base + 0x50, 0);
		mmio_rw128(base + 0x70, true);
		mmio_cmpxchg8b(base + 0x70);
	}
	uint32_t top = VIRTIO_MMIO_BASE + VIRTIO_MAX_DEVICES * VIRTIO_MMIO_SIZE;
	(void)mmio_r64(top - 4);
	mmio_w64(top - 4, 0);
}

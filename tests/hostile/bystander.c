/*
 * The well-behaved neighbour: a VM that keeps using its disk and entropy device while hostile
 * VMs run beside it, and answers the test. The test writes "PING <n>" (or "STOP") into sector 1
 * of its disk; the bystander answers "PONG <n>" on its console. Between polls it sleeps in HLT
 * until its local APIC timer fires, so it does not take a host CPU from the attackers.
 */
#include "attacks.h"

#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_DIV 0x3e0
#define TIMER_VECTOR 0x40
#define TIMER_COUNT 20000000u /* KVM's APIC bus runs at 1 GHz: 20 ms with divide-by-1 */

struct idt_gate {
	uint16_t off_lo, sel, type, off_hi;
} __attribute__((packed));

extern void irq_stub(void);
static struct idt_gate idt[256] __attribute__((aligned(8)));

static void timer_init(void)
{
	for (int i = 0; i < 256; i++)
		idt[i] = (struct idt_gate){(uint16_t)(uint32_t)irq_stub, 0x10, 0x8e00,
					   (uint16_t)((uint32_t)irq_stub >> 16)};
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) idtr = {sizeof(idt) - 1, (uint32_t)idt};
	__asm__ volatile("lidt %0" ::"m"(idtr));
	mmio_w32(LAPIC_BASE + LAPIC_SVR, 0x1ff);
	mmio_w32(LAPIC_BASE + LAPIC_TIMER_DIV, 0xb);
	mmio_w32(LAPIC_BASE + LAPIC_LVT_TIMER, TIMER_VECTOR);
}

static void sleep_tick(void)
{
	mmio_w32(LAPIC_BASE + LAPIC_TIMER_INIT, TIMER_COUNT);
	__asm__ volatile("sti; hlt; cli" ::: "eax", "memory"); /* irq_stub clobbers EAX */
}

void bystander(void)
{
	struct vdev *b = virtio_find(ID_BLOCK), *r = virtio_find(ID_RNG);
	struct gq bq, rq;
	if (!b || virtio_begin(b, 0) < 0 || virtio_queue(b, 0, 128, &bq) < 0) {
		con_puts("BAD bystander: no disk\n");
		return;
	}
	virtio_driver_ok(b);
	bool have_rng = r && virtio_begin(r, 0) == 0 && virtio_queue(r, 0, 64, &rq) == 0;
	if (have_rng)
		virtio_driver_ok(r);
	timer_init();
	char *sector = (char *)(dev_buf(b) + 4096);
	char last[32] = "";
	for (uint32_t iter = 0;; iter++) {
		memset(sector, 0, 512);
		if (blk_request(&bq, 0, 1, sector, 512) != 0) {
			con_puts("BAD bystander: disk read failed\n");
			return;
		}
		if (memcmp(sector, "STOP", 4) == 0)
			break;
		if (memcmp(sector, "PING ", 5) == 0 && memcmp(sector, last, sizeof(last)) != 0) {
			memcpy(last, sector, sizeof(last));
			last[sizeof(last) - 1] = '\0';
			con_printf("PONG %s\n", last + 5);
		}
		if (have_rng) {
			rq.desc[0] = (struct desc){SCRATCH_AREA, 16, DESC_WRITE, 0};
			gq_publish(&rq, 0);
			gq_notify(&rq);
			uint32_t id, len;
			if (!gq_wait(&rq, 100000, &id, &len) || len != 16)
				con_puts("BAD bystander: rng did not answer\n");
		}
		if (iter % 256 == 0)
			con_printf("BYSTANDER alive %u\n", iter);
		sleep_tick();
	}
	con_puts("BYSTANDER stopping\n");
}

/*
 * Attacks at register level: virtio-mmio register misuse, feature negotiation out of order, bad
 * queue sizes and ring layouts, unclaimed MMIO and port I/O, the legacy devices. Each ends with
 * the device still expected to work (main.c runs the service checks afterwards).
 */
#include "attacks.h"

/* Every control register offset with 1- and 2-byte accesses, unaligned 4-byte ones, reads of
 * write-only and writes to read-only registers, config space outside its size. */
static void regs_one(struct vdev *d)
{
	for (uint32_t off = 0; off < R_CONFIG; off += 4) {
		(void)mmio_r8(d->base + off);
		(void)mmio_r16(d->base + off + 2);
		if (off != R_STATUS && off != R_QUEUE_NOTIFY) {
			mmio_w8(d->base + off, 0xff);
			mmio_w16(d->base + off, 0xffff);
		}
	}
	static const uint32_t unaligned[] = {0x1, 0x2, 0x3, 0x51, 0x72, 0xfd, 0xffd, 0xffe};
	for (unsigned i = 0; i < sizeof(unaligned) / sizeof(unaligned[0]); i++) {
		(void)mmio_r32(d->base + unaligned[i]);
		mmio_w32(d->base + unaligned[i], 0xffffffffu);
	}
	(void)mmio_r16(d->base + 0xfff); /* straddles the end of the window */
	static const uint32_t write_only[] = {
	    R_DEV_FEAT_SEL, R_DRV_FEAT, R_DRV_FEAT_SEL, R_QUEUE_SEL, R_QUEUE_NUM,
	    R_QUEUE_NOTIFY, R_INT_ACK,	R_DESC_LO,	R_DESC_HI,   R_AVAIL_LO,
	    R_AVAIL_HI,	    R_USED_LO,	R_USED_HI};
	for (unsigned i = 0; i < sizeof(write_only) / sizeof(write_only[0]); i++)
		(void)vr(d, write_only[i]);
	static const uint32_t read_only[] = {
	    R_MAGIC,	  R_VERSION,	R_DEVICE_ID, R_VENDOR, R_DEV_FEAT, R_QUEUE_NUM_MAX,
	    R_INT_STATUS, R_CONFIG_GEN, 0xb0,	     0xb4,     0xc0,	   0xd0,
	    0xf8};
	for (unsigned i = 0; i < sizeof(read_only) / sizeof(read_only[0]); i++)
		vw(d, read_only[i], 0xffffffffu);
	if (vr(d, R_MAGIC) != 0x74726976u || vr(d, R_DEVICE_ID) != d->id)
		con_printf("BAD %s: read-only registers changed\n", d->name);
	/* Config space: every byte of the window past 0x100, 1, 2 and 4 wide, read and written. */
	for (uint32_t off = R_CONFIG; off < VIRTIO_MMIO_SIZE; off += 1)
		(void)mmio_r8(d->base + off);
	for (uint32_t off = R_CONFIG; off < VIRTIO_MMIO_SIZE; off += 2) {
		(void)mmio_r16(d->base + off);
		mmio_w16(d->base + off, 0xa5a5);
	}
	for (uint32_t off = R_CONFIG; off + 4 <= VIRTIO_MMIO_SIZE; off += 4) {
		(void)mmio_r32(d->base + off + (off & 4 ? 1 : 0));
		mmio_w32(d->base + off, 0x5a5a5a5a);
	}
	/* Selectors far out of range, then the registers they select. */
	vw(d, R_QUEUE_SEL, 0xffffffffu);
	(void)vr(d, R_QUEUE_NUM_MAX);
	(void)vr(d, R_QUEUE_READY);
	vw(d, R_QUEUE_NUM, 8);
	vw(d, R_DESC_LO, 0x1000);
	vw(d, R_QUEUE_READY, 1);
	vw(d, R_QUEUE_SEL, 4);
	vw(d, R_QUEUE_READY, 1);
	vw(d, R_QUEUE_SEL, 0x10000);
	vw(d, R_QUEUE_READY, 1);
	vw(d, R_DEV_FEAT_SEL, 0xffffffffu);
	(void)vr(d, R_DEV_FEAT);
	vw(d, R_DRV_FEAT_SEL, 7);
	vw(d, R_DRV_FEAT, 0xffffffffu);
	vw(d, R_INT_ACK, 0xffffffffu);
	vw(d, R_STATUS, 0xffffffffu);
	(void)vr(d, R_STATUS);
	virtio_reset(d);
}

void attack_regs(void)
{
	for (unsigned i = 0; i < ndevices; i++)
		regs_one(&devices[i]);
}

/* Feature negotiation out of order (§3.1.1 is the order a driver must follow). */
static void features_one(struct vdev *d)
{
	/* DRIVER_OK first, queue set up and notified without FEATURES_OK ever set. */
	virtio_reset(d);
	vw(d, R_STATUS, ST_DRIVER_OK);
	struct gq g;
	(void)virtio_queue(d, 0, 8, &g);
	g.desc[0] = (struct desc){SCRATCH_AREA, 64, DESC_WRITE, 0};
	gq_publish(&g, 0);
	gq_notify(&g);
	/* Every feature bit, then none (no VERSION_1): FEATURES_OK must not stick. */
	virtio_reset(d);
	vw(d, R_STATUS, ST_ACK | ST_DRIVER);
	vw(d, R_DRV_FEAT_SEL, 0);
	vw(d, R_DRV_FEAT, 0xffffffffu);
	vw(d, R_DRV_FEAT_SEL, 1);
	vw(d, R_DRV_FEAT, 0xffffffffu);
	vw(d, R_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (vr(d, R_STATUS) & ST_FEATURES_OK)
		con_printf("BAD %s: FEATURES_OK kept with every feature bit set\n", d->name);
	vw(d, R_DRV_FEAT, 0);
	vw(d, R_DRV_FEAT_SEL, 0);
	vw(d, R_DRV_FEAT, 0);
	vw(d, R_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (vr(d, R_STATUS) & ST_FEATURES_OK)
		con_printf("BAD %s: FEATURES_OK kept without VERSION_1\n", d->name);
	/* Accepted, then features rewritten after FEATURES_OK and status bits toggled at random. */
	if (virtio_begin(d, d->offered) == 0) {
		vw(d, R_DRV_FEAT_SEL, 1);
		vw(d, R_DRV_FEAT, 0xffffffffu);
		vw(d, R_STATUS, ST_FEATURES_OK);
		vw(d, R_STATUS, ST_NEEDS_RESET | ST_FAILED | ST_DRIVER_OK);
		vw(d, R_QUEUE_NOTIFY, 0);
		vw(d, R_STATUS, ST_ACK);
	}
	/* Notify before DRIVER_OK on a ready queue; queue setup after DRIVER_OK. */
	virtio_begin(d, 0);
	(void)virtio_queue(d, 0, 8, &g);
	gq_publish(&g, 0);
	gq_notify(&g);
	virtio_driver_ok(d);
	(void)virtio_queue_at(d, 0, 4, 0x1000, 0x2000, 0x3000);
	gq_notify(&g);
	virtio_reset(d);
}

void attack_features(void)
{
	for (unsigned i = 0; i < ndevices; i++)
		features_one(&devices[i]);
}

/* Bad queue sizes and ring layouts: each must leave QueueReady at 0. */
static void queues_one(struct vdev *d)
{
	uint64_t re = ram_end;
	static const uint32_t sizes[] = {0, 3, 1000, 512, 0xffff, 0x10000, 0xffffffffu};
	struct {
		uint64_t desc, avail, used;
		const char *what;
	} layouts[] = {
	    {re - 16, 0x2000, 0x3000, "descriptor table past RAM end"},
	    {0x1000, re - 2, 0x3000, "avail ring past RAM end"},
	    {0x1000, 0x2000, re - 8, "used ring past RAM end"},
	    {0xfffffffffffff000ull, 0x2000, 0x3000, "descriptor table wrapping"},
	    {0x1000, 0xfffffffffffffff0ull, 0x3000, "avail ring wrapping"},
	    {0x1000, 0x2000, 0xfffffffffffffff8ull, "used ring wrapping"},
	    {VIRTIO_MMIO_BASE, 0x2000, 0x3000, "descriptor table in MMIO"},
	    {0x100000000ull, 0x2000, 0x3000, "descriptor table above 4 GiB"},
	    {0x1008, 0x2000, 0x3000, "misaligned descriptor table"},
	    {0x1000, 0x2001, 0x3000, "misaligned avail ring"},
	    {0x1000, 0x2000, 0x3002, "misaligned used ring"},
	};
	virtio_begin(d, 0);
	uint32_t qmax = (vw(d, R_QUEUE_SEL, 0), vr(d, R_QUEUE_NUM_MAX));
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		vw(d, R_QUEUE_SEL, 0);
		vw(d, R_QUEUE_NUM, sizes[i]);
		vw(d, R_QUEUE_READY, 0);
	}
	for (unsigned i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		uint32_t ready =
		    virtio_queue_at(d, 0, qmax, layouts[i].desc, layouts[i].avail, layouts[i].used);
		if (ready)
			con_printf("BAD %s: queue ready with %s\n", d->name, layouts[i].what);
		vw(d, R_QUEUE_READY, 0);
	}
	/* Ready, then layout and size rewritten while live (must be refused), then shrunk while
	 * not ready and notified without re-activation. */
	struct gq g;
	virtio_begin(d, 0);
	virtio_queue(d, 0, (uint16_t)qmax, &g);
	virtio_driver_ok(d);
	vw(d, R_QUEUE_NUM, 1);
	vw(d, R_DESC_LO, (uint32_t)re - 16);
	vw(d, R_USED_HI, 0xffffffffu);
	for (uint16_t h = 0; h < 4; h++) {
		g.desc[h] = (struct desc){SCRATCH_AREA, 16, DESC_WRITE, 0};
		gq_publish(&g, h);
	}
	gq_notify(&g);
	vw(d, R_QUEUE_READY, 0);
	vw(d, R_QUEUE_NUM, 2);
	gq_notify(&g);
	/* A size-2 queue whose rings end exactly at the end of RAM: valid, at the edge. */
	uint64_t used = re - 32, avail = used - 16, desc = avail - 64;
	if (!virtio_queue_at(d, 0, 2, desc, avail, used))
		con_printf("BAD %s: queue at the end of RAM refused\n", d->name);
	gq_notify(&g);
	virtio_reset(d);
}

void attack_queues(void)
{
	for (unsigned i = 0; i < ndevices; i++)
		queues_one(&devices[i]);
}

/* MMIO nobody claims: empty virtio windows, the gap above RAM, below the IOAPIC, the top. */
void attack_mmio_unclaimed(void)
{
	static const uint32_t addrs[] = {
	    VIRTIO_MMIO_BASE + 8 * VIRTIO_MMIO_SIZE,
	    VIRTIO_MMIO_BASE + 0x10000,
	    0xc0000000u,
	    0xcffffffcu,
	    0xfebff000u,
	    0xfed00000u,
	    0xfffff000u,
	    0xfffffffcu,
	};
	for (unsigned i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		if (mmio_r32(addrs[i]) != 0xffffffffu)
			con_printf("BAD unclaimed MMIO %x does not read as all ones\n", addrs[i]);
		mmio_w32(addrs[i], 0xdeadbeef);
		mmio_w8(addrs[i] + 3, 0xaa);
		(void)mmio_r16(addrs[i] + 2);
	}
	/* Between RAM end and the MMIO windows: no memory slot, so every access is an exit. */
	for (uint32_t a = ram_end; a < ram_end + 0x10000; a += 0x1000) {
		mmio_w32(a, 0x12345678);
		(void)mmio_r32(a);
	}
	/* Empty device windows, written like a driver would. */
	for (unsigned w = 0; w < VIRTIO_MAX_DEVICES; w++) {
		uint32_t base = VIRTIO_MMIO_BASE + w * VIRTIO_MMIO_SIZE;
		if (mmio_r32(base) == 0x74726976u)
			continue;
		mmio_w32(base + R_STATUS, ST_ACK);
		mmio_w32(base + R_QUEUE_NOTIFY, 0);
	}
}

/* Port I/O: every port read, most written, string I/O, widths the devices do not expect. */
void attack_pio(void)
{
	for (uint32_t p = 0; p < 0x10000; p++)
		(void)inb((uint16_t)p);
	for (uint32_t p = 0; p < 0x10000; p += 2) {
		/* The i8042 command port resets on 0xfe only; PIC/PIT/RTC are ours to confuse. */
		if (p == I8042_CMD || p == 0x20 || p == 0xa0 || p == 0x40 || p == 0x42)
			continue;
		outw((uint16_t)p, 0);
	}
	for (uint32_t p = 0x3f0; p < 0x410; p++) {
		outl((uint16_t)p, 0x41414141); /* 4 bytes into byte registers, straddling ends */
		(void)inl((uint16_t)p);
	}
	/* rep outs/ins of a whole page: KVM may hand it over as one exit with count > 1. */
	uint8_t *buf = (uint8_t *)SCRATCH_AREA;
	memset(buf, 'A', 4096);
	size_t n = 4096;
	const void *s = buf;
	__asm__ volatile("rep outsb" : "+S"(s), "+c"(n) : "d"((uint16_t)0x1234) : "memory");
	n = 2048;
	void *dst = buf;
	__asm__ volatile("rep insw" : "+D"(dst), "+c"(n) : "d"((uint16_t)SERIAL_PORT) : "memory");
	n = 1024;
	s = buf;
	__asm__ volatile("rep outsl"
			 : "+S"(s), "+c"(n)
			 : "d"((uint16_t)BOOT_TIMER_PORT)
			 : "memory");
	n = 1024;
	dst = buf;
	__asm__ volatile("rep insl" : "+D"(dst), "+c"(n) : "d"((uint16_t)0xcfc) : "memory");
}

/* The legacy devices with sequences a driver would not send. */
void attack_legacy(void)
{
	/* 8250: divisor latch, loopback, interrupts on and off, a 4 KiB line with no newline,
	 * NUL bytes; a "Kernel panic" split over two lines must not count as one. */
	outb(SERIAL_PORT + 3, 0x80);
	outb(SERIAL_PORT + 0, 0xff);
	outb(SERIAL_PORT + 1, 0xff);
	outb(SERIAL_PORT + 3, 0x03);
	outb(SERIAL_PORT + 4, 0x1f);
	for (int i = 0; i < 256; i++) {
		outb(SERIAL_PORT + 1, (uint8_t)i);
		(void)inb(SERIAL_PORT + 2);
		(void)inb(SERIAL_PORT + 6);
	}
	outb(SERIAL_PORT + 4, 0x00);
	outb(SERIAL_PORT + 1, 0x00);
	uint8_t *buf = (uint8_t *)SCRATCH_AREA;
	memset(buf, 'x', 4096);
	buf[100] = 0;
	buf[200] = '\r';
	con_write((const char *)buf, 4096);
	con_puts("\nKernel pa\nnic\n");
	/* i8042: commands that wait for a data byte, data with no command, every read. */
	static const uint8_t cmds[] = {0x20, 0x60, 0xd0, 0xd1, 0xd2, 0xd3, 0xa9, 0xaa,
				       0xab, 0xad, 0xae, 0xa7, 0xa8, 0xc0, 0xe0, 0xff};
	for (unsigned i = 0; i < sizeof(cmds); i++) {
		outb(I8042_CMD, cmds[i]);
		(void)inb(I8042_CMD);
		outb(I8042_DATA, 0xfe);
		(void)inb(I8042_DATA);
		(void)inw(I8042_DATA);
	}
	outb(I8042_CMD, 0xd1); /* write output port: bit 0 would be reset on real hardware */
	outb(I8042_DATA, 0x00);
	outl(I8042_DATA, 0xfefefefe);
	/* CMOS: every index including the NMI bit, data written (must not reach host time). */
	for (unsigned i = 0; i < 256; i++) {
		outb(CMOS_INDEX, (uint8_t)i);
		(void)inb(CMOS_DATA);
		outb(CMOS_DATA, 0x99);
	}
	/* Boot-timer port: a flood of stage bytes, including the snapshot trigger (0x10), which
	 * only acts when the VMM was started with --snapshot-to; more lines than the VMM's
	 * --boot-timer file takes (4,096, microvm/legacy.h). */
	for (unsigned i = 0; i < 6000; i++)
		outb(BOOT_TIMER_PORT, (uint8_t)i);
	outw(BOOT_TIMER_PORT, 0x1010);
	outl(BOOT_TIMER_PORT, 0x10101010);
}

/* 24 MiB of console output: more than the VMM's log keeps (16 MiB). Slow under kvm_pvm
 * (~55 KB/s), so not part of test_hostile; tests/unit/test_serial_log_cap.c covers the cap. */
void attack_console_flood(void)
{
	char *buf = (char *)SCRATCH_AREA;
	memset(buf, 'y', 4096);
	buf[4095] = '\n';
	for (unsigned i = 0; i < 24 * 256; i++)
		con_write(buf, 4096);
}

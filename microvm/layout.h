/*
 * Guest-physical layout and IRQ numbers of the micro-VM. Every address the VMM places in the
 * guest is named here.
 */
#ifndef SANDBOX_LAYOUT_H
#define SANDBOX_LAYOUT_H

/* virtio-mmio devices: one 4 KiB window each from here (virtio 1.2 §4.2.2, MMIO register map). */
#define LAYOUT_VIRTIO_MMIO_BASE 0xd0000000ull
#define LAYOUT_VIRTIO_MMIO_SIZE 0x1000ull
/* IOAPIC pins given to virtio-mmio devices, in device order (5, 6, 7, ...), edge-triggered. */
#define LAYOUT_VIRTIO_IRQ_BASE 5u
#define LAYOUT_VIRTIO_MAX_DEVICES 8u

/* Legacy 8250 UART COM1 (port 0x3f8, IRQ 4). */
#define LAYOUT_SERIAL_PORT 0x3f8u
#define LAYOUT_SERIAL_IRQ 4u
/* i8042 command port: writing 0xfe pulses CPU reset, which the guest uses to end (reboot=k). */
#define LAYOUT_I8042_CMD_PORT 0x64u
/* Boot-timer port (reserved, like Firecracker's boot timer): the agent writes a stage byte. */
#define LAYOUT_BOOT_TIMER_PORT 0x440u
/* Stage byte the agent writes when it is ready to be snapshotted (docs/snapshot.md). */
#define LAYOUT_BOOT_STAGE_SNAPSHOT 0x10u

/*
 * Guest RAM and the boot-time structures the VMM writes into it (VMM core only).
 * Low memory below 640 KiB is RAM except the last KiB, which holds the MP table (Intel MP spec
 * 1.4 §4: the floating pointer is searched in the last KiB of base memory).
 */
#define LAYOUT_BOOT_GDT 0x500ull /* flat 32-bit GDT for the PVH entry (selectors 0x10/0x18) */
#define LAYOUT_PVH_START_INFO 0x6000ull	 /* struct hvm_start_info (Xen PVH ABI, start_info.h) */
#define LAYOUT_PVH_MODLIST 0x6040ull	 /* hvm_modlist_entry[1]: the initrd */
#define LAYOUT_PVH_MEMMAP 0x7000ull	 /* hvm_memmap_table_entry[]: the e820 map */
#define LAYOUT_CMDLINE 0x20000ull	 /* kernel command line, NUL-terminated */
#define LAYOUT_CMDLINE_MAX 2048u	 /* x86 COMMAND_LINE_SIZE in Linux 6.1, NUL included */
#define LAYOUT_MPTABLE_START 0x9fc00ull	 /* 639 KiB: last KiB of base memory */
#define LAYOUT_LOWMEM_END 0xa0000ull	 /* 640 KiB: start of the legacy VGA/BIOS hole */
#define LAYOUT_HIGHMEM_START 0x100000ull /* 1 MiB: RAM resumes here */
/*
 * Guest RAM is one block from 0 and must end below the MMIO windows (virtio at 0xd0000000,
 * IOAPIC 0xfec00000, LAPIC 0xfee00000); 3 GiB leaves the conventional 32-bit PCI hole free.
 */
#define LAYOUT_RAM_MAX 0xc0000000ull
/* Intel MP spec 1.4 §3.6 / 82093AA datasheet: default IOAPIC and local APIC bases. */
#define LAYOUT_IOAPIC_ADDR 0xfec00000u
#define LAYOUT_LAPIC_ADDR 0xfee00000u
#define LAYOUT_IOAPIC_PINS 24u /* KVM's in-kernel IOAPIC has 24 inputs (KVM_IOAPIC_NUM_PINS) */
/* KVM_SET_TSS_ADDR / KVM_SET_IDENTITY_MAP_ADDR (KVM API doc 4.49/4.74): 3 pages below 4 GiB BIOS.
 */
#define LAYOUT_KVM_IDENTITY_MAP 0xfffbc000ull
#define LAYOUT_KVM_TSS 0xfffbd000ull

#endif

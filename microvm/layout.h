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

#endif

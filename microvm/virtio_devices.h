/*
 * Public creation API of the virtio-mmio devices (docs/virtio.md). main.c calls these once per
 * device, in layout order, before any vCPU runs. Each device owns one 4 KiB MMIO window at `base`
 * (registered on vm->mmio) and raises IOAPIC input `irq` with vm_irq_pulse().
 *
 * *out receives an opaque device handle; pass it to virtio_dev_destroy() after the vCPUs have
 * stopped (the bus keeps pointing at the device until then).
 */
#ifndef SANDBOX_VIRTIO_DEVICES_H
#define SANDBOX_VIRTIO_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/error.h"
#include "vm.h"

/* Block device backed by the file at `path`; read_only offers VIRTIO_BLK_F_RO. */
int virtio_blk_create(struct vm *vm, uint64_t base, uint32_t irq, const char *path, bool read_only,
		      void **out, struct sbx_err *err);

/*
 * Socket device (Firecracker's host scheme): guest connections to CID 2 port P go to the unix
 * socket "<uds_path>_P"; host clients connect to `uds_path` and write "CONNECT <port>\n".
 * Starts one I/O thread.
 */
int virtio_vsock_create(struct vm *vm, uint64_t base, uint32_t irq, uint64_t guest_cid,
			const char *uds_path, void **out, struct sbx_err *err);

/* Entropy device fed by getrandom(). */
int virtio_rng_create(struct vm *vm, uint64_t base, uint32_t irq, void **out, struct sbx_err *err);

/* Accepts NULL; stops the device's threads, closes its files, frees everything. */
void virtio_dev_destroy(void *dev);

#endif

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

/* A block slot with no backing file (capacity 0, read-only) that a restore can fill. */
int virtio_blk_create_empty(struct vm *vm, uint64_t base, uint32_t irq, void **out,
			    struct sbx_err *err);

struct snap_w;
struct snap_rd;
/* One SNAP_TAG_DEVICE section: device id, window, device parameters, transport state. */
int virtio_dev_save(void *dev, struct snap_w *w, struct sbx_err *err);
/* Reads the head of the next device section: *sec then holds the rest for *_restore. */
int virtio_dev_restore_begin(struct snap_rd *r, struct snap_rd *sec, uint32_t *device_id,
			     uint64_t *base, uint32_t *irq, struct sbx_err *err);
/*
 * Re-create a device from its section. blk: fill_path (or NULL) becomes the backing file of an
 * empty slot; vsock: the new CID and host socket path.
 */
int virtio_blk_restore(struct vm *vm, uint64_t base, uint32_t irq, struct snap_rd *sec,
		       const char *fill_path, void **out, struct sbx_err *err);
/* True when the device is a block slot without a backing file. */
bool virtio_blk_slot_is_empty(struct snap_rd sec);
int virtio_vsock_restore(struct vm *vm, uint64_t base, uint32_t irq, struct snap_rd *sec,
			 uint64_t guest_cid, const char *uds_path, void **out, struct sbx_err *err);
int virtio_rng_restore(struct vm *vm, uint64_t base, uint32_t irq, struct snap_rd *sec, void **out,
		       struct sbx_err *err);
/* After all KVM state is restored: interrupts for config changes, vsock transport reset. */
void virtio_dev_resume(void *dev);

/* Accepts NULL; stops the device's threads, closes its files, frees everything. */
void virtio_dev_destroy(void *dev);

#endif

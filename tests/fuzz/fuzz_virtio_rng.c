/*
 * libFuzzer target: virtio-rng request handling (microvm/virtio_rng.c) behind the real MMIO
 * transport, driven by a hostile guest (tests/fuzz/fuzz_virtio.h describes the input).
 */
#include "fuzz_virtio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < FUZZ_HDR)
		return 0;
	static struct vm vm;
	void *dev = NULL;
	fz_vm_init(&vm, data, size);
	if (virtio_rng_create(&vm, FUZZ_BASE, FUZZ_IRQ, &dev, NULL) == 0) {
		fz_drive_setup(&vm, data);
		fz_drive_notifies(&vm, data, NULL);
		virtio_dev_destroy(dev);
	}
	fz_vm_fini(&vm);
	return 0;
}

/*
 * libFuzzer target: virtio-vsock packet parsing and connection state (microvm/virtio_vsock.c,
 * vsock_conn.c) behind the real MMIO transport, driven by a hostile guest
 * (tests/fuzz/fuzz_virtio.h describes the input). The device's own I/O thread runs as in the
 * VMM; after each notify the fuzzer also runs one round of queue work itself, under the
 * transport lock, so every input is processed before the next step (the file is included for
 * that one static function). Guest-initiated connections dial unix sockets under a temp dir
 * where nothing listens, so they are refused like on a host without that port.
 */
#include <stdio.h>

#include "../../microvm/virtio_vsock.c"
#include "fuzz_virtio.h"

static struct virtio_vsock *cur;

static void round_now(void)
{
	pthread_mutex_lock(&cur->t.lock);
	vsock_round(cur);
	pthread_mutex_unlock(&cur->t.lock);
}

static const char *uds_path(void)
{
	static char path[64];
	if (!path[0]) {
		char dir[] = "/tmp/fuzz-vsock.XXXXXX";
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof(path), "%s/v.sock", dir);
	}
	return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < FUZZ_HDR)
		return 0;
	static struct vm vm;
	void *dev = NULL;
	fz_vm_init(&vm, data, size);
	if (virtio_vsock_create(&vm, FUZZ_BASE, FUZZ_IRQ, 3, uds_path(), &dev, NULL) == 0) {
		cur = dev;
		fz_drive_setup(&vm, data);
		fz_drive_notifies(&vm, data, round_now);
		virtio_dev_destroy(dev);
	}
	fz_vm_fini(&vm);
	return 0;
}

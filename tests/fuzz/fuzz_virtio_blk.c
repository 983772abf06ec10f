/*
 * libFuzzer target: virtio-blk request parsing and I/O (microvm/virtio_blk.c) behind the real
 * MMIO transport, driven by a hostile guest (tests/fuzz/fuzz_virtio.h describes the input).
 * The disk is a 64 KiB memfd, writable, so reads, writes, flushes and out-of-range sectors all
 * reach the device's checks.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_virtio.h"

#define FUZZ_DISK_SIZE (64u * 1024u)

static const char *disk_path(void)
{
	static char path[64];
	if (!path[0]) {
		int fd = memfd_create("fuzz-disk", 0);
		if (fd < 0 || ftruncate(fd, FUZZ_DISK_SIZE) < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
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
	if (virtio_blk_create(&vm, FUZZ_BASE, FUZZ_IRQ, disk_path(), false, &dev, NULL) == 0) {
		fz_drive_setup(&vm, data);
		fz_drive_notifies(&vm, data, NULL);
		virtio_dev_destroy(dev);
	}
	fz_vm_fini(&vm);
	return 0;
}

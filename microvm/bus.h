/*
 * MMIO and port-I/O buses: devices register address ranges; the vCPU exit handler dispatches
 * guest accesses to them. Callbacks run on vCPU threads, possibly concurrently: devices lock.
 */
#ifndef SANDBOX_BUS_H
#define SANDBOX_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../common/error.h"

struct bus_ops {
	/* offset is relative to the registered base; len is 1, 2, 4 or 8. Must fill data. */
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
};

#define BUS_MAX_RANGES 32

struct bus_range {
	uint64_t base, len;
	const struct bus_ops *ops;
	void *opaque;
};

struct bus {
	const char *name; /* "mmio" or "pio", for messages */
	struct bus_range ranges[BUS_MAX_RANGES];
	unsigned n;
	uint64_t unhandled; /* accesses that hit no device (counted, never fatal) */
};

/* Fails with -EEXIST on overlap, -ENOSPC when full. Registration happens before vCPUs run. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque, struct sbx_err *err);
/*
 * Returns 0 when a device handled it; -ENOENT when none did (reads then return all-ones).
 * An access straddling a range end is treated as unhandled.
 */
int bus_dispatch(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

#endif

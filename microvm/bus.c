/*
 * Address-range buses for MMIO and port I/O (kvmtool's model). The table is filled before any
 * vCPU runs and is read-only afterwards, so dispatch takes no lock; devices lock themselves.
 */
#include "bus.h"

#include <errno.h>
#include <string.h>

/* True when [a, a+alen) and [b, b+blen) share a byte; both lengths > 0 and non-wrapping. */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque, struct sbx_err *err)
{
	const char *name = bus->name ? bus->name : "bus";
	if (len == 0 || base + len < base || !ops)
		return sbx_err_setx(err, EINVAL, "%s: invalid range 0x%llx+0x%llx", name,
				    (unsigned long long)base, (unsigned long long)len);
	for (unsigned i = 0; i < bus->n; i++) {
		const struct bus_range *r = &bus->ranges[i];
		if (ranges_overlap(base, len, r->base, r->len))
			return sbx_err_setx(
			    err, EEXIST, "%s: range 0x%llx+0x%llx overlaps 0x%llx+0x%llx", name,
			    (unsigned long long)base, (unsigned long long)len,
			    (unsigned long long)r->base, (unsigned long long)r->len);
	}
	if (bus->n >= BUS_MAX_RANGES)
		return sbx_err_setx(err, ENOSPC, "%s: no room for range 0x%llx (max %d)", name,
				    (unsigned long long)base, BUS_MAX_RANGES);
	bus->ranges[bus->n++] = (struct bus_range){base, len, ops, opaque};
	return 0;
}

static const struct bus_range *bus_find(const struct bus *bus, uint64_t addr, uint32_t len)
{
	for (unsigned i = 0; i < bus->n; i++) {
		const struct bus_range *r = &bus->ranges[i];
		/* addr - base cannot wrap once addr >= base; straddling the end is "not ours". */
		if (addr >= r->base && addr - r->base < r->len && len <= r->len - (addr - r->base))
			return r;
	}
	return NULL;
}

int bus_dispatch(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	const struct bus_range *r = (len >= 1 && len <= 8) ? bus_find(bus, addr, len) : NULL;
	if (!r || (is_write ? !r->ops->write : !r->ops->read)) {
		__atomic_add_fetch(&bus->unhandled, 1, __ATOMIC_RELAXED);
		if (!is_write && len <= 8)
			memset(data, 0xff, len);
		return -ENOENT;
	}
	if (is_write)
		r->ops->write(r->opaque, addr - r->base, data, len);
	else
		r->ops->read(r->opaque, addr - r->base, data, len);
	return 0;
}

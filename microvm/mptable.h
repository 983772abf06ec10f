/*
 * Intel MultiProcessor Specification 1.4 tables: how Linux without ACPI finds the CPUs, the
 * IOAPIC and the ISA interrupt routing.
 */
#ifndef SANDBOX_MPTABLE_H
#define SANDBOX_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "guest_mem.h"

/* The tables must fit the last KiB of base memory (layout.h); 32 vCPUs take 908 bytes. */
#define MPTABLE_MAX_CPUS 32u

/* Bytes of floating pointer + configuration table for ncpus. */
size_t mptable_size(unsigned ncpus);

/*
 * Builds the tables for guest-physical address `gpa` into buf (zeroed first). Returns the size
 * or a negative errno (too many CPUs, buffer too small). Pure: unit-tested.
 */
int mptable_build(uint8_t *buf, size_t buflen, uint32_t gpa, unsigned ncpus, struct sbx_err *err);

/* Builds the tables at LAYOUT_MPTABLE_START in guest RAM. */
int mptable_write(struct guest_mem *m, unsigned ncpus, struct sbx_err *err);

/* Sum of bytes mod 256 (every MP structure sums to 0). */
uint8_t mptable_checksum(const uint8_t *p, size_t len);

#endif

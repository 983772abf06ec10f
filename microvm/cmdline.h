/* The guest kernel command line the VMM builds (docs/architecture.md "VMM command line"). */
#ifndef SANDBOX_CMDLINE_H
#define SANDBOX_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/error.h"

/*
 * Base switches, then (only when `emulated`, i.e. kvm_pvm) the CPU-feature switches, then one
 * virtio_mmio.device= per device in layout order, then `extra` (may be NULL). Fails with
 * -E2BIG when the result (NUL included) exceeds min(buflen, LAYOUT_CMDLINE_MAX).
 */
int cmdline_build(char *buf, size_t buflen, bool emulated, unsigned ndevices, const char *extra,
		  struct sbx_err *err);

#endif

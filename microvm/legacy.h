/*
 * The small PC devices Linux touches at boot: the i8042 (its reset line ends the VM), the CMOS
 * RTC (a sane clock), the POST port 0x80 (a quiet sink), and our boot-timer port 0x440.
 */
#ifndef SANDBOX_LEGACY_H
#define SANDBOX_LEGACY_H

#include <stdint.h>

#include "../common/error.h"
#include "vm.h"

struct legacy;

/*
 * Lines the boot-timer file takes at most: a Linux boot writes about ten, but every guest write
 * to port 0x440 is a line, so without a limit a guest could fill the host's state filesystem
 * (under 64 bytes a line: < 256 KiB at the limit). One more line says why it stopped.
 */
#define LEGACY_BOOT_TIMER_MAX_LINES 4096u

/*
 * boot_timer_fd: where port-0x440 writes are logged (-1: ignored); owned and closed by the
 * device. start_ns: CLOCK_MONOTONIC at VMM start, the origin of the logged times.
 */
int legacy_create(struct vm *vm, int boot_timer_fd, uint64_t start_ns, struct legacy **out,
		  struct sbx_err *err);
void legacy_destroy(struct legacy *l); /* accepts NULL */

/* --snapshot-to: the stage byte LAYOUT_BOOT_STAGE_SNAPSHOT then stops the VM for a snapshot. */
void legacy_enable_snapshot_trigger(struct legacy *l);
/* Appends "<ns> <what>" to the boot timer log (e.g. "restored"); no-op without one. */
void legacy_boot_timer_log(struct legacy *l, const char *what);

struct snap_w;
struct snap_rd;
/* i8042 and CMOS index state in a SNAP_TAG_LEGACY section. */
void legacy_save(struct legacy *l, struct snap_w *w);
int legacy_restore(struct legacy *l, struct snap_rd *r, struct sbx_err *err);

/* Bus callbacks, exposed for unit tests; i8042 offsets are from port 0x60 (4 = command). */
void i8042_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
void i8042_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
void boot_timer_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
void cmos_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
void cmos_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);

uint64_t monotonic_ns(void);

#endif

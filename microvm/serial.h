/*
 * COM1: an 8250/16450 UART at port 0x3f8, IRQ 4, transmit only. Enough for Linux's 8250 console
 * and tty driver. Output goes to a file descriptor (or nowhere), and a ring buffer keeps the
 * tail. The console is watched for "Kernel panic", which ends the VM with status 3.
 */
#ifndef SANDBOX_SERIAL_H
#define SANDBOX_SERIAL_H

#include <stddef.h>

#include "../common/error.h"
#include "vm.h"

struct serial;

/* out_fd: where guest output goes (-1: only the ring buffer); the serial owns and closes it. */
int serial_create(struct vm *vm, int out_fd, struct serial **out, struct sbx_err *err);
/* Flushes a partial line, closes the output. Accepts NULL. Call after the vCPUs stopped. */
void serial_destroy(struct serial *s);

struct snap_w;
struct snap_rd;
/* Register state in a SNAP_TAG_SERIAL section (the output side has no state worth keeping). */
void serial_save(struct serial *s, struct snap_w *w);
int serial_restore(struct serial *s, struct snap_rd *r, struct sbx_err *err);

/* Bus callbacks, exposed for unit tests (offset 0..7 from the base port). */
void serial_pio_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
void serial_pio_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);

/* Copies the last output bytes (up to len - 1) NUL-terminated into buf; returns the count. */
size_t serial_tail(struct serial *s, char *buf, size_t len);

#endif

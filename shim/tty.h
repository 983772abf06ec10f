/* The host terminal of `sandbox run -t`: raw mode while the container owns it, restored after. */
#ifndef SANDBOX_TTY_H
#define SANDBOX_TTY_H

#include <stdbool.h>
#include <stdint.h>

/* Puts fd in raw mode if it is a terminal; remembers the old mode for tty_restore. */
int tty_make_raw(int fd);
void tty_restore(void);
/* Window size of fd, or false when it is not a terminal. */
bool tty_winsize(int fd, uint16_t *rows, uint16_t *cols);

#endif

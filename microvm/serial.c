/*
 * 8250 UART (National Semiconductor PC16550D datasheet register map), transmit side only.
 * Linux probes it as a 16450 (IIR bits 7:6 read 0, scratch register works) and transmits from
 * the THR-empty interrupt, so that interrupt is modelled: writing THR or enabling IER.THRI makes
 * "THR empty" pending (the byte left at once) and pulses IRQ 4; reading IIR clears it.
 */
#include "serial.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "snapshot.h"

/* Register offsets from the base port; DLAB (LCR bit 7) switches 0/1 to the divisor latch. */
#define UART_RBR_THR 0
#define UART_IER 1
#define UART_IIR_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7
#define UART_NREGS 8
#define UART_LCR_DLAB 0x80
#define UART_IER_THRI 0x02
#define UART_IER_MASK 0x0f
#define UART_IIR_NO_INT 0x01
#define UART_IIR_THRI 0x02
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_MCR_LOOP 0x10
#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80

#define SERIAL_RING 4096
#define SERIAL_LINE 512
#define PANIC_MARKER "Kernel panic"
/*
 * A guest prints as fast as it can exit (a page per `rep outsb`): past this many bytes the log
 * file stops growing, so a hostile guest cannot fill the host's disk through its console
 * (docs/security.md "Hostile guest"). The panic watch and the tail ring go on working.
 */
#define SERIAL_LOG_MAX (16ull << 20)
#define SERIAL_LOG_FULL_NOTE "\n[sandbox-vmm: console log limit reached, the rest is dropped]\n"

struct serial {
	struct vm *vm;
	pthread_mutex_t lock;
	int out_fd;
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	bool thre_pending;
	char line[SERIAL_LINE]; /* current line: written out and checked for panics at '\n' */
	size_t line_len;
	char ring[SERIAL_RING]; /* the last SERIAL_RING bytes, for diagnostics */
	uint64_t total;
	uint64_t logged; /* bytes written to out_fd, at most SERIAL_LOG_MAX */
	bool log_full;
};

static const struct bus_ops serial_ops = {
    .read = serial_pio_read,
    .write = serial_pio_write,
};

int serial_create(struct vm *vm, int out_fd, struct serial **out, struct sbx_err *err)
{
	struct serial *s = calloc(1, sizeof(*s));
	if (!s) {
		if (out_fd >= 0)
			close(out_fd);
		return sbx_err_set(err, ENOMEM, "allocate serial port");
	}
	s->vm = vm;
	s->out_fd = out_fd;
	s->dll = 0x0c; /* 9600 baud, the power-on divisor */
	pthread_mutex_init(&s->lock, NULL);
	int r =
	    vm ? bus_register(&vm->pio, LAYOUT_SERIAL_PORT, UART_NREGS, &serial_ops, s, err) : 0;
	if (r < 0) {
		serial_destroy(s);
		return sbx_err_wrap(err, "serial port 0x%x", LAYOUT_SERIAL_PORT);
	}
	*out = s;
	return 0;
}

static void write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* the log is best effort: a full disk must not stop the guest */
		p += n;
		len -= (size_t)n;
	}
}

/* Appends to the log until SERIAL_LOG_MAX, then once a note that the rest is dropped. */
static void serial_log(struct serial *s, const char *p, size_t len)
{
	if (s->out_fd < 0 || s->log_full || len == 0)
		return;
	if (len > SERIAL_LOG_MAX - s->logged) {
		write_all(s->out_fd, SERIAL_LOG_FULL_NOTE, sizeof(SERIAL_LOG_FULL_NOTE) - 1);
		s->log_full = true;
		return;
	}
	write_all(s->out_fd, p, len);
	s->logged += len;
}

/* Called with the lock held when a line is complete (or the line buffer is full). */
static void serial_flush_line(struct serial *s)
{
	serial_log(s, s->line, s->line_len);
	size_t n = s->line_len;
	while (n && (s->line[n - 1] == '\n' || s->line[n - 1] == '\r'))
		n--;
	char text[SERIAL_LINE + 1];
	memcpy(text, s->line, n);
	text[n] = '\0';
	s->line_len = 0;
	if (s->vm && strstr(text, PANIC_MARKER))
		vm_request_stop(s->vm, VM_EXIT_GUEST_PANIC, "guest kernel panic: %s", text);
}

static void serial_tx(struct serial *s, uint8_t c)
{
	s->ring[s->total % SERIAL_RING] = (char)c;
	s->total++;
	s->line[s->line_len++] = (char)c;
	if (c == '\n' || s->line_len == sizeof(s->line))
		serial_flush_line(s);
}

static uint8_t serial_msr(const struct serial *s)
{
	if (!(s->mcr & UART_MCR_LOOP))
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS; /* a cable is plugged in */
	/* Loopback (PC16550D §8.6): DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
	return (
	    uint8_t)(((s->mcr & 0x01) ? UART_MSR_DSR : 0) | ((s->mcr & 0x02) ? UART_MSR_CTS : 0) |
		     ((s->mcr & 0x04) ? UART_MSR_RI : 0) | ((s->mcr & 0x08) ? UART_MSR_DCD : 0));
}

static uint8_t serial_read_reg(struct serial *s, uint64_t off)
{
	bool dlab = s->lcr & UART_LCR_DLAB;
	switch (off) {
	case UART_RBR_THR:
		return dlab ? s->dll : 0; /* no input */
	case UART_IER:
		return dlab ? s->dlm : s->ier;
	case UART_IIR_FCR:
		if (s->thre_pending && (s->ier & UART_IER_THRI)) {
			s->thre_pending = false;
			return UART_IIR_THRI;
		}
		return UART_IIR_NO_INT;
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		return UART_LSR_THRE | UART_LSR_TEMT;
	case UART_MSR:
		return serial_msr(s);
	default:
		return s->scr;
	}
}

/* Returns true when the THR-empty interrupt should be signalled. */
static bool serial_write_reg(struct serial *s, uint64_t off, uint8_t v)
{
	bool dlab = s->lcr & UART_LCR_DLAB;
	switch (off) {
	case UART_RBR_THR:
		if (dlab) {
			s->dll = v;
			return false;
		}
		serial_tx(s, v);
		s->thre_pending = true;
		return s->ier & UART_IER_THRI;
	case UART_IER:
		if (dlab) {
			s->dlm = v;
			return false;
		}
		s->ier = v & UART_IER_MASK;
		s->thre_pending = s->ier & UART_IER_THRI; /* THR is empty: interrupt at once */
		return s->thre_pending;
	case UART_LCR:
		s->lcr = v;
		return false;
	case UART_MCR:
		s->mcr = v;
		return false;
	case UART_SCR:
		s->scr = v;
		return false;
	default:
		return false; /* FCR, LSR, MSR: nothing to do for a FIFO-less transmitter */
	}
}

void serial_pio_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;
	memset(data, 0xff, len);
	if (offset >= UART_NREGS)
		return;
	pthread_mutex_lock(&s->lock);
	data[0] = serial_read_reg(s, offset);
	pthread_mutex_unlock(&s->lock);
}

void serial_pio_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;
	if (offset >= UART_NREGS || len == 0)
		return;
	pthread_mutex_lock(&s->lock);
	bool irq = serial_write_reg(s, offset, data[0]);
	pthread_mutex_unlock(&s->lock);
	if (irq && s->vm)
		vm_irq_pulse(s->vm, LAYOUT_SERIAL_IRQ);
}

size_t serial_tail(struct serial *s, char *buf, size_t len)
{
	if (!s || len == 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	uint64_t have = s->total < SERIAL_RING ? s->total : SERIAL_RING;
	size_t n = have < len - 1 ? (size_t)have : len - 1;
	for (size_t i = 0; i < n; i++)
		buf[i] = s->ring[(s->total - n + i) % SERIAL_RING];
	buf[n] = '\0';
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* The registers a guest driver can observe, in a fixed order (docs/snapshot.md). */
enum { SER_IER, SER_LCR, SER_MCR, SER_SCR, SER_DLL, SER_DLM, SER_THRE, SER_NSTATE };

void serial_save(struct serial *s, struct snap_w *w)
{
	pthread_mutex_lock(&s->lock);
	uint8_t st[SER_NSTATE] = {s->ier, s->lcr, s->mcr, s->scr, s->dll, s->dlm, s->thre_pending};
	pthread_mutex_unlock(&s->lock);
	size_t sec = snap_section_begin(w, SNAP_TAG_SERIAL);
	snap_put_blob(w, st, sizeof(st));
	snap_section_end(w, sec);
}

int serial_restore(struct serial *s, struct snap_rd *r, struct sbx_err *err)
{
	struct snap_rd sec;
	uint8_t st[SER_NSTATE];
	int ret = snap_section(r, SNAP_TAG_SERIAL, "serial", &sec, err);
	if (ret >= 0)
		ret = snap_get_blob(&sec, st, sizeof(st), err);
	if (ret >= 0)
		ret = snap_end(&sec, err);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&s->lock);
	s->ier = st[SER_IER] & UART_IER_MASK;
	s->lcr = st[SER_LCR];
	s->mcr = st[SER_MCR];
	s->scr = st[SER_SCR];
	s->dll = st[SER_DLL];
	s->dlm = st[SER_DLM];
	s->thre_pending = st[SER_THRE] != 0;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	serial_log(s, s->line, s->line_len);
	if (s->out_fd >= 0)
		close(s->out_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/*
 * Legacy PC ports. None of them is performance-relevant; each exists so that the guest kernel
 * gets a sensible answer instead of the all-ones of an empty bus.
 */
#include "legacy.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"
#include "snapshot.h"

/*
 * i8042 (IBM PC/AT keyboard controller, 8042 command set as in Linux's drivers/input/serio/
 * i8042.h): data port 0x60, command/status port 0x64. No keyboard is attached; the controller
 * answers its own commands so that Linux's i8042 driver initialises without timeouts.
 */
#define I8042_DATA_PORT 0x60u
#define I8042_STR_OBF 0x01     /* output buffer full: a byte waits on port 0x60 */
#define I8042_STR_SYS 0x04     /* system flag: self-test passed */
#define I8042_STR_KEYLOCK 0x10 /* set = keyboard not inhibited (else Linux warns "Keylock") */
#define I8042_CMD_READ_CTR 0x20
#define I8042_CMD_WRITE_CTR 0x60
#define I8042_CMD_AUX_TEST 0xa9
#define I8042_CMD_SELF_TEST 0xaa
#define I8042_CMD_KBD_TEST 0xab
#define I8042_CMD_READ_OUTP 0xd0
#define I8042_CMD_WRITE_OUTP 0xd1
#define I8042_CMD_WRITE_KBD_OUT 0xd2
#define I8042_CMD_WRITE_AUX_OUT 0xd3
#define I8042_CMD_RESET 0xfe /* pulse the CPU reset line: Linux reboot=k */
#define I8042_SELF_TEST_OK 0x55
#define I8042_PORT_TEST_OK 0x00
#define I8042_CTR_DEFAULT 0x45	/* kbd interrupt on, system flag, translate */
#define I8042_OUTP_DEFAULT 0x03 /* A20 on, no reset */
/* MC146818 RTC behind CMOS ports 0x70 (index, bit 7 = NMI mask) and 0x71 (data). */
#define CMOS_INDEX_PORT 0x70u
#define CMOS_PORTS 2u
#define CMOS_INDEX_MASK 0x7f
#define RTC_SECONDS 0x00
#define RTC_MINUTES 0x02
#define RTC_HOURS 0x04
#define RTC_DAY_OF_WEEK 0x06
#define RTC_DAY_OF_MONTH 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_D 0x0d
#define RTC_CENTURY 0x32
#define RTC_REG_A_VALUE 0x26 /* 32.768 kHz time base, 1024 Hz rate, no update in progress */
#define RTC_REG_B_VALUE 0x02 /* 24-hour mode, BCD, no interrupts */
#define RTC_REG_D_VALID 0x80 /* battery good */
/* POST diagnostic port: io_delay and firmware write here; the write means nothing. */
#define POST_PORT 0x80u

struct legacy {
	struct vm *vm;
	int boot_timer_fd;
	uint32_t boot_timer_lines; /* written so far; atomic: every vCPU writes the port */
	uint64_t start_ns;
	pthread_mutex_t lock; /* guards the i8042 and CMOS state below */
	uint8_t cmos_index;
	uint8_t i8042_ctr, i8042_outp, i8042_out, i8042_pending_cmd;
	bool i8042_out_full;
	bool snapshot_trigger; /* --snapshot-to: stage LAYOUT_BOOT_STAGE_SNAPSHOT stops the VM */
};

uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void i8042_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct legacy *l = opaque;
	memset(data, 0, len);
	pthread_mutex_lock(&l->lock);
	if (offset + I8042_DATA_PORT == LAYOUT_I8042_CMD_PORT) {
		data[0] =
		    I8042_STR_SYS | I8042_STR_KEYLOCK | (l->i8042_out_full ? I8042_STR_OBF : 0);
	} else {
		data[0] = l->i8042_out;
		l->i8042_out_full = false;
	}
	pthread_mutex_unlock(&l->lock);
}

static void i8042_reply(struct legacy *l, uint8_t v)
{
	l->i8042_out = v;
	l->i8042_out_full = true;
}

/* Called with the lock held; returns true for the reset command. */
static bool i8042_command(struct legacy *l, uint8_t cmd)
{
	switch (cmd) {
	case I8042_CMD_READ_CTR:
		i8042_reply(l, l->i8042_ctr);
		break;
	case I8042_CMD_READ_OUTP:
		i8042_reply(l, l->i8042_outp);
		break;
	case I8042_CMD_SELF_TEST:
		i8042_reply(l, I8042_SELF_TEST_OK);
		break;
	case I8042_CMD_KBD_TEST:
	case I8042_CMD_AUX_TEST:
		i8042_reply(l, I8042_PORT_TEST_OK);
		break;
	case I8042_CMD_WRITE_CTR:
	case I8042_CMD_WRITE_OUTP:
	case I8042_CMD_WRITE_KBD_OUT:
	case I8042_CMD_WRITE_AUX_OUT:
		l->i8042_pending_cmd = cmd;
		break;
	case I8042_CMD_RESET:
		return true;
	default:
		break; /* enable/disable ports and the like: no state worth keeping */
	}
	return false;
}

/* A data byte: the argument of a pending command, else a byte for the (absent) keyboard. */
static void i8042_data(struct legacy *l, uint8_t v)
{
	switch (l->i8042_pending_cmd) {
	case I8042_CMD_WRITE_CTR:
		l->i8042_ctr = v;
		break;
	case I8042_CMD_WRITE_OUTP:
		l->i8042_outp = v;
		break;
	case I8042_CMD_WRITE_KBD_OUT:
	case I8042_CMD_WRITE_AUX_OUT:
		i8042_reply(l, v);
		break;
	default:
		break; /* no keyboard answers; atkbd gives up after its timeout */
	}
	l->i8042_pending_cmd = 0;
}

void i8042_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct legacy *l = opaque;
	bool reset = false;
	if (len == 0)
		return;
	pthread_mutex_lock(&l->lock);
	if (offset + I8042_DATA_PORT == LAYOUT_I8042_CMD_PORT)
		reset = i8042_command(l, data[0]);
	else
		i8042_data(l, data[0]);
	pthread_mutex_unlock(&l->lock);
	if (reset && l->vm)
		vm_request_stop(l->vm, VM_EXIT_GUEST_ENDED, NULL);
}

static void boot_timer_line(struct legacy *l, const char *what)
{
	if (l->boot_timer_fd < 0 ||
	    __atomic_load_n(&l->boot_timer_lines, __ATOMIC_RELAXED) > LEGACY_BOOT_TIMER_MAX_LINES)
		return;
	/* Checked before the increment so the counter cannot wrap back under the limit. */
	uint32_t nth = __atomic_fetch_add(&l->boot_timer_lines, 1, __ATOMIC_RELAXED);
	if (nth > LEGACY_BOOT_TIMER_MAX_LINES)
		return;
	if (nth == LEGACY_BOOT_TIMER_MAX_LINES)
		what = "boot-timer-limit-reached";
	char line[96];
	/* Third field: CPU time the VMM has used so far, which on a loaded emulating host says
	 * more about the guest's own cost than the wall clock (docs/benchmarks.md). */
	struct timespec cpu = {0};
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	int n = snprintf(line, sizeof(line), "%llu %s %llu\n",
			 (unsigned long long)(monotonic_ns() - l->start_ns), what,
			 (unsigned long long)cpu.tv_sec * 1000000000ull +
			     (unsigned long long)cpu.tv_nsec);
	/* O_APPEND and one write per line: lines from several vCPUs never interleave. */
	if (n > 0 && write(l->boot_timer_fd, line, (size_t)n) < 0)
		return; /* best effort */
}

void boot_timer_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct legacy *l = opaque;
	(void)offset;
	if (len == 0)
		return;
	char stage[8];
	snprintf(stage, sizeof(stage), "%u", data[0]);
	boot_timer_line(l, stage);
	/* The vCPU loop sees the stop after this exit and completes the OUT before stopping. */
	if (data[0] == LAYOUT_BOOT_STAGE_SNAPSHOT && l->snapshot_trigger && l->vm)
		vm_request_stop(l->vm, VM_STOP_SNAPSHOT, NULL);
}

void legacy_boot_timer_log(struct legacy *l, const char *what)
{
	boot_timer_line(l, what);
}

void legacy_enable_snapshot_trigger(struct legacy *l)
{
	l->snapshot_trigger = true;
}

enum { LPC_CMOS_INDEX, LPC_CTR, LPC_OUTP, LPC_OUT, LPC_PENDING, LPC_OUT_FULL, LPC_NSTATE };

void legacy_save(struct legacy *l, struct snap_w *w)
{
	pthread_mutex_lock(&l->lock);
	uint8_t st[LPC_NSTATE] = {l->cmos_index, l->i8042_ctr,	       l->i8042_outp,
				  l->i8042_out,	 l->i8042_pending_cmd, l->i8042_out_full};
	pthread_mutex_unlock(&l->lock);
	size_t sec = snap_section_begin(w, SNAP_TAG_LEGACY);
	snap_put_blob(w, st, sizeof(st));
	snap_section_end(w, sec);
}

int legacy_restore(struct legacy *l, struct snap_rd *r, struct sbx_err *err)
{
	struct snap_rd sec;
	uint8_t st[LPC_NSTATE];
	int ret = snap_section(r, SNAP_TAG_LEGACY, "i8042/CMOS", &sec, err);
	if (ret >= 0)
		ret = snap_get_blob(&sec, st, sizeof(st), err);
	if (ret >= 0)
		ret = snap_end(&sec, err);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&l->lock);
	l->cmos_index = st[LPC_CMOS_INDEX] & CMOS_INDEX_MASK;
	l->i8042_ctr = st[LPC_CTR];
	l->i8042_outp = st[LPC_OUTP];
	l->i8042_out = st[LPC_OUT];
	l->i8042_pending_cmd = st[LPC_PENDING];
	l->i8042_out_full = st[LPC_OUT_FULL] != 0;
	pthread_mutex_unlock(&l->lock);
	return 0;
}

static uint8_t to_bcd(int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

/*
 * UTC calendar fields without gmtime_r(): glibc loads the time zone on its first call (openat of
 * /etc/localtime), which the vCPU seccomp filter forbids, so a guest reading the RTC killed the
 * VMM with SIGSYS (found by the hostile guest, docs/security.md). Days to date: the proleptic
 * Gregorian civil-from-days algorithm (eras of 400 years, years starting in March).
 */
static void utc_fields(int64_t t, struct tm *tm)
{
	int64_t days = t / 86400, secs = t % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	tm->tm_hour = (int)(secs / 3600);
	tm->tm_min = (int)(secs / 60 % 60);
	tm->tm_sec = (int)(secs % 60);
	tm->tm_wday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
	int64_t z = days + 719468;		  /* days since 0000-03-01 */
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t month = mp < 10 ? mp + 3 : mp - 9;
	tm->tm_mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	tm->tm_mon = (int)(month - 1);
	tm->tm_year = (int)(yoe + era * 400 + (month <= 2) - 1900);
}

static uint8_t cmos_register(uint8_t index)
{
	struct tm tm;
	utc_fields((int64_t)time(NULL), &tm);
	switch (index) {
	case RTC_SECONDS:
		return to_bcd(tm.tm_sec);
	case RTC_MINUTES:
		return to_bcd(tm.tm_min);
	case RTC_HOURS:
		return to_bcd(tm.tm_hour);
	case RTC_DAY_OF_WEEK:
		return to_bcd(tm.tm_wday + 1);
	case RTC_DAY_OF_MONTH:
		return to_bcd(tm.tm_mday);
	case RTC_MONTH:
		return to_bcd(tm.tm_mon + 1);
	case RTC_YEAR:
		return to_bcd(tm.tm_year % 100);
	case RTC_CENTURY:
		return to_bcd(19 + tm.tm_year / 100);
	case RTC_REG_A:
		return RTC_REG_A_VALUE;
	case RTC_REG_B:
		return RTC_REG_B_VALUE;
	case RTC_REG_D:
		return RTC_REG_D_VALID;
	default:
		return 0; /* flags register C and CMOS RAM: zero */
	}
}

void cmos_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct legacy *l = opaque;
	pthread_mutex_lock(&l->lock);
	uint8_t v = offset == 0 ? l->cmos_index : cmos_register(l->cmos_index);
	pthread_mutex_unlock(&l->lock);
	memset(data, 0, len);
	data[0] = v;
}

void cmos_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct legacy *l = opaque;
	if (offset != 0 || len == 0)
		return; /* writes to the RTC itself are ignored: the guest cannot set host time */
	pthread_mutex_lock(&l->lock);
	l->cmos_index = data[0] & CMOS_INDEX_MASK;
	pthread_mutex_unlock(&l->lock);
}

static void sink_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, len);
}

static void sink_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	(void)data;
	(void)len;
}

/* The command port callbacks see the offset from 0x60, as if 0x60-0x64 were one range. */
static void i8042_cmd_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	i8042_read(opaque, offset + LAYOUT_I8042_CMD_PORT - I8042_DATA_PORT, data, len);
}

static void i8042_cmd_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	i8042_write(opaque, offset + LAYOUT_I8042_CMD_PORT - I8042_DATA_PORT, data, len);
}

static const struct bus_ops i8042_data_ops = {.read = i8042_read, .write = i8042_write};
static const struct bus_ops i8042_cmd_ops = {.read = i8042_cmd_read, .write = i8042_cmd_write};
static const struct bus_ops cmos_ops = {.read = cmos_read, .write = cmos_write};
static const struct bus_ops boot_timer_ops = {.read = sink_read, .write = boot_timer_write};
static const struct bus_ops sink_ops = {.read = sink_read, .write = sink_write};

static int legacy_register(struct legacy *l, struct sbx_err *err)
{
	struct bus *pio = &l->vm->pio;
	/* Two single ports: 0x61-0x63 in between are the speaker/NMI-status ports, not ours. */
	int r = bus_register(pio, I8042_DATA_PORT, 1, &i8042_data_ops, l, err);
	if (r >= 0)
		r = bus_register(pio, LAYOUT_I8042_CMD_PORT, 1, &i8042_cmd_ops, l, err);
	if (r >= 0)
		r = bus_register(pio, CMOS_INDEX_PORT, CMOS_PORTS, &cmos_ops, l, err);
	if (r >= 0)
		r = bus_register(pio, LAYOUT_BOOT_TIMER_PORT, 1, &boot_timer_ops, l, err);
	if (r >= 0)
		r = bus_register(pio, POST_PORT, 1, &sink_ops, l, err);
	return r < 0 ? sbx_err_wrap(err, "legacy devices") : 0;
}

int legacy_create(struct vm *vm, int boot_timer_fd, uint64_t start_ns, struct legacy **out,
		  struct sbx_err *err)
{
	struct legacy *l = calloc(1, sizeof(*l));
	if (!l) {
		if (boot_timer_fd >= 0)
			close(boot_timer_fd);
		return sbx_err_set(err, ENOMEM, "allocate legacy devices");
	}
	l->vm = vm;
	l->boot_timer_fd = boot_timer_fd;
	l->start_ns = start_ns;
	l->i8042_ctr = I8042_CTR_DEFAULT;
	l->i8042_outp = I8042_OUTP_DEFAULT;
	pthread_mutex_init(&l->lock, NULL);
	int r = vm ? legacy_register(l, err) : 0;
	if (r < 0) {
		legacy_destroy(l);
		return r;
	}
	*out = l;
	return 0;
}

void legacy_destroy(struct legacy *l)
{
	if (!l)
		return;
	if (l->boot_timer_fd >= 0)
		close(l->boot_timer_fd);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

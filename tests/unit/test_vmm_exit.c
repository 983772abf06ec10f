/*
 * exit_dispatch() with fabricated kvm_run structs (Firecracker's model): no /dev/kvm needed.
 * Also drives the serial port and the i8042 through the port-I/O bus.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../microvm/exit.h"
#include "../../microvm/layout.h"
#include "../../microvm/legacy.h"
#include "../../microvm/serial.h"

#define RUN_SIZE 4096u
#define TEST_PORT 0x500u

static struct vm vm;
static struct kvm_run *run;
static uint8_t seen[16];
static unsigned nseen;

static void dev_read(void *o, uint64_t off, uint8_t *d, uint32_t len)
{
	(void)o;
	memset(d, 0x40 + (int)off, len);
}

static void dev_write(void *o, uint64_t off, const uint8_t *d, uint32_t len)
{
	(void)o;
	(void)off;
	for (uint32_t i = 0; i < len && nseen < sizeof(seen); i++)
		seen[nseen++] = d[i];
}

static const struct bus_ops dev_ops = {dev_read, dev_write};

static void setup(void)
{
	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = -1;
	vm.pio.name = "pio";
	vm.mmio.name = "mmio";
	vm.run_size = RUN_SIZE;
	run = calloc(1, RUN_SIZE);
	nseen = 0;
	ck_assert_int_eq(bus_register(&vm.pio, TEST_PORT, 4, &dev_ops, NULL, NULL), 0);
}

static void teardown(void)
{
	free(run);
}

static uint8_t *io_exit(uint8_t dir, uint16_t port, uint8_t size, uint32_t count, uint64_t off)
{
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = dir;
	run->io.port = port;
	run->io.size = size;
	run->io.count = count;
	run->io.data_offset = off;
	return (uint8_t *)run + (off < RUN_SIZE ? off : 0);
}

START_TEST(io_out_string)
{
	uint8_t *d = io_exit(KVM_EXIT_IO_OUT, TEST_PORT, 1, 3, 1024);
	memcpy(d, "abc", 3);
	ck_assert_int_eq(exit_dispatch(&vm, run, NULL), EXIT_ACT_CONTINUE);
	ck_assert_uint_eq(nseen, 3);
	ck_assert_mem_eq(seen, "abc", 3);
}
END_TEST

START_TEST(io_in_and_unhandled)
{
	uint8_t *d = io_exit(KVM_EXIT_IO_IN, TEST_PORT + 1, 2, 1, 1024);
	ck_assert_int_eq(exit_dispatch(&vm, run, NULL), EXIT_ACT_CONTINUE);
	ck_assert_uint_eq(d[0], 0x41);
	d = io_exit(KVM_EXIT_IO_IN, 0x1234, 4, 1, 1024);
	ck_assert_int_eq(exit_dispatch(&vm, run, NULL), EXIT_ACT_CONTINUE);
	ck_assert_uint_eq(d[3], 0xff);
	ck_assert_uint_eq(vm.pio.unhandled, 1);
	/* Straddling the end of the device range is not the device's. */
	io_exit(KVM_EXIT_IO_IN, TEST_PORT + 3, 2, 1, 1024);
	ck_assert_int_eq(exit_dispatch(&vm, run, NULL), EXIT_ACT_CONTINUE);
	ck_assert_uint_eq(vm.pio.unhandled, 2);
}
END_TEST

START_TEST(io_data_out_of_bounds_refused)
{
	io_exit(KVM_EXIT_IO_OUT, TEST_PORT, 4, 2, RUN_SIZE - 4); /* 8 bytes, 4 left */
	ck_assert_int_eq(exit_dispatch(&vm, run, NULL), EXIT_ACT_CONTINUE);
	io_exit(KVM_EXIT_IO_OUT, TEST_PORT, 1, 0xffffffffu, 64); /* huge count */
	ck_assert_int_eq(exit_dispatch(&vm, run, NULL), EXIT_ACT_CONTINUE);
	io_exit(KVM_EXIT_IO_OUT, TEST_PORT, 1, 1, ~0ull); /* offset past the mapping */
	ck_assert_int_eq(exit_dispatch(&vm, run, NULL), EXIT_ACT_CONTINUE);
	io_exit(KVM_EXIT_IO_OUT, TEST_PORT, 3, 1, 64); /* impossible size */
	ck_assert_int_eq(exit_dispatch(&vm, run, NULL), EXIT_ACT_CONTINUE);
	ck_assert_uint_eq(nseen, 0);
	ck_assert_uint_eq(vm.pio.unhandled, 4);
}
END_TEST

START_TEST(mmio_unhandled_reads_ones)
{
	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = LAYOUT_VIRTIO_MMIO_BASE;
	run->mmio.len = 4;
	run->mmio.is_write = 0;
	ck_assert_int_eq(exit_dispatch(&vm, run, NULL), EXIT_ACT_CONTINUE);
	ck_assert_uint_eq(run->mmio.data[0], 0xff);
	ck_assert_uint_eq(run->mmio.data[3], 0xff);
	run->mmio.len = 200; /* nonsense length: refused */
	ck_assert_int_eq(exit_dispatch(&vm, run, NULL), EXIT_ACT_CONTINUE);
	ck_assert_uint_eq(vm.mmio.unhandled, 2);
}
END_TEST

START_TEST(terminal_exits)
{
	struct exit_report rep;
	run->exit_reason = KVM_EXIT_SHUTDOWN;
	ck_assert_int_eq(exit_dispatch(&vm, run, &rep), EXIT_ACT_GUEST_SHUTDOWN);
	ck_assert_int_eq(exit_action_status(&vm, EXIT_ACT_GUEST_SHUTDOWN), 0);
	run->exit_reason = KVM_EXIT_HLT;
	ck_assert_int_eq(exit_dispatch(&vm, run, &rep), EXIT_ACT_GUEST_SHUTDOWN);
	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	ck_assert_int_eq(exit_dispatch(&vm, run, &rep), EXIT_ACT_INTERNAL_ERROR);
	ck_assert_ptr_nonnull(strstr(rep.msg, "emulation failure"));
	ck_assert_int_eq(exit_action_status(&vm, EXIT_ACT_INTERNAL_ERROR), 4);
	run->exit_reason = KVM_EXIT_FAIL_ENTRY;
	ck_assert_int_eq(exit_dispatch(&vm, run, &rep), EXIT_ACT_FAIL);
	ck_assert_int_eq(exit_action_status(&vm, EXIT_ACT_FAIL), 5);
	run->exit_reason = KVM_EXIT_SYSTEM_EVENT;
	run->system_event.type = KVM_SYSTEM_EVENT_RESET;
	ck_assert_int_eq(exit_dispatch(&vm, run, &rep), EXIT_ACT_GUEST_RESET);
	run->system_event.type = KVM_SYSTEM_EVENT_CRASH;
	ck_assert_int_eq(exit_dispatch(&vm, run, &rep), EXIT_ACT_FAIL);
	run->exit_reason = 9999;
	ck_assert_int_eq(exit_dispatch(&vm, run, &rep), EXIT_ACT_FAIL);
}
END_TEST

START_TEST(i8042_reset_stops_with_zero)
{
	struct legacy *l = NULL;
	ck_assert_int_eq(legacy_create(&vm, -1, 0, &l, NULL), 0);
	uint8_t *d = io_exit(KVM_EXIT_IO_IN, LAYOUT_I8042_CMD_PORT, 1, 1, 1024);
	ck_assert_int_eq(exit_dispatch(&vm, run, NULL), EXIT_ACT_CONTINUE);
	ck_assert_uint_eq(d[0] & 0x03, 0); /* no data, input buffer empty */
	/* Linux's i8042 probe: read the control register, self-test. */
	d = io_exit(KVM_EXIT_IO_OUT, LAYOUT_I8042_CMD_PORT, 1, 1, 1024);
	d[0] = 0xaa;
	ck_assert_int_eq(exit_dispatch(&vm, run, NULL), EXIT_ACT_CONTINUE);
	d = io_exit(KVM_EXIT_IO_IN, LAYOUT_I8042_CMD_PORT, 1, 1, 1024);
	exit_dispatch(&vm, run, NULL);
	ck_assert_uint_eq(d[0] & 0x01, 1); /* output buffer full */
	d = io_exit(KVM_EXIT_IO_IN, 0x60, 1, 1, 1024);
	exit_dispatch(&vm, run, NULL);
	ck_assert_uint_eq(d[0], 0x55);
	d = io_exit(KVM_EXIT_IO_IN, LAYOUT_I8042_CMD_PORT, 1, 1, 1024);
	exit_dispatch(&vm, run, NULL);
	ck_assert_uint_eq(d[0] & 0x01, 0);
	d = io_exit(KVM_EXIT_IO_OUT, LAYOUT_I8042_CMD_PORT, 1, 1, 1024);
	d[0] = 0xfe;
	ck_assert_int_eq(exit_dispatch(&vm, run, NULL), EXIT_ACT_STOP);
	ck_assert_int_eq(exit_action_status(&vm, EXIT_ACT_STOP), 0);
	legacy_destroy(l);
}
END_TEST

static void serial_out(const char *s)
{
	for (; *s; s++) {
		uint8_t *d = io_exit(KVM_EXIT_IO_OUT, LAYOUT_SERIAL_PORT, 1, 1, 1024);
		d[0] = (uint8_t)*s;
		exit_dispatch(&vm, run, NULL);
	}
}

START_TEST(serial_output_and_panic)
{
	struct serial *s = NULL;
	char tail[64];
	ck_assert_int_eq(serial_create(&vm, -1, &s, NULL), 0);
	serial_out("hello\n");
	ck_assert_int_eq(vm_stop_requested(&vm), false);
	serial_tail(s, tail, sizeof(tail));
	ck_assert_str_eq(tail, "hello\n");
	serial_out("Kernel panic - not syncing: test\r\n");
	ck_assert_int_eq(vm_stop_requested(&vm), true);
	ck_assert_int_eq(vm.stop_status, VM_EXIT_GUEST_PANIC);
	ck_assert_str_eq(vm.stop_reason, "guest kernel panic: Kernel panic - not syncing: test");
	serial_destroy(s);
}
END_TEST

START_TEST(serial_registers)
{
	struct serial *s = NULL;
	uint8_t v;
	ck_assert_int_eq(serial_create(NULL, -1, &s, NULL), 0);
	serial_pio_read(s, 5, &v, 1); /* LSR */
	ck_assert_uint_eq(v & 0x60, 0x60);
	serial_pio_read(s, 2, &v, 1); /* IIR: nothing pending */
	ck_assert_uint_eq(v, 0x01);
	v = 0xa5;
	serial_pio_write(s, 7, &v, 1);
	serial_pio_read(s, 7, &v, 1);
	ck_assert_uint_eq(v, 0xa5);
	v = 0x02; /* IER.THRI: THR empty interrupt pending at once, cleared by the IIR read */
	serial_pio_write(s, 1, &v, 1);
	serial_pio_read(s, 2, &v, 1);
	ck_assert_uint_eq(v, 0x02);
	serial_pio_read(s, 2, &v, 1);
	ck_assert_uint_eq(v, 0x01);
	v = 0x1a; /* loopback, RTS, OUT2 -> CTS, DCD (Linux's 8250 loopback test wants 0x90) */
	serial_pio_write(s, 4, &v, 1);
	serial_pio_read(s, 6, &v, 1);
	ck_assert_uint_eq(v & 0xf0, 0x90);
	serial_destroy(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vmm_exit");
	TCase *tc = tcase_create("exit");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, io_out_string);
	tcase_add_test(tc, io_in_and_unhandled);
	tcase_add_test(tc, io_data_out_of_bounds_refused);
	tcase_add_test(tc, mmio_unhandled_reads_ones);
	tcase_add_test(tc, terminal_exits);
	tcase_add_test(tc, i8042_reset_stops_with_zero);
	tcase_add_test(tc, serial_output_and_panic);
	tcase_add_test(tc, serial_registers);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * VMM boot path with tiny hand-written guests (KVM selftests style): a fabricated vmlinux-like
 * ELF with a PVH note is loaded by the real loader and run on a real VM. Needs /dev/kvm: skips
 * (exit 77) without it, unless CI=true.
 */
#include <check.h>
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../microvm/boot_pvh.h"
#include "../../microvm/cpuid.h"
#include "../../microvm/layout.h"
#include "../../microvm/legacy.h"
#include "../../microvm/mptable.h"
#include "../../microvm/serial.h"
#include "../../microvm/vcpu.h"
#include "../../microvm/vm.h"

#define GUEST_LOAD 0x100000u
#define ELF_NOTE_OFF 0x200u
#define ELF_CODE_OFF 0x1000u

/*
 * 32-bit guest: prints 'M' if EBX points at the hvm_start_info magic, then "OK\n" by rep outsb
 * (string I/O), then writes 0xfe to port 0x64 (reset = guest ended). Source:
 *   mov $0x3f8,%dx; mov (%ebx),%eax; cmp $0x336ec578,%eax; jne 1f; mov $'M',%al; out %al,%dx
 *   1: mov $msg,%esi; mov $3,%ecx; rep outsb; mov $0xfe,%al; out %al,$0x64; hlt; msg: "OK\n"
 */
static const uint8_t guest_ok[] = {
    0x66, 0xba, 0xf8, 0x03, 0x8b, 0x03, 0x3d, 0x78, 0xc5, 0x6e, 0x33, 0x75,
    0x03, 0xb0, 0x4d, 0xee, 0xbe, 0x21, 0x00, 0x10, 0x00, 0xb9, 0x03, 0x00,
    0x00, 0x00, 0xf3, 0x6e, 0xb0, 0xfe, 0xe6, 0x64, 0xf4, 0x4f, 0x4b, 0x0a,
};
/* ud2 with no IDT: triple fault -> KVM_EXIT_SHUTDOWN. */
static const uint8_t guest_ud2[] = {0x0f, 0x0b};
/* popcnt %eax,%eax; then the i8042 reset. KVM's emulator cannot run popcnt (kvm_pvm). */
static const uint8_t guest_popcnt[] = {0xf3, 0x0f, 0xb8, 0xc0, 0xb0, 0xfe, 0xe6, 0x64, 0xf4};

static void skip_without_kvm(void)
{
	if (access("/dev/kvm", R_OK | W_OK) == 0)
		return;
	const char *ci = getenv("CI");
	if (ci && strcmp(ci, "true") == 0)
		ck_abort_msg("/dev/kvm not usable and CI=true");
	fprintf(stderr, "SKIP: /dev/kvm not usable\n");
	exit(77);
}

/* An ELF64 executable: one PT_NOTE (Xen PHYS32_ENTRY) and one PT_LOAD of `code`. */
static size_t build_elf(uint8_t *img, size_t cap, const uint8_t *code, size_t len)
{
	ck_assert_uint_ge(cap, ELF_CODE_OFF + len);
	memset(img, 0, cap);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 2;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + eh->e_phoff);
	uint8_t note[] = {4,
			  0,
			  0,
			  0,
			  4,
			  0,
			  0,
			  0,
			  18,
			  0,
			  0,
			  0,
			  'X',
			  'e',
			  'n',
			  0,
			  GUEST_LOAD & 0xff,
			  (GUEST_LOAD >> 8) & 0xff,
			  GUEST_LOAD >> 16,
			  0};
	memcpy(img + ELF_NOTE_OFF, note, sizeof(note));
	ph[0] = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = ELF_NOTE_OFF, .p_filesz = sizeof(note)};
	ph[1] = (Elf64_Phdr){.p_type = PT_LOAD,
			     .p_offset = ELF_CODE_OFF,
			     .p_paddr = GUEST_LOAD,
			     .p_filesz = len,
			     .p_memsz = 0x2000};
	memcpy(img + ELF_CODE_OFF, code, len);
	return ELF_CODE_OFF + len;
}

static char *write_temp(const void *data, size_t len)
{
	char *path = strdup("/tmp/test_vmm_boot.XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

struct run_result {
	int status;
	char console[256];
	char reason[512];
};

/* Boots `code` as a one-vCPU guest through the real loader and returns how it ended. */
static struct run_result run_guest(const uint8_t *code, size_t len)
{
	static uint8_t img[ELF_CODE_OFF + 256];
	struct sbx_err err = {0};
	struct vm vm;
	struct pvh_boot boot = {0};
	struct serial *ser = NULL;
	struct legacy *leg = NULL;
	struct vcpu vc;
	struct run_result res = {0};
	char *kpath = write_temp(img, build_elf(img, sizeof(img), code, len));
	char *ipath = write_temp("initrd", 6);
	int r = vm_create(&vm, 64ull << 20, &err);
	ck_assert_msg(r == 0, "vm_create: %s", err.msg);
	r = pvh_load_kernel(&vm.mem, kpath, &boot, &err);
	ck_assert_msg(r == 0, "load kernel: %s", err.msg);
	ck_assert_uint_eq(boot.entry, GUEST_LOAD);
	ck_assert_int_eq(pvh_load_initrd(&vm.mem, ipath, &boot, &err), 0);
	ck_assert_int_eq(mptable_write(&vm.mem, 1, &err), 0);
	ck_assert_int_eq(pvh_write_boot_info(&vm.mem, "console=ttyS0", &boot, &err), 0);
	ck_assert_int_eq(serial_create(&vm, -1, &ser, &err), 0);
	ck_assert_int_eq(legacy_create(&vm, -1, 0, &leg, &err), 0);
	struct kvm_cpuid2 *cpuid = cpuid_get_supported(vm.kvm_fd, &err);
	ck_assert_ptr_nonnull(cpuid);
	r = vcpu_create(&vm, 0, 1, cpuid, cpuid_host_is_emulated(), &boot, &vc, &err);
	ck_assert_msg(r == 0, "vcpu_create: %s", err.msg);
	ck_assert_int_eq(vcpu_signals_init(&err), 0);
	ck_assert_int_eq(vcpu_start(&vc, &err), 0);
	res.status = vm_wait_stop(&vm);
	vcpu_stop(&vc);
	serial_tail(ser, res.console, sizeof(res.console));
	snprintf(res.reason, sizeof(res.reason), "%s", vm.stop_reason);
	vcpu_destroy(&vc);
	serial_destroy(ser);
	legacy_destroy(leg);
	free(cpuid);
	vm_destroy(&vm);
	unlink(kpath);
	unlink(ipath);
	free(kpath);
	free(ipath);
	return res;
}

START_TEST(boots_tiny_guest_to_reset)
{
	skip_without_kvm();
	struct run_result r = run_guest(guest_ok, sizeof(guest_ok));
	ck_assert_msg(r.status == VM_EXIT_GUEST_ENDED, "status %d: %s", r.status, r.reason);
	ck_assert_str_eq(r.console, "MOK\n");
}
END_TEST

START_TEST(triple_fault_ends_guest)
{
	skip_without_kvm();
	struct run_result r = run_guest(guest_ud2, sizeof(guest_ud2));
	ck_assert_msg(r.status == VM_EXIT_GUEST_ENDED, "status %d: %s", r.status, r.reason);
	ck_assert_ptr_nonnull(strstr(r.reason, "SHUTDOWN"));
}
END_TEST

START_TEST(emulation_failure_reports_registers)
{
	skip_without_kvm();
	struct run_result r = run_guest(guest_popcnt, sizeof(guest_popcnt));
	if (!cpuid_host_is_emulated()) {
		ck_assert_int_eq(r.status, VM_EXIT_GUEST_ENDED); /* hardware runs popcnt */
		return;
	}
	ck_assert_msg(r.status == VM_EXIT_INTERNAL_ERROR, "status %d: %s", r.status, r.reason);
	ck_assert_ptr_nonnull(strstr(r.reason, "RIP=0x100000"));
}
END_TEST

START_TEST(parse_elf_rejects_bad_images)
{
	static uint8_t img[ELF_CODE_OFF + 64];
	struct sbx_err err = {0};
	uint64_t entry = 0;
	size_t len = build_elf(img, sizeof(img), guest_ud2, sizeof(guest_ud2));
	ck_assert_int_eq(pvh_parse_elf(img, len, &entry, &err), 0);
	ck_assert_uint_eq(entry, GUEST_LOAD);
	ck_assert_int_lt(pvh_parse_elf(img, 10, &entry, &err), 0);    /* truncated header */
	ck_assert_int_lt(pvh_parse_elf(img, 0x100, &entry, &err), 0); /* note outside the file */
	((Elf64_Ehdr *)img)->e_phnum = 0xffff; /* program headers past the end */
	ck_assert_int_lt(pvh_parse_elf(img, len, &entry, &err), 0);
	build_elf(img, sizeof(img), guest_ud2, sizeof(guest_ud2));
	img[ELF_NOTE_OFF + 4] = 0xff; /* descsz runs past the note segment */
	ck_assert_int_lt(pvh_parse_elf(img, len, &entry, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "no PVH entry"));
	build_elf(img, sizeof(img), guest_ud2, sizeof(guest_ud2));
	img[0] = 'x';
	ck_assert_int_lt(pvh_parse_elf(img, len, &entry, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "not an ELF"));
}
END_TEST

START_TEST(memmap_matches_layout)
{
	struct hvm_memmap_table_entry mm[4];
	size_t n = pvh_build_memmap(128ull << 20, mm, 4);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(mm[0].addr, 0);
	ck_assert_uint_eq(mm[0].size, LAYOUT_MPTABLE_START);
	ck_assert_uint_eq(mm[0].type, E820_RAM);
	ck_assert_uint_eq(mm[1].type, E820_RESERVED);
	ck_assert_uint_eq(mm[2].addr, LAYOUT_HIGHMEM_START);
	ck_assert_uint_eq(mm[2].addr + mm[2].size, 128ull << 20);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vmm_boot");
	TCase *tc = tcase_create("boot");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, parse_elf_rejects_bad_images);
	tcase_add_test(tc, memmap_matches_layout);
	tcase_add_test(tc, boots_tiny_guest_to_reset);
	tcase_add_test(tc, triple_fault_ends_guest);
	tcase_add_test(tc, emulation_failure_reports_registers);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

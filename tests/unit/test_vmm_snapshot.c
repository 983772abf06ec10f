/*
 * VM snapshot format and restore (microvm/snapshot*.c, vmm_snapshot.c): round trip of the state
 * format, every rejection of a bad state file, and a real-KVM snapshot of a tiny guest resumed in
 * new VMs. The KVM test skips (exit 77) without /dev/kvm unless CI=true.
 */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../microvm/boot_pvh.h"
#include "../../microvm/cpuid.h"
#include "../../microvm/mptable.h"
#include "../../microvm/vmm.h"

#define GUEST_LOAD 0x100000u
#define ELF_NOTE_OFF 0x200u
#define ELF_CODE_OFF 0x1000u
#define COUNTER_GPA 0x3000u

/*
 * Prints 'A', counts ECX to 1000 (stored at 0x3000), writes the snapshot stage 0x10 to port
 * 0x440, counts on to 2000, prints 'B', resets. A restored VM must print only "B" and end
 * with 2000 at 0x3000.
 */
static const uint8_t guest_count[] = {
    0x66, 0xba, 0xf8, 0x03, 0xb0, 'A',	0xee, 0x31, 0xc9, /* dx=COM1, 'A', ecx=0 */
    0x41, 0x89, 0x0d, 0x00, 0x30, 0x00, 0x00, 0x81, 0xf9, 0xe8, 0x03, 0x00, 0x00, 0x75,
    0xf1, 0xb0, 0x10, 0x66, 0xba, 0x40, 0x04, 0xee, /* out 0x10 -> 0x440 */
    0x41, 0x89, 0x0d, 0x00, 0x30, 0x00, 0x00, 0x81, 0xf9, 0xd0, 0x07, 0x00, 0x00, 0x75,
    0xf1, 0x66, 0xba, 0xf8, 0x03, 0xb0, 'B',  0xee, 0xb0, 0xfe, 0xe6, 0x64, 0xf4, /* 'B', reset */
};

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

static size_t build_elf(uint8_t *img, const uint8_t *code, size_t len)
{
	memset(img, 0, ELF_CODE_OFF + len);
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
	uint8_t note[] = {4, 0, 0, 0, 4, 0, 0, 0, 18, 0, 0, 0, 'X', 'e', 'n', 0, 0, 0, 0x10, 0};
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

static char tmpdir[64];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_vmm_snapshot.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
	close(fd);
}

/* Boots the counting guest with the snapshot trigger on and writes the snapshot to dir. */
static void snapshot_guest(const char *dir)
{
	static uint8_t img[ELF_CODE_OFF + sizeof(guest_count)];
	static struct vmm v;
	struct sbx_err err = {0};
	struct pvh_boot boot = {0};
	char kpath[128], ipath[128];
	memset(&v, 0, sizeof(v));
	snprintf(kpath, sizeof(kpath), "%s/kernel", tmpdir);
	snprintf(ipath, sizeof(ipath), "%s/initrd", tmpdir);
	write_file(kpath, img, build_elf(img, guest_count, sizeof(guest_count)));
	write_file(ipath, "initrd", 6);
	ck_assert_int_eq(vm_create(&v.vm, 64ull << 20, &err), 0);
	ck_assert_int_eq(pvh_load_kernel(&v.vm.mem, kpath, &boot, &err), 0);
	ck_assert_int_eq(pvh_load_initrd(&v.vm.mem, ipath, &boot, &err), 0);
	ck_assert_int_eq(pvh_write_boot_info(&v.vm.mem, "x", &boot, &err), 0);
	ck_assert_int_eq(serial_create(&v.vm, -1, &v.serial, &err), 0);
	ck_assert_int_eq(legacy_create(&v.vm, -1, 0, &v.legacy, &err), 0);
	legacy_enable_snapshot_trigger(v.legacy);
	v.cpuid = cpuid_get_supported(v.vm.kvm_fd, &err);
	ck_assert_ptr_nonnull(v.cpuid);
	int r =
	    vcpu_create(&v.vm, 0, 1, v.cpuid, cpuid_host_is_emulated(), &boot, &v.vcpus[0], &err);
	ck_assert_msg(r == 0, "vcpu_create: %s", err.msg);
	v.nvcpus = 1;
	ck_assert_int_eq(vcpu_signals_init(&err), 0);
	ck_assert_int_eq(vcpu_start(&v.vcpus[0], &err), 0);
	ck_assert_int_eq(vm_wait_stop(&v.vm), VM_STOP_SNAPSHOT);
	vcpu_stop(&v.vcpus[0]);
	char tail[16];
	serial_tail(v.serial, tail, sizeof(tail));
	ck_assert_str_eq(tail, "A");
	r = vmm_snapshot_save(&v, dir, &err);
	ck_assert_msg(r == 0, "snapshot: %s", err.msg);
	vcpu_destroy(&v.vcpus[0]);
	serial_destroy(v.serial);
	legacy_destroy(v.legacy);
	free(v.cpuid);
	vm_destroy(&v.vm);
}

/* Restores dir into a new VM, runs it to its end; returns the serial output, checks memory. */
static void restore_guest(const char *dir, char *console, size_t len)
{
	static struct vmm v;
	struct sbx_err err = {0};
	struct vmm_opts o = {.restore = dir};
	memset(&v, 0, sizeof(v));
	int r = vmm_restore_begin(&v, &o, &err);
	ck_assert_msg(r == 0, "restore: %s", err.msg);
	ck_assert_int_eq(v.vm.mem.memfd, -1); /* MAP_PRIVATE of the memory file */
	ck_assert_int_eq(serial_create(&v.vm, -1, &v.serial, &err), 0);
	ck_assert_int_eq(legacy_create(&v.vm, -1, 0, &v.legacy, &err), 0);
	r = vmm_restore_finish(&v, &o, &err);
	ck_assert_msg(r == 0, "restore: %s", err.msg);
	ck_assert_int_eq(vcpu_signals_init(&err), 0);
	ck_assert_int_eq(vcpu_start(&v.vcpus[0], &err), 0);
	int st = vm_wait_stop(&v.vm);
	vcpu_stop(&v.vcpus[0]);
	ck_assert_msg(st == VM_EXIT_GUEST_ENDED, "status %d: %s", st, v.vm.stop_reason);
	uint32_t counter = 0;
	ck_assert_int_eq(guest_mem_read(&v.vm.mem, COUNTER_GPA, &counter, 4), 0);
	ck_assert_uint_eq(counter, 2000);
	serial_tail(v.serial, console, len);
	vcpu_destroy(&v.vcpus[0]);
	serial_destroy(v.serial);
	legacy_destroy(v.legacy);
	vm_destroy(&v.vm);
}

START_TEST(tiny_guest_continues_after_restore)
{
	skip_without_kvm();
	make_tmpdir();
	char dir[128], console[16];
	snprintf(dir, sizeof(dir), "%s/snap", tmpdir);
	snapshot_guest(dir);
	snapshot_guest(dir);	      /* replaces an existing snapshot dir atomically */
	for (int i = 0; i < 2; i++) { /* two VMs from one snapshot */
		restore_guest(dir, console, sizeof(console));
		ck_assert_str_eq(console, "B");
	}
	struct stat st;
	char mem[160];
	snprintf(mem, sizeof(mem), "%s/memory", dir);
	ck_assert_int_eq(stat(mem, &st), 0);
	ck_assert_int_eq(st.st_size, 64 << 20);
	ck_assert_int_lt(st.st_blocks * 512, 1 << 20); /* sparse: only the touched pages */
}
END_TEST

/* A state file: header + one section holding a u32, a u64 and a 16-byte blob. */
static uint8_t *encode_sample(size_t *len, uint32_t ncpus)
{
	struct snap_w w = {0};
	struct snap_info info = {
	    .ncpus = ncpus, .mem_size = 64ull << 20, .build_id = snap_build_id()};
	uint8_t *buf = NULL;
	size_t sec = snap_section_begin(&w, SNAP_TAG_SERIAL);
	snap_put_u32(&w, 7);
	snap_put_u64(&w, 1ull << 40);
	snap_put_blob(&w, "0123456789abcdef", 16);
	snap_section_end(&w, sec);
	struct sbx_err err = {0};
	ck_assert_int_eq(snap_encode(&info, &w, &buf, len, &err), 0);
	snap_w_free(&w);
	return buf;
}

/* Decodes and reads the sample back; returns 0 or the first error. */
static int decode_sample(const uint8_t *buf, size_t len, struct sbx_err *err)
{
	struct snap_info info;
	struct snap_rd r, s;
	uint32_t a = 0;
	uint64_t b = 0;
	char blob[16];
	int ret = snap_decode(buf, len, snap_build_id(), &info, &r, err);
	if (ret >= 0)
		ret = snap_section(&r, SNAP_TAG_SERIAL, "sample", &s, err);
	if (ret >= 0)
		ret = snap_get_u32(&s, &a, err);
	if (ret >= 0)
		ret = snap_get_u64(&s, &b, err);
	if (ret >= 0)
		ret = snap_get_blob(&s, blob, sizeof(blob), err);
	if (ret >= 0)
		ret = snap_end(&s, err);
	if (ret >= 0)
		ret = snap_end(&r, err);
	if (ret >= 0 && (a != 7 || b != 1ull << 40 || memcmp(blob, "0123456789abcdef", 16)))
		ret = -EINVAL;
	return ret;
}

static void expect_reject(const uint8_t *buf, size_t len, const char *msg)
{
	struct sbx_err err = {0};
	ck_assert_int_lt(decode_sample(buf, len, &err), 0);
	ck_assert_msg(strstr(err.msg, msg), "'%s' lacks '%s'", err.msg, msg);
}

START_TEST(format_round_trip)
{
	size_t len;
	uint8_t *buf = encode_sample(&len, 1);
	struct sbx_err err = {0};
	ck_assert_msg(decode_sample(buf, len, &err) == 0, "%s", err.msg);
	free(buf);
}
END_TEST

START_TEST(format_rejects_bad_files)
{
	size_t len;
	uint8_t *buf = encode_sample(&len, 1);
	uint8_t *bad = malloc(len);
	for (size_t cut = 0; cut < len; cut++) /* every truncation */
		ck_assert_int_lt(decode_sample(buf, cut, NULL), 0);
	memcpy(bad, buf, len);
	bad[0] ^= 1;
	expect_reject(bad, len, "bad magic");
	memcpy(bad, buf, len);
	bad[8] = 99; /* version */
	expect_reject(bad, len, "format version 99");
	memcpy(bad, buf, len);
	bad[32] ^= 1; /* build id */
	expect_reject(bad, len, "another sandbox-vmm build");
	memcpy(bad, buf, len);
	bad[len - 3] ^= 0x40; /* payload byte */
	expect_reject(bad, len, "checksum");
	expect_reject(buf, len - 1, "truncated");
	free(bad);
	free(buf);
}
END_TEST

/* Section framing: wrong tag, a length past the end, an oversized blob, stray bytes. */
START_TEST(reader_bounds_checks_lengths)
{
	struct sbx_err err = {0};
	uint8_t b[32] = {0};
	struct snap_rd r = {.p = b, .len = sizeof(b), .what = "t"}, s;
	uint32_t tag = SNAP_TAG_VM, big = 0xffffff00u;
	memcpy(b, &tag, 4);
	memcpy(b + 4, &big, 4);
	ck_assert_int_lt(snap_section(&r, SNAP_TAG_VCPU, "x", &s, &err), 0);
	r.off = 0;
	ck_assert_int_lt(snap_section(&r, SNAP_TAG_VM, "x", &s, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "truncated"));
	struct snap_rd blob = {.p = b + 4, .len = 28, .what = "t"};
	char out[8];
	ck_assert_int_lt(snap_get_blob(&blob, out, sizeof(out), &err), 0);
	struct snap_rd rest = {.p = b, .len = 4, .what = "t"};
	ck_assert_int_lt(snap_end(&rest, &err), 0);
}
END_TEST

/* A well-formed state for 4 vCPUs, restored with --cpus 1 or --memory 32: one clear error. */
START_TEST(restore_rejects_mismatched_config)
{
	make_tmpdir();
	size_t len;
	uint8_t *buf = encode_sample(&len, 4);
	char path[160];
	snprintf(path, sizeof(path), "%s/state", tmpdir);
	write_file(path, buf, len);
	free(buf);
	static struct vmm v;
	struct sbx_err err = {0};
	struct vmm_opts o = {.restore = tmpdir, .cpus = 1, .cpus_set = true};
	ck_assert_int_lt(vmm_restore_begin(&v, &o, &err), 0);
	ck_assert_msg(strstr(err.msg, "--cpus 1 does not match"), "%s", err.msg);
	free(v.snap_buf);
	memset(&v, 0, sizeof(v));
	o = (struct vmm_opts){.restore = tmpdir, .mem_mib = 32, .mem_set = true};
	ck_assert_int_lt(vmm_restore_begin(&v, &o, &err), 0);
	ck_assert_msg(strstr(err.msg, "--memory 32 does not match"), "%s", err.msg);
	free(v.snap_buf);
	memset(&v, 0, sizeof(v));
	o = (struct vmm_opts){.restore = tmpdir};
	ck_assert_int_lt(vmm_restore_begin(&v, &o, &err), 0); /* no memory file */
	ck_assert_msg(strstr(err.msg, "memory"), "%s", err.msg);
	free(v.snap_buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vmm_snapshot");
	TCase *tc = tcase_create("snapshot");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, format_round_trip);
	tcase_add_test(tc, format_rejects_bad_files);
	tcase_add_test(tc, reader_bounds_checks_lengths);
	tcase_add_test(tc, restore_rejects_mismatched_config);
	tcase_add_test(tc, tiny_guest_continues_after_restore);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * Host side of VM templates without a VM: the key (what changes it and what does not), the hash
 * cache, metadata, and the build/install/remove protocol driven by a fake VMM script that
 * "snapshots" (or fails) the way sandbox-vmm --snapshot-to does.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "../../shim/template.h"

static char tmp[64], root[128];
static struct template_spec spec;

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* A VMM that writes <snapshot-to>/memory and exits 0, or fails like the real one when
 * $FAKE_VMM_FAIL is set. */
static const char fake_vmm[] =
    "#!/bin/sh\n"
    "if [ -n \"$FAKE_VMM_FAIL\" ]; then echo 'sandbox-vmm: boom' >&2; exit 1; fi\n"
    "while [ $# -gt 0 ]; do\n"
    "  if [ \"$1\" = --snapshot-to ]; then mkdir \"$2.tmp\" && echo mem > \"$2.tmp/memory\" &&\n"
    "    mv \"$2.tmp\" \"$2\"; fi\n"
    "  shift\n"
    "done\n";

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/test-tmpl-key.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(root, sizeof(root), "%s/store", tmp);
	setenv("SANDBOX_TEMPLATE_DIR", root, 1);
	unsetenv("FAKE_VMM_FAIL");
	memset(&spec, 0, sizeof(spec));
	snprintf(spec.paths.vmm, PATH_MAX, "%s/vmm", tmp);
	snprintf(spec.paths.kernel, PATH_MAX, "%s/vmlinux", tmp);
	snprintf(spec.paths.initrd, PATH_MAX, "%s/initramfs", tmp);
	write_file(spec.paths.vmm, fake_vmm, 0755);
	write_file(spec.paths.kernel, "kernel v1", 0644);
	write_file(spec.paths.initrd, "agent v1", 0644);
	spec.cpus = 1;
	spec.memory_mib = 256;
	spec.sigfd = -1;
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

static void key_of(char key[TEMPLATE_KEY_HEX + 1])
{
	char cache[PATH_MAX];
	struct sbx_err err = {0};
	template_hash_cache(cache, sizeof(cache));
	mkdir(root, 0700);
	ck_assert_int_eq(template_key(cache, &spec, key, &err), 0);
	ck_assert(template_key_valid(key));
}

START_TEST(key_follows_inputs)
{
	char k0[65], k[65];
	key_of(k0);
	key_of(k);
	ck_assert_str_eq(k, k0); /* deterministic, and the cached hashes agree */
	spec.cpus = 2;
	key_of(k);
	ck_assert_str_ne(k, k0);
	spec.cpus = 1;
	spec.memory_mib = 512;
	key_of(k);
	ck_assert_str_ne(k, k0);
	spec.memory_mib = 256;
	/* Touching changes the stat (cache miss) but not the content: same key. */
	ck_assert_int_eq(utimes(spec.paths.initrd, NULL), 0);
	key_of(k);
	ck_assert_str_eq(k, k0);
	/* Same size, new content: the ctime differs, so the cache cannot hide it. */
	usleep(20 * 1000);
	write_file(spec.paths.initrd, "agent v2", 0644);
	key_of(k);
	ck_assert_str_ne(k, k0);
	write_file(spec.paths.initrd, "agent v1", 0644);
	write_file(spec.paths.kernel, "kernel v2", 0644);
	key_of(k);
	ck_assert_str_ne(k, k0);
	ck_assert(!template_key_valid("abc"));
	ck_assert(!template_key_valid(
	    "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
}
END_TEST

START_TEST(missing_input_is_named)
{
	char k[65], cache[PATH_MAX];
	struct sbx_err err = {0};
	unlink(spec.paths.kernel);
	template_hash_cache(cache, sizeof(cache));
	ck_assert_int_eq(template_key(cache, &spec, k, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "vmlinux"));
}
END_TEST

static int count_entries(const char *prefix)
{
	DIR *d = opendir(root);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	if (d)
		closedir(d);
	return n;
}

START_TEST(build_install_use_remove)
{
	struct template_ref t;
	struct sbx_err err = {0};
	ck_assert_int_eq(template_acquire(&spec, false, &t, &err), 0);
	ck_assert_int_ge(t.lock_fd, 0);
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/memory", t.snapshot);
	ck_assert_int_eq(access(path, R_OK), 0);
	struct template_meta m;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/%s", root, t.key);
	ck_assert_int_eq(template_meta_read(dir, &m, &err), 0);
	ck_assert_uint_eq(m.cpus, 1);
	ck_assert_uint_eq(m.memory_mib, 256);
	ck_assert_str_eq(m.kernel, spec.paths.kernel);
	template_release(&t);
	ck_assert_int_eq(count_entries(".build-"), 0);

	/* A failing rebuild leaves the old template as it was, and no build dir. */
	setenv("FAKE_VMM_FAIL", "1", 1);
	ck_assert_int_lt(template_build(&spec, t.key, true, false, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "sandbox-vmm: boom"));
	ck_assert_int_eq(access(path, R_OK), 0);
	ck_assert_int_eq(count_entries(".build-"), 0);
	unsetenv("FAKE_VMM_FAIL");
	/* A successful rebuild swaps it in whole. */
	ck_assert_int_eq(template_build(&spec, t.key, true, false, &err), 0);
	ck_assert_int_eq(access(path, R_OK), 0);
	ck_assert_int_eq(count_entries(".build-"), 0);

	ck_assert_int_eq(template_remove(t.key, &err), 0);
	ck_assert_int_eq(access(dir, F_OK), -1);
	ck_assert_int_eq(template_remove(t.key, &err), -ENOENT);
	ck_assert_int_eq(count_entries(".trash-"), 0);
}
END_TEST

START_TEST(stale_build_dirs_are_swept)
{
	char k[65], stale[PATH_MAX];
	struct sbx_err err = {0};
	key_of(k);
	snprintf(stale, sizeof(stale), "%s/.build-%.16s-dead00", root, k);
	ck_assert_int_eq(mkdir(stale, 0700), 0); /* a build killed earlier */
	ck_assert_int_eq(template_build(&spec, k, false, false, &err), 0);
	ck_assert_int_eq(count_entries(".build-"), 0);
}
END_TEST

START_TEST(vmm_without_snapshot_is_an_error)
{
	struct sbx_err err = {0};
	char k[65];
	write_file(spec.paths.vmm, "#!/bin/sh\nexit 0\n", 0755); /* "the guest shut down" */
	key_of(k);
	ck_assert_int_eq(template_build(&spec, k, false, false, &err), -EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "without a snapshot"));
	ck_assert_int_eq(count_entries(".build-"), 0);
	ck_assert_int_eq(count_entries(k), 1); /* only the lock file */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("template (host)");
	TCase *c = tcase_create("key+store");
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_test(c, key_follows_inputs);
	tcase_add_test(c, missing_input_is_named);
	tcase_add_test(c, build_install_use_remove);
	tcase_add_test(c, stale_build_dirs_are_swept);
	tcase_add_test(c, vmm_without_snapshot_is_an_error);
	suite_add_tcase(s, c);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

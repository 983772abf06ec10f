/* `sandbox run` argument parsing and --user resolution. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../shim/run_opts.h"
#include "../../shim/user.h"

static int parse(struct run_opts *o, struct sbx_err *err, char **argv)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	return run_opts_parse(o, argc, argv, err);
}

START_TEST(test_full_command_line)
{
	struct run_opts o;
	struct sbx_err err = {0};
	char *argv[] = {"run", "--rootfs",   "/r",  "--cpus", "2",  "-m", "1G",	      "-t",
			"-i",  "-e",	     "A=1", "--env",  "B=", "-w", "/w",	      "-u",
			"1:2", "--hostname", "h",   "--",     "ls", "-l", "--rootfs", NULL};
	ck_assert_int_eq(parse(&o, &err, argv), 0);
	ck_assert_str_eq(o.rootfs, "/r");
	ck_assert_uint_eq(o.cpus, 2);
	ck_assert_uint_eq(o.memory_mib, 1024);
	ck_assert(o.tty && o.interactive);
	ck_assert_uint_eq(o.n_env, 2);
	ck_assert_str_eq(o.env[1], "B=");
	ck_assert_str_eq(o.workdir, "/w");
	ck_assert_str_eq(o.user, "1:2");
	ck_assert_int_eq(o.argc, 3);
	ck_assert_str_eq(o.argv[0], "ls");
	ck_assert_str_eq(o.argv[2], "--rootfs"); /* the command's own args are left alone */
}
END_TEST

START_TEST(test_defaults_and_command_without_dashes)
{
	struct run_opts o;
	struct sbx_err err = {0};
	char *argv[] = {"run", "--rootfs", "/r", "echo", "-n", "hi", NULL};
	ck_assert_int_eq(parse(&o, &err, argv), 0);
	ck_assert_uint_eq(o.cpus, RUN_DEFAULT_CPUS);
	ck_assert_uint_eq(o.memory_mib, RUN_DEFAULT_MEMORY_MIB);
	ck_assert_int_eq(o.argc, 3);
	ck_assert_str_eq(o.argv[1], "-n");
}
END_TEST

/* docker's form: IMAGE then its optional CMD; the image's own options before it. */
START_TEST(test_image_form)
{
	struct run_opts o;
	struct sbx_err err = {0};
	char *argv[] = {"run", "--rm",	  "--root", "/s", "--entrypoint",
			"",    "busybox", "ls",	    "-l", NULL};
	ck_assert_int_eq(parse(&o, &err, argv), 0);
	ck_assert_ptr_null(o.rootfs);
	ck_assert_str_eq(o.image, "busybox");
	ck_assert_str_eq(o.store_root, "/s");
	ck_assert_str_eq(o.entrypoint, "");
	ck_assert(o.rm);
	ck_assert_int_eq(o.argc, 2);
	ck_assert_str_eq(o.argv[1], "-l");
	char *bare[] = {"run", "busybox", NULL};
	ck_assert_int_eq(parse(&o, &err, bare), 0);
	ck_assert_str_eq(o.image, "busybox");
	ck_assert_int_eq(o.argc, 0); /* the image's Entrypoint/Cmd decide */
	ck_assert_ptr_null(o.entrypoint);
}
END_TEST

/* -d/--name: the CMD's own -d is left alone; an empty name is refused. */
START_TEST(test_detach_options)
{
	struct run_opts o;
	struct sbx_err err = {0};
	char *argv[] = {"run", "-d", "--name", "web", "busybox", "sh", "-d", NULL};
	ck_assert_int_eq(parse(&o, &err, argv), 0);
	ck_assert(o.detach);
	ck_assert_str_eq(o.name, "web");
	ck_assert_str_eq(o.image, "busybox");
	ck_assert_int_eq(o.argc, 2);
	ck_assert_str_eq(o.argv[1], "-d");
	char *plain[] = {"run", "busybox", NULL};
	ck_assert_int_eq(parse(&o, &err, plain), 0);
	ck_assert(!o.detach && !o.name);
	char *empty[] = {"run", "-d", "--name", "", "busybox", NULL};
	ck_assert_int_lt(parse(&o, &err, empty), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "--name"));
}
END_TEST

START_TEST(test_rejections)
{
	struct {
		char *argv[8];
		const char *msg;
	} cases[] = {
	    {{"run", "--rootfs", "/r", NULL}, "no command"},
	    {{"run", NULL}, "no image given"},
	    {{"run", "--rootfs", "/r", "--entrypoint", "/x", "y", NULL}, "go with an IMAGE"},
	    {{"run", "--root", "", "busybox", NULL}, "--root"},
	    {{"run", "--rootfs", "/r", "--cpus", "0", "x", NULL}, "--cpus"},
	    {{"run", "--rootfs", "/r", "--cpus", "2x", "x", NULL}, "--cpus"},
	    {{"run", "--rootfs", "/r", "-m", "1T", "x", NULL}, "memory size"},
	    {{"run", "--rootfs", "/r", "-m", "10M", "x", NULL}, "out of range"},
	    {{"run", "--rootfs", "/r", "-m", "-5", "x", NULL}, "memory size"},
	    {{"run", "--rootfs", "/r", "-e", "NOEQUALS", "x", NULL}, "KEY=VALUE"},
	    {{"run", "--rootfs", "/r", "-e", "=v", "x", NULL}, "KEY=VALUE"},
	    {{"run", "--rootfs", "/r", "-w", "rel", "x", NULL}, "absolute"},
	    {{"run", "--rootfs", "/r", "--bogus", "x", NULL}, "--bogus"},
	    {{"run", "--rootfs", NULL}, "missing value"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run_opts o;
		struct sbx_err err = {0};
		ck_assert_msg(parse(&o, &err, cases[i].argv) < 0, "case %zu accepted", i);
		ck_assert_msg(strstr(err.msg, cases[i].msg), "case %zu: '%s' lacks '%s'", i,
			      err.msg, cases[i].msg);
	}
}
END_TEST

START_TEST(test_memory_sizes)
{
	struct sbx_err err;
	unsigned m;
	ck_assert_int_eq(parse_memory_mib("512", &m, &err), 0);
	ck_assert_uint_eq(m, 512);
	ck_assert_int_eq(parse_memory_mib("2g", &m, &err), 0);
	ck_assert_uint_eq(m, 2048);
	ck_assert_int_eq(parse_memory_mib("131072k", &m, &err), 0);
	ck_assert_uint_eq(m, 128);
	ck_assert_int_eq(parse_memory_mib("256MiB", &m, &err), 0);
	ck_assert_uint_eq(m, 256);
	ck_assert_int_lt(parse_memory_mib("", &m, &err), 0);
	ck_assert_int_lt(parse_memory_mib("99999999999999999999", &m, &err), 0);
}
END_TEST

START_TEST(test_user_resolution)
{
	char dir[] = "/tmp/sbx-user-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/etc", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/etc/passwd", dir);
	FILE *f = fopen(path, "w");
	fputs("root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1001:A:/home/alice:/bin/sh\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/etc/group", dir);
	f = fopen(path, "w");
	fputs("root:x:0:\nstaff:x:50:\n", f);
	fclose(f);

	struct resolved_user u;
	struct sbx_err err = {0};
	ck_assert_int_eq(user_resolve(dir, NULL, &u, &err), 0);
	ck_assert(u.uid == 0 && u.gid == 0 && !strcmp(u.home, "/root"));
	ck_assert_int_eq(user_resolve(dir, "alice", &u, &err), 0);
	ck_assert(u.uid == 1000 && u.gid == 1001 && !strcmp(u.home, "/home/alice"));
	ck_assert_int_eq(user_resolve(dir, "alice:staff", &u, &err), 0);
	ck_assert_uint_eq(u.gid, 50);
	ck_assert_int_eq(user_resolve(dir, "1000", &u, &err), 0);
	ck_assert(u.uid == 1000 && u.gid == 1001);
	ck_assert_int_eq(user_resolve(dir, "4242:7", &u, &err), 0);
	ck_assert(u.uid == 4242 && u.gid == 7 && !strcmp(u.home, "/"));
	ck_assert_int_lt(user_resolve(dir, "bob", &u, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "bob"));
	ck_assert_int_lt(user_resolve(dir, "alice:nogroup", &u, &err), 0);
	ck_assert_int_lt(user_resolve(dir, "1:", &u, &err), 0);
	ck_assert_int_lt(user_resolve(dir, ":1", &u, &err), 0);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("run_opts");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_full_command_line);
	tcase_add_test(tc, test_defaults_and_command_without_dashes);
	tcase_add_test(tc, test_image_form);
	tcase_add_test(tc, test_detach_options);
	tcase_add_test(tc, test_rejections);
	tcase_add_test(tc, test_memory_sizes);
	tcase_add_test(tc, test_user_resolution);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

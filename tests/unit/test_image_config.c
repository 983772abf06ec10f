/* Image config parsing and docker's override rules for Entrypoint, Cmd, Env, WorkingDir, User. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "../../shim/image_config.h"

static const char full[] =
    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
    "\"Entrypoint\":[\"/bin/ep\",\"--flag\"],\"Cmd\":[\"default\",\"args\"],"
    "\"Env\":[\"PATH=/opt/bin:/bin\",\"FOO=image\",\"KEEP=1\"],"
    "\"WorkingDir\":\"/srv\",\"User\":\"daemon:daemon\",\"Labels\":{\"a\":\"b\"}},"
    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"history\":[{\"created_by\":\"x\"}]}";

static void parse_ok(const char *json, struct image_config *c)
{
	struct sbx_err err = {0};
	int r = image_config_parse(json, strlen(json), c, &err);
	ck_assert_msg(r == 0, "parse failed: %s", err.msg);
}

static void assert_argv(const struct image_process *p, const char *const *want)
{
	size_t n = 0;
	while (want[n])
		n++;
	ck_assert_uint_eq(p->argc, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(p->argv[i], want[i]);
	ck_assert_ptr_null(p->argv[n]);
}

START_TEST(test_parse_all_fields)
{
	struct image_config c;
	parse_ok(full, &c);
	ck_assert_uint_eq(c.n_entrypoint, 2);
	ck_assert_str_eq(c.entrypoint[1], "--flag");
	ck_assert_uint_eq(c.n_cmd, 2);
	ck_assert_uint_eq(c.n_env, 3);
	ck_assert_str_eq(c.env[1], "FOO=image");
	ck_assert_str_eq(c.workdir, "/srv");
	ck_assert_str_eq(c.user, "daemon:daemon");
	image_config_free(&c);
}
END_TEST

START_TEST(test_image_defaults)
{
	struct image_config c;
	struct image_process p;
	struct sbx_err err = {0};
	parse_ok(full, &c);
	struct image_overrides o = {0};
	ck_assert_int_eq(image_config_apply(&c, &o, &p, &err), 0);
	assert_argv(&p, (const char *const[]){"/bin/ep", "--flag", "default", "args", NULL});
	ck_assert_uint_eq(p.n_env, 3);
	ck_assert_str_eq(p.workdir, "/srv");
	ck_assert_str_eq(p.user, "daemon:daemon");
	image_process_free(&p);
	image_config_free(&c);
}
END_TEST

START_TEST(test_overrides)
{
	struct image_config c;
	struct image_process p;
	struct sbx_err err = {0};
	parse_ok(full, &c);
	char *args[] = {"echo", "hi"};
	const char *env[] = {"FOO=cli", "NEW=2"};
	/* CMD args replace Cmd, keep Entrypoint. */
	struct image_overrides o = {
	    .args = args, .n_args = 2, .env = env, .n_env = 2, .workdir = "/tmp", .user = "1000"};
	ck_assert_int_eq(image_config_apply(&c, &o, &p, &err), 0);
	assert_argv(&p, (const char *const[]){"/bin/ep", "--flag", "echo", "hi", NULL});
	ck_assert_uint_eq(p.n_env, 4);
	ck_assert_str_eq(p.env[0], "PATH=/opt/bin:/bin");
	ck_assert_str_eq(p.env[1], "KEEP=1");
	ck_assert_str_eq(p.env[2], "FOO=cli");
	ck_assert_str_eq(p.env[3], "NEW=2");
	ck_assert_str_eq(p.workdir, "/tmp");
	ck_assert_str_eq(p.user, "1000");
	image_process_free(&p);
	/* --entrypoint drops the image's Cmd as well. */
	o = (struct image_overrides){.entrypoint = "/bin/sh"};
	ck_assert_int_eq(image_config_apply(&c, &o, &p, &err), 0);
	assert_argv(&p, (const char *const[]){"/bin/sh", NULL});
	image_process_free(&p);
	o.args = args;
	o.n_args = 2;
	ck_assert_int_eq(image_config_apply(&c, &o, &p, &err), 0);
	assert_argv(&p, (const char *const[]){"/bin/sh", "echo", "hi", NULL});
	image_process_free(&p);
	/* --entrypoint "" clears it: the args alone are the command. */
	o.entrypoint = "";
	ck_assert_int_eq(image_config_apply(&c, &o, &p, &err), 0);
	assert_argv(&p, (const char *const[]){"echo", "hi", NULL});
	image_process_free(&p);
	o.n_args = 0;
	ck_assert_int_lt(image_config_apply(&c, &o, &p, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "no command"));
	image_config_free(&c);
}
END_TEST

START_TEST(test_minimal_configs)
{
	static const char *docs[] = {
	    "{}",
	    "{\"config\":null}",
	    "{\"config\":{\"Entrypoint\":null,\"Cmd\":null,\"Env\":null,\"WorkingDir\":\"\"}}",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct image_config c;
		struct image_process p;
		struct sbx_err err = {0};
		parse_ok(docs[i], &c);
		struct image_overrides o = {0};
		ck_assert_int_lt(image_config_apply(&c, &o, &p, &err), 0);
		ck_assert_ptr_nonnull(strstr(err.msg, "no command"));
		char *args[] = {"true"};
		o.args = args;
		o.n_args = 1;
		ck_assert_int_eq(image_config_apply(&c, &o, &p, &err), 0);
		assert_argv(&p, (const char *const[]){"true", NULL});
		ck_assert_str_eq(p.workdir, "/");
		ck_assert_ptr_null(p.user);
		ck_assert_uint_eq(p.n_env, 0);
		image_process_free(&p);
		image_config_free(&c);
	}
	struct image_config c;
	parse_ok("{\"config\":{\"WorkingDir\":\"app\",\"Cmd\":[\"x\"]}}", &c);
	ck_assert_str_eq(c.workdir, "/app");
	image_config_free(&c);
}
END_TEST

START_TEST(test_rejections)
{
	static const struct {
		const char *json, *want;
	} bad[] = {
	    {"", "invalid JSON"},
	    {"[1,2]", "not a JSON object"},
	    {"{\"config\":\"sh\"}", "'config' is not an object"},
	    {"{\"config\":[\"sh\"]}", "'config' is not an object"},
	    {"{\"config\":{\"Cmd\":[\"a\",1]}}", "config.Cmd[1] is not a string"},
	    {"{\"config\":{\"Entrypoint\":[{}]}}", "config.Entrypoint[0]"},
	    {"{\"config\":{\"Env\":[\"NOEQUALS\"]}}", "not KEY=VALUE"},
	    {"{\"config\":{\"Env\":[\"=v\"]}}", "not KEY=VALUE"},
	    {"{\"config\":{\"Cmd\":[\"a\"]", "invalid JSON"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct image_config c;
		struct sbx_err err = {0};
		ck_assert_int_lt(image_config_parse(bad[i].json, strlen(bad[i].json), &c, &err), 0);
		ck_assert_msg(strstr(err.msg, bad[i].want), "'%s': error '%s' lacks '%s'",
			      bad[i].json, err.msg, bad[i].want);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("image_config");
	TCase *tc = tcase_create("config");
	tcase_add_test(tc, test_parse_all_fields);
	tcase_add_test(tc, test_image_defaults);
	tcase_add_test(tc, test_overrides);
	tcase_add_test(tc, test_minimal_configs);
	tcase_add_test(tc, test_rejections);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

/* `sandbox run` network options: -p and --network (shim/net_bridge.c, shim/run_opts.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../shim/net_bridge.h"
#include "../../shim/run_opts.h"

START_TEST(publish_forms)
{
	struct net_publish p;
	struct sbx_err err = {0};
	ck_assert_int_eq(net_publish_parse("8080:80", &p, &err), 0);
	ck_assert_uint_eq(p.host_port, 8080);
	ck_assert_uint_eq(p.guest_port, 80);
	ck_assert(!p.udp);
	ck_assert_int_eq(net_publish_parse("53:5353/udp", &p, &err), 0);
	ck_assert(p.udp);
	ck_assert_uint_eq(p.guest_port, 5353);
	ck_assert_int_eq(net_publish_parse("1:65535/tcp", &p, &err), 0);
	const char *bad[] = {
	    "80",	"0:80", "80:0",	 "65536:80",	  ":80",   "80:",     "8080:80/sctp",
	    "8080:80/", "a:80", "80:8x", "1.2.3.4:80:80", "-1:80", "8080:80 "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(net_publish_parse(bad[i], &p, &err) < 0, "'%s' accepted", bad[i]);
		ck_assert_ptr_nonnull(strstr(err.msg, bad[i]));
	}
}
END_TEST

static int parse(struct run_opts *o, struct sbx_err *err, int argc, char **argv)
{
	return run_opts_parse(o, argc, argv, err);
}

START_TEST(run_network_options)
{
	struct run_opts o;
	struct sbx_err err = {0};
	char *a1[] = {"run", "-p", "8080:80", "--publish", "9000:90/udp", "--rootfs", "/r", "true"};
	ck_assert_int_eq(parse(&o, &err, 8, a1), 0);
	ck_assert_uint_eq(o.n_publish, 2);
	ck_assert(o.publish[1].udp);
	ck_assert(!o.network_none && !o.netns);
	char *a2[] = {"run", "--network", "none", "--rootfs", "/r", "true"};
	ck_assert_int_eq(parse(&o, &err, 6, a2), 0);
	ck_assert(o.network_none);
	char *a3[] = {"run", "--network", "ns:/var/run/netns/x", "--rootfs", "/r", "true"};
	ck_assert_int_eq(parse(&o, &err, 6, a3), 0);
	ck_assert_str_eq(o.netns, "/var/run/netns/x");
	char *b1[] = {"run", "--network", "none", "-p", "80:80", "--rootfs", "/r", "true"};
	ck_assert_int_lt(parse(&o, &err, 8, b1), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "-p"));
	char *b2[] = {"run", "--network", "bridge", "--rootfs", "/r", "true"};
	ck_assert_int_lt(parse(&o, &err, 6, b2), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "bridge"));
	char *b3[] = {"run", "--network", "ns:relative", "--rootfs", "/r", "true"};
	ck_assert_int_lt(parse(&o, &err, 6, b3), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net_opts");
	TCase *c = tcase_create("opts");
	tcase_add_test(c, publish_forms);
	tcase_add_test(c, run_network_options);
	suite_add_tcase(s, c);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* RUN's network entries (common/proto_net.c and the NET/RESOLV_CONF/HOSTS tags of proto.c). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/proto.h"

static struct sbx_net_cfg sample(void)
{
	struct sbx_net_cfg c = {.present = true,
				.mac = {0x02, 0x42, 10, 213, 0, 5},
				.mtu = 1500,
				.addr = {10, 213, 0, 5},
				.prefix = 16,
				.n_routes = 2};
	c.routes[0] = (struct sbx_net_route){.prefix = 0, .gw = {10, 213, 0, 1}};
	c.routes[1] = (struct sbx_net_route){.dst = {192, 168, 7, 0}, .prefix = 24};
	return c;
}

START_TEST(run_round_trip)
{
	char *argv[] = {"true", NULL};
	struct sbx_run_req req = {.argv = argv,
				  .argc = 1,
				  .net = sample(),
				  .resolv_conf = "nameserver 10.0.0.1\n",
				  .hosts = "127.0.0.1\tlocalhost\n"};
	uint8_t *buf = NULL;
	size_t len = 0;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_encode(&req, &buf, &len, &err), 0);
	struct sbx_run_req out;
	ck_assert_msg(sbx_run_decode(buf, len, &out, &err) == 0, "%s", err.msg);
	ck_assert(out.net.present);
	ck_assert_mem_eq(out.net.mac, req.net.mac, 6);
	ck_assert_uint_eq(out.net.mtu, 1500);
	ck_assert_mem_eq(out.net.addr, req.net.addr, 4);
	ck_assert_uint_eq(out.net.prefix, 16);
	ck_assert_uint_eq(out.net.n_routes, 2);
	ck_assert_mem_eq(out.net.routes[0].gw, req.net.routes[0].gw, 4);
	ck_assert_uint_eq(out.net.routes[1].prefix, 24);
	ck_assert_str_eq(out.resolv_conf, req.resolv_conf);
	ck_assert_str_eq(out.hosts, req.hosts);
	sbx_run_req_free(&out);
	free(buf);
}
END_TEST

START_TEST(absent_means_no_network)
{
	char *argv[] = {"true", NULL};
	struct sbx_run_req req = {.argv = argv, .argc = 1};
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(sbx_run_encode(&req, &buf, &len, NULL), 0);
	struct sbx_run_req out;
	ck_assert_int_eq(sbx_run_decode(buf, len, &out, NULL), 0);
	ck_assert(!out.net.present);
	ck_assert_ptr_null(out.resolv_conf);
	ck_assert_ptr_null(out.hosts);
	sbx_run_req_free(&out);
	free(buf);
}
END_TEST

/* Each corruption of a valid value is rejected, naming the field. */
START_TEST(malformed_rejected)
{
	struct sbx_net_cfg c = sample();
	uint8_t good[SBX_NET_MAX_SIZE], v[SBX_NET_MAX_SIZE + 4];
	size_t n = sbx_net_encode(&c, good);
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_net_decode(good, n, NULL, &err), 0);
	struct {
		size_t off;
		uint8_t val;
		const char *what;
	} bad[] = {{0, 0x01, "multicast"},     {6, 1, "reserved"},  {8, 10, "MTU"},
		   {16, 0, "prefix"},	       {16, 33, "prefix"},  {17, 3, "routes"},
		   {17, 200, "routes"},	       {18, 1, "reserved"}, {20 + 4, 33, "route 0"},
		   {20 + 12 + 6, 1, "route 1"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(v, good, n);
		v[bad[i].off] = bad[i].val;
		if (bad[i].off == 8) /* MTU 10: below 68 */
			v[9] = v[10] = v[11] = 0;
		ck_assert_msg(sbx_net_decode(v, n, NULL, &err) == -EPROTO, "case %zu accepted", i);
		ck_assert_msg(strstr(err.msg, bad[i].what), "case %zu: %s", i, err.msg);
	}
	ck_assert_int_eq(sbx_net_decode(good, n - 1, NULL, &err), -EPROTO);
	ck_assert_int_eq(sbx_net_decode(good, 10, NULL, &err), -EPROTO);
	/* Inside a RUN payload: a bad NET entry fails the whole decode. */
	char *argv[] = {"true", NULL};
	struct sbx_run_req req = {.argv = argv, .argc = 1, .net = c};
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(sbx_run_encode(&req, &buf, &len, NULL), 0);
	uint8_t *mac = memmem(buf, len, c.mac, 6);
	ck_assert_ptr_nonnull(mac);
	mac[0] = 0xff;
	struct sbx_run_req out;
	ck_assert_int_eq(sbx_run_decode(buf, len, &out, &err), -EPROTO);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proto_net");
	TCase *c = tcase_create("net");
	tcase_add_test(c, run_round_trip);
	tcase_add_test(c, absent_means_no_network);
	tcase_add_test(c, malformed_rejected);
	suite_add_tcase(s, c);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

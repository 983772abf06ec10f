/*
 * OCI root and mounts to virtio-fs shares (shim/oci_mounts.c) and the MOUNT wire forms they use
 * (common/proto.c): real host files and directories in a temp dir, a real config.json parse.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/proto.h"
#include "../../shim/oci_mounts.h"
#include "../../shim/oci_spec.h"

static char dir[] = "/tmp/sandbox-test-oci-mounts.XXXXXX";
static char path_buf[8][512];

static const char *p(int i, const char *name)
{
	snprintf(path_buf[i], sizeof(path_buf[i]), "%s/%s", dir, name);
	return path_buf[i];
}

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	const char *dirs[] = {"root", "ud", "vol", "a", "b", "c", "d"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		ck_assert_int_eq(mkdir(p(0, dirs[i]), 0755), 0);
	FILE *f = fopen(p(0, "ud/hosts"), "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	f = fopen(p(0, "ud/hostname"), "w");
	fclose(f);
}

static void teardown(void)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* config.json with root "root" (readonly as given) and the mounts JSON. */
static int plan(const char *mounts, bool ro, struct oci_mount_plan *out, struct oci_spec *s,
		struct sbx_err *err)
{
	char doc[8192];
	snprintf(doc, sizeof(doc),
		 "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"true\"],\"cwd\":\"/\"},"
		 "\"root\":{\"path\":\"root\",\"readonly\":%s},\"mounts\":[%s]}",
		 ro ? "true" : "false", mounts);
	ck_assert_msg(oci_spec_parse(doc, strlen(doc), s, err) == 0, "%s", err->msg);
	return oci_mounts_plan(s, p(7, "root"), out, err);
}

START_TEST(podman_like_mounts_share_each_directory_once)
{
	char m[4096];
	snprintf(m, sizeof(m),
		 "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
		 "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"},"
		 "{\"destination\":\"/"
		 "data\",\"type\":\"bind\",\"source\":\"%s\",\"options\":[\"rbind\"]},"
		 "{\"destination\":\"/etc/"
		 "hosts\",\"type\":\"bind\",\"source\":\"%s\",\"options\":[\"bind\"]},"
		 "{\"destination\":\"/etc/"
		 "hostname\",\"type\":\"bind\",\"source\":\"%s\",\"options\":[\"bind\",\"ro\"]},"
		 "{\"destination\":\"/dev/"
		 "shm\",\"type\":\"bind\",\"source\":\"%s\",\"options\":[\"bind\"]},"
		 "{\"destination\":\"/"
		 "tmp\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\",\"size="
		 "64m\",\"mode=1777\"]},"
		 "{\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\",\"source\":\"cgroup\","
		 "\"options\":[\"nosuid\",\"ro\"]}",
		 p(1, "vol"), p(2, "ud/hosts"), p(3, "ud/hostname"), p(4, "d"));
	struct oci_mount_plan *pl = calloc(1, sizeof(*pl));
	struct oci_spec s = {0};
	struct sbx_err err = {0};
	ck_assert_msg(plan(m, false, pl, &s, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(pl->n_shares, 3); /* root, vol, ud: /dev/shm is the guest's */
	ck_assert_str_eq(pl->shares[0].host, p(0, "root"));
	ck_assert_str_eq(pl->shares[1].host, p(0, "vol"));
	ck_assert_str_eq(pl->shares[2].host, p(0, "ud"));
	ck_assert(!pl->shares[2].ro); /* hosts is rw: the share stays writable */
	ck_assert_str_eq(pl->root, "rw:sbxfs0");
	ck_assert_uint_eq(pl->n_mounts, 5);
	ck_assert_str_eq(pl->mounts[0].tag, "sbxfs1");
	ck_assert_ptr_null(pl->mounts[0].subpath);
	ck_assert_str_eq(pl->mounts[1].tag, "sbxfs2");
	ck_assert_str_eq(pl->mounts[1].subpath, "hosts");
	ck_assert_str_eq(pl->mounts[2].subpath, "hostname");
	ck_assert(pl->mounts[2].ro);
	ck_assert_str_eq(pl->mounts[3].tag, SBX_MOUNT_TMPFS);
	ck_assert_str_eq(pl->mounts[3].subpath, "size=64m,mode=1777");
	ck_assert_str_eq(pl->mounts[3].target, "/tmp");
	ck_assert_str_eq(pl->mounts[4].tag, SBX_MOUNT_CGROUP); /* the guest's cgroup2, read-only */
	ck_assert_str_eq(pl->mounts[4].target, "/sys/fs/cgroup");
	ck_assert(pl->mounts[4].ro);

	/* Through the wire and back. */
	char *argv[] = {"true", NULL};
	struct sbx_run_req req = {
	    .argv = argv, .argc = 1, .rootfs = pl->root, .rootfs_type = "virtiofs"};
	memcpy(req.mounts, pl->mounts, pl->n_mounts * sizeof(req.mounts[0]));
	req.n_mounts = pl->n_mounts;
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_msg(sbx_run_encode(&req, &buf, &len, &err) == 0, "%s", err.msg);
	struct sbx_run_req out;
	ck_assert_msg(sbx_run_decode(buf, len, &out, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(out.rootfs, "rw:sbxfs0");
	ck_assert_str_eq(out.mounts[1].tag, "sbxfs2");
	ck_assert_str_eq(out.mounts[1].subpath, "hosts");
	ck_assert_str_eq(out.mounts[1].target, "/etc/hosts");
	ck_assert_ptr_null(out.mounts[0].subpath);
	ck_assert_str_eq(out.mounts[3].subpath, "size=64m,mode=1777");
	ck_assert_str_eq(out.mounts[4].tag, SBX_MOUNT_CGROUP);
	ck_assert(out.mounts[4].ro);
	sbx_run_req_free(&out);
	free(buf);
	oci_spec_free(&s);
	free(pl);
}
END_TEST

START_TEST(readonly_root_and_ro_only_share)
{
	char m[1024];
	snprintf(
	    m, sizeof(m),
	    "{\"destination\":\"/v\",\"type\":\"bind\",\"source\":\"%s\",\"options\":[\"ro\"]}",
	    p(1, "vol"));
	struct oci_mount_plan *pl = calloc(1, sizeof(*pl));
	struct oci_spec s = {0};
	struct sbx_err err = {0};
	ck_assert_msg(plan(m, true, pl, &s, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(pl->root, "ro:sbxfs0");
	ck_assert(pl->shares[0].ro);
	ck_assert(pl->shares[1].ro);
	oci_spec_free(&s);
	free(pl);
}
END_TEST

static int plan_err(const char *mounts, char *msg, size_t cap)
{
	struct oci_mount_plan *pl = calloc(1, sizeof(*pl));
	struct oci_spec s = {0};
	struct sbx_err err = {0};
	int r = plan(mounts, false, pl, &s, &err);
	snprintf(msg, cap, "%s", err.msg);
	oci_spec_free(&s);
	free(pl);
	return r;
}

START_TEST(refuses_with_a_named_reason)
{
	char m[4096], msg[600];
	/* root + 4 directories: one too many for the 4 slots. */
	snprintf(m, sizeof(m),
		 "{\"destination\":\"/a\",\"type\":\"bind\",\"source\":\"%s\"},"
		 "{\"destination\":\"/b\",\"type\":\"bind\",\"source\":\"%s\"},"
		 "{\"destination\":\"/c\",\"type\":\"bind\",\"source\":\"%s\"},"
		 "{\"destination\":\"/d\",\"type\":\"bind\",\"source\":\"%s\"}",
		 p(1, "a"), p(2, "b"), p(3, "c"), p(4, "d"));
	ck_assert_int_eq(plan_err(m, msg, sizeof(msg)), -E2BIG);
	ck_assert_msg(strstr(msg, "'/d'") && strstr(msg, "distinct host directories"), "%s", msg);
	snprintf(m, sizeof(m),
		 "{\"destination\":\"/n\",\"type\":\"bind\",\"source\":\"/dev/null\"}");
	ck_assert_int_eq(plan_err(m, msg, sizeof(msg)), -EINVAL);
	ck_assert_msg(strstr(msg, "/dev/null") != NULL, "%s", msg);
	snprintf(m, sizeof(m), "{\"destination\":\"/x\",\"type\":\"bind\",\"source\":\"%s\"}",
		 p(1, "missing"));
	ck_assert_int_eq(plan_err(m, msg, sizeof(msg)), -ENOENT);
	ck_assert_msg(strstr(msg, "missing") != NULL, "%s", msg);
	snprintf(m, sizeof(m), "{\"destination\":\"/x/../y\",\"type\":\"tmpfs\"}");
	ck_assert_int_eq(plan_err(m, msg, sizeof(msg)), -EINVAL);
	snprintf(m, sizeof(m), "{\"destination\":\"/x\",\"type\":\"nfs\",\"source\":\"h:/e\"}");
	ck_assert_int_eq(plan_err(m, msg, sizeof(msg)), -EINVAL);
	ck_assert_msg(strstr(msg, "nfs") != NULL, "%s", msg);
}
END_TEST

/* A hand-made RUN with one ARG and one MOUNT entry of the given value. */
static int decode_mount(const char *value)
{
	uint8_t buf[256];
	size_t vl = strlen(value);
	uint8_t arg[] = {1, 0, 0, 0, 4, 0, 0, 0, 't', 'r', 'u', 'e'};
	memcpy(buf, arg, sizeof(arg));
	uint8_t hdr[8] = {SBX_RUN_MOUNT, 0, 0, 0, (uint8_t)vl, 0, 0, 0};
	memcpy(buf + sizeof(arg), hdr, 8);
	memcpy(buf + sizeof(arg) + 8, value, vl);
	struct sbx_run_req req;
	struct sbx_err err = {0};
	int r = sbx_run_decode(buf, sizeof(arg) + 8 + vl, &req, &err);
	if (r == 0)
		sbx_run_req_free(&req);
	return r;
}

START_TEST(decode_checks_the_file_name)
{
	ck_assert_int_eq(decode_mount("rw:t/hosts:/etc/hosts"), 0);
	ck_assert_int_eq(decode_mount("rw:t/:/x"), -EPROTO);
	ck_assert_int_eq(decode_mount("rw:t/..:/x"), -EPROTO);
	ck_assert_int_eq(decode_mount("rw:t/.:/x"), -EPROTO);
	ck_assert_int_eq(decode_mount("rw:t/a/b:/x"), -EPROTO);
	ck_assert_int_eq(decode_mount("rw:/a:/x"), -EPROTO);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("oci_mounts");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, podman_like_mounts_share_each_directory_once);
	tcase_add_test(tc, readonly_root_and_ro_only_share);
	tcase_add_test(tc, refuses_with_a_named_reason);
	tcase_add_test(tc, decode_checks_the_file_name);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

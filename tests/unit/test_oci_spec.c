/* config.json parsing (shim/oci_spec.c): a full document, the defaults, and every kind of bad one.
 */
#include <check.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../shim/oci_log.h"
#include "../../shim/oci_spec.h"
#include "../../shim/oci_state.h"

int oci_parse_signal(const char *s); /* shim/oci_cmd_ctl.c */

static const char full_doc[] =
    "{\"ociVersion\": \"1.0.2\","
    " \"process\": {\"terminal\": true, \"consoleSize\": {\"height\": 40, \"width\": 100},"
    "  \"user\": {\"uid\": 1000, \"gid\": 1001, \"additionalGids\": [5, 6], \"umask\": 18},"
    "  \"args\": [\"sh\", \"-c\", \"echo hi\"], \"env\": [\"PATH=/bin\", \"A=b=c\"],"
    "  \"cwd\": \"/work\", \"capabilities\": {\"bounding\": [\"CAP_KILL\"]},"
    "  \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 1024, \"hard\": 4096}],"
    "  \"noNewPrivileges\": true, \"oomScoreAdj\": -500, \"futureField\": 1},"
    " \"root\": {\"path\": \"rootfs\", \"readonly\": true},"
    " \"hostname\": \"box\", \"domainname\": \"example\","
    " \"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},"
    "   {\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"/srv\", \"options\": "
    "[\"rbind\", \"ro\"]}],"
    " \"hooks\": {\"prestart\": [{\"path\": \"/bin/true\", \"args\": [\"true\", \"x\"], "
    "\"timeout\": 5}],"
    "   \"poststop\": [{\"path\": \"/bin/echo\"}]},"
    " \"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\", \"path\": "
    "\"/run/netns/x\"}],"
    "   \"resources\": {\"memory\": {\"limit\": 536870912}, \"cpu\": {\"quota\": 150000, "
    "\"period\": 100000},"
    "     \"pids\": {\"limit\": 100}},"
    "   \"seccomp\": {\"defaultAction\": \"SCMP_ACT_ERRNO\"}, \"maskedPaths\": [\"/proc/kcore\"],"
    "   \"readonlyPaths\": [\"/proc/sys\"], \"sysctl\": {\"net.ipv4.ip_forward\": \"1\"}},"
    " \"annotations\": {\"io.sandbox.vcpus\": \"2\", \"io.sandbox.memory\": \"512M\", \"x\": "
    "\"y\"}}";

START_TEST(test_full_document)
{
	struct oci_spec s;
	struct sbx_err err = {0};
	ck_assert_msg(oci_spec_parse(full_doc, strlen(full_doc), &s, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(s.oci_version, "1.0.2");
	ck_assert(s.process.terminal);
	ck_assert_uint_eq(s.process.console_rows, 40);
	ck_assert_uint_eq(s.process.console_cols, 100);
	ck_assert_uint_eq(s.process.uid, 1000);
	ck_assert_uint_eq(s.process.gid, 1001);
	ck_assert_uint_eq(s.process.n_add_gids, 2);
	ck_assert_uint_eq(s.process.add_gids[1], 6);
	ck_assert(s.process.has_umask && s.process.umask == 18);
	ck_assert_uint_eq(s.process.n_args, 3);
	ck_assert_str_eq(s.process.args[2], "echo hi");
	ck_assert_ptr_null(s.process.args[3]);
	ck_assert_str_eq(s.process.env[1], "A=b=c");
	ck_assert_str_eq(s.process.cwd, "/work");
	ck_assert_str_eq(s.process.caps_bounding[0], "CAP_KILL");
	ck_assert_str_eq(s.process.rlimits[0].type, "RLIMIT_NOFILE");
	ck_assert_uint_eq(s.process.rlimits[0].hard, 4096);
	ck_assert(s.process.no_new_privileges);
	ck_assert_int_eq(s.process.oom_score_adj, -500);
	ck_assert_str_eq(s.root_path, "rootfs");
	ck_assert(s.root_readonly);
	ck_assert_str_eq(s.hostname, "box");
	ck_assert_uint_eq(s.n_mounts, 2);
	ck_assert_str_eq(s.mounts[1].type, "bind");
	ck_assert_str_eq(s.mounts[1].options[1], "ro");
	ck_assert_uint_eq(s.hooks[OCI_HOOK_PRESTART].n, 1);
	ck_assert_int_eq(s.hooks[OCI_HOOK_PRESTART].v[0].timeout, 5);
	ck_assert_str_eq(s.hooks[OCI_HOOK_POSTSTOP].v[0].path, "/bin/echo");
	ck_assert_uint_eq(s.n_namespaces, 2);
	ck_assert_str_eq(s.namespaces[1].path, "/run/netns/x");
	ck_assert_int_eq(s.resources.memory_limit, 536870912);
	ck_assert_uint_eq(s.resources.cpu_quota, 150000);
	ck_assert_int_eq(s.resources.pids_limit, 100);
	ck_assert(s.has_seccomp);
	ck_assert_str_eq(s.sysctl[0].key, "net.ipv4.ip_forward");
	ck_assert_uint_eq(s.n_annotations, 3);
	ck_assert_uint_eq(s.vcpus, 2);
	ck_assert_uint_eq(s.memory_mib, 512);
	oci_spec_free(&s);
}
END_TEST

START_TEST(test_minimal_document_defaults)
{
	const char *doc = "{\"ociVersion\":\"1.1.0\",\"root\":{\"path\":\"/r\"},"
			  "\"process\":{\"args\":[\"true\"],\"cwd\":\"/\"}}";
	struct oci_spec s;
	struct sbx_err err = {0};
	ck_assert_msg(oci_spec_parse(doc, strlen(doc), &s, &err) == 0, "%s", err.msg);
	ck_assert(!s.process.terminal && !s.root_readonly);
	ck_assert_uint_eq(s.process.uid, 0);
	ck_assert_uint_eq(s.process.n_env, 0);
	ck_assert_ptr_null(s.hostname);
	ck_assert_uint_eq(s.vcpus, 0);
	oci_spec_free(&s);
}
END_TEST

/* Each bad document and the words its one-line error must contain (the JSON path first). */
static const struct {
	const char *doc, *want;
} bad_docs[] = {
    {"{bad", "invalid JSON"},
    {"[]", "expected a JSON object"},
    {"{\"root\":{\"path\":\"/r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"}}",
     "ociVersion: missing"},
    {"{\"ociVersion\":\"2.0.0\",\"root\":{\"path\":\"/"
     "r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"}}",
     "not a 1.x"},
    {"{\"ociVersion\":\"1.0.0\",\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"}}", "root: missing"},
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/"
     "\"}}",
     "root.path: missing"},
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/r\"}}", "process: missing"},
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/"
     "r\"},\"process\":{\"args\":[\"a\",\"b\",3],\"cwd\":\"/\"}}",
     "process.args[2]: expected string"},
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/r\"},\"process\":{\"args\":[],\"cwd\":\"/"
     "\"}}",
     "process.args: must not be empty"},
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/"
     "r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"rel\"}}",
     "process.cwd: must be an absolute path"},
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/"
     "r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\","
     "\"user\":{\"uid\":-1}}}",
     "process.user.uid: -1 is out of range"},
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/"
     "r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\","
     "\"terminal\":\"yes\"}}",
     "process.terminal: expected boolean"},
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/"
     "r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\","
     "\"env\":[\"NOEQUALS\"]}}",
     "process.env[0]: expected KEY=VALUE"},
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/"
     "r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"},"
     "\"mounts\":[{\"destination\":\"rel\"}]}",
     "mounts[0].destination: must be an absolute path"},
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/"
     "r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"},"
     "\"linux\":{\"namespaces\":[{\"type\":\"bogus\"}]}}",
     "linux.namespaces[0].type: unknown namespace type 'bogus'"},
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/"
     "r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"},"
     "\"linux\":{\"resources\":{\"memory\":{\"limit\":\"1G\"}}}}",
     "linux.resources.memory.limit: expected integer"},
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/"
     "r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"},"
     "\"hooks\":{\"prestart\":[{\"path\":\"relative\"}]}}",
     "hooks.prestart[0].path: must be an absolute path"},
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/"
     "r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"},"
     "\"annotations\":{\"io.sandbox.vcpus\":\"99\"}}",
     "annotations.io.sandbox.vcpus"},
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/"
     "r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"},"
     "\"annotations\":{\"k\":1}}",
     "annotations.k: expected string"},
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/"
     "r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"},"
     "\"domainname\":\"ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd\"}",
     "domainname: longer than 64 bytes"},
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/"
     "r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"},"
     "\"hooks\":{\"startContainer\":[{\"path\":\"/h\",\"env\":[\"novalue\"]}]}}",
     "hooks.startContainer[0].env[0]: not KEY=VALUE"},
    /* fuzz_oci_spec: the key of a bad value leaked (tests/fuzz/corpus/fuzz_oci_spec/crash-*). */
    {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/"
     "r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"},"
     "\"linux\":{\"sysctl\":{\"a.b\":\"1\",\"defaultErrnoRet\":1}}}",
     "linux.sysctl.defaultErrnoRet: expected string"},
};

START_TEST(test_bad_documents)
{
	const char *doc = bad_docs[_i].doc;
	struct oci_spec s;
	struct sbx_err err = {0};
	ck_assert_int_lt(oci_spec_parse(doc, strlen(doc), &s, &err), 0);
	/* The document's name first: the readers also serve process.json (test_process_json). */
	ck_assert_msg(!strncmp(err.msg, "config.json: ", 13) && strstr(err.msg, bad_docs[_i].want),
		      "doc %d: error '%s' lacks '%s'", _i, err.msg, bad_docs[_i].want);
	ck_assert_ptr_null(strchr(err.msg, '\n'));
	/*
	 * A failed parse frees all it allocated. glibc's in-use count moves by a few dozen bytes
	 * while its per-thread caches fill (hence the warm-up and the slack); one leaked string
	 * per parse is at least a 32-byte chunk, 2 KiB over 64 parses.
	 */
	for (int k = 0; k < 64; k++)
		oci_spec_parse(doc, strlen(doc), &s, &err);
	size_t before = mallinfo2().uordblks;
	for (int k = 0; k < 64; k++)
		ck_assert_int_lt(oci_spec_parse(doc, strlen(doc), &s, &err), 0);
	size_t after = mallinfo2().uordblks;
	ck_assert_msg(after < before + 512, "doc %d: %zu bytes more in use after 64 parses", _i,
		      after - before);
}
END_TEST

START_TEST(test_nul_byte_and_size)
{
	struct oci_spec s;
	struct sbx_err err = {0};
	ck_assert_int_lt(oci_spec_parse("{\"a\"\0}", 6, &s, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "NUL"));
}
END_TEST

/* `exec --process FILE`: the same readers, errors that name process.json, a NUL refused. */
START_TEST(test_process_json)
{
	struct oci_process p = {0};
	struct sbx_err err = {0};
	const char *empty = "{\"args\":[],\"cwd\":\"/\"}";
	ck_assert_int_lt(oci_process_parse(empty, strlen(empty), &p, &err), 0);
	ck_assert_msg(!strncmp(err.msg, "process.json: ", 14) && !strstr(err.msg, "config.json") &&
			  strstr(err.msg, "args: must not be empty"),
		      "error '%s'", err.msg);
	const char *uid = "{\"args\":[\"a\"],\"cwd\":\"/\",\"user\":{\"uid\":-1}}";
	ck_assert_int_lt(oci_process_parse(uid, strlen(uid), &p, &err), 0);
	ck_assert_str_eq(err.msg, "process.json: process.user.uid: -1 is out of range");
	/* What precedes the NUL is a good document: refused for the NUL, not parsed up to it. */
	const char nul[] = "{\"args\":[\"true\"],\"cwd\":\"/\"}\0{}";
	ck_assert_int_lt(oci_process_parse(nul, sizeof(nul) - 1, &p, &err), 0);
	ck_assert_str_eq(err.msg, "process.json: contains a NUL byte");
	ck_assert_int_eq(oci_process_parse(nul, strlen(nul), &p, &err), 0);
	ck_assert_uint_eq(p.n_args, 1);
	oci_process_free(&p);
}
END_TEST

START_TEST(test_state_round_trip_and_ids)
{
	char root[] = "/tmp/test-oci-state.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(root));
	oci_g.root = root;
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/c-1", root);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	struct oci_kv ann[] = {{"k\"q", "v\\w"}};
	struct oci_state st = {.id = "c-1",
			       .status = OCI_RUNNING,
			       .pid = getpid(),
			       .pid_start = oci_pid_start_time(getpid()),
			       .exit_code = -1,
			       .bundle = "/b",
			       .created = "2024-01-01T00:00:00Z",
			       .annotations = ann,
			       .n_annotations = 1};
	struct sbx_err err = {0};
	ck_assert_int_eq(oci_state_write(&st, &err), 0);
	struct oci_state rd;
	ck_assert_int_eq(oci_state_read("c-1", &rd, &err), 0);
	ck_assert_int_eq(rd.status, OCI_RUNNING);
	ck_assert_int_eq(rd.pid, getpid());
	ck_assert_str_eq(rd.annotations[0].key, "k\"q");
	ck_assert_str_eq(rd.annotations[0].value, "v\\w");
	ck_assert_int_eq(oci_state_status(&rd), OCI_RUNNING); /* we are alive */
	rd.pid_start++;					      /* a reused pid: not ours */
	ck_assert_int_eq(oci_state_status(&rd), OCI_STOPPED);
	oci_state_free(&rd);
	ck_assert_int_lt(oci_state_read("nope", &rd, &err), 0);
	ck_assert_str_eq(err.msg, "container nope does not exist");
	ck_assert_int_eq(oci_id_check("abc_DEF-1.2+x", &err), 0);
	ck_assert_int_lt(oci_id_check("a/b", &err), 0);
	ck_assert_int_lt(oci_id_check("..", &err), 0);
	ck_assert_int_lt(oci_id_check("", &err), 0);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_signal_names)
{
	ck_assert_int_eq(oci_parse_signal("9"), 9);
	ck_assert_int_eq(oci_parse_signal("KILL"), 9);
	ck_assert_int_eq(oci_parse_signal("SIGTERM"), 15);
	ck_assert_int_eq(oci_parse_signal("sigusr1"), 10);
	ck_assert_int_eq(oci_parse_signal("0"), 0);
	ck_assert_int_eq(oci_parse_signal("65"), 0);
	ck_assert_int_eq(oci_parse_signal("SIGFOO"), 0);
	ck_assert_int_eq(oci_parse_signal(""), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("oci_spec");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_full_document);
	tcase_add_test(tc, test_minimal_document_defaults);
	tcase_add_loop_test(tc, test_bad_documents, 0, sizeof(bad_docs) / sizeof(bad_docs[0]));
	tcase_add_test(tc, test_nul_byte_and_size);
	tcase_add_test(tc, test_process_json);
	tcase_add_test(tc, test_state_round_trip_and_ids);
	tcase_add_test(tc, test_signal_names);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

/*
 * Unit tests for shim/oci_security.c: config.json's security settings -> RUN fields, and the
 * seccomp profile -> BPF compilation (the program is installed in a forked child on this very
 * kernel to prove it does what the profile says).
 */
#include <check.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../shim/oci_security.h"

#define DOCKER_CAPS 0xa80425fbull

static const char *const docker_caps[] = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",	       "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",	       "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",	   "CAP_AUDIT_WRITE",
};

START_TEST(caps_names)
{
	ck_assert_uint_eq(oci_caps_mask((char *const *)docker_caps, 14), DOCKER_CAPS);
	char *odd[] = {"CAP_NO_SUCH_THING", "chown", "cap_sys_admin", "CAP_CHECKPOINT_RESTORE"};
	/* unknown and prefix-less names are skipped; case does not matter */
	ck_assert_uint_eq(oci_caps_mask(odd, 4), (1ull << 21) | (1ull << 40));
	ck_assert_uint_eq(oci_caps_mask(NULL, 0), 0);
}
END_TEST

START_TEST(rlimit_names)
{
	ck_assert_int_eq(oci_rlimit_resource("RLIMIT_NOFILE"), 7);
	ck_assert_int_eq(oci_rlimit_resource("RLIMIT_CPU"), 0);
	ck_assert_int_eq(oci_rlimit_resource("RLIMIT_RTTIME"), 15);
	ck_assert_int_eq(oci_rlimit_resource("RLIMIT_BOGUS"), -1);
	ck_assert_int_eq(oci_rlimit_resource("NOFILE"), -1);
}
END_TEST

static const char spec_json[] =
    "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"},"
    "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0,\"umask\":18},"
    "\"noNewPrivileges\":true,\"oomScoreAdj\":500,"
    "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":123,\"hard\":456}],"
    "\"capabilities\":{\"bounding\":[\"CAP_CHOWN\",\"CAP_KILL\"],\"effective\":[\"CAP_KILL\"],"
    "\"permitted\":[\"CAP_CHOWN\",\"CAP_KILL\"],\"inheritable\":[],\"ambient\":[\"CAP_KILL\"]}},"
    "\"linux\":{\"maskedPaths\":[\"/proc/kcore\"],\"readonlyPaths\":[\"/proc/sys\"],"
    "\"sysctl\":{\"net.ipv4.ip_forward\":\"1\"},\"resources\":{\"pids\":{\"limit\":32}},"
    "\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\"],"
    "\"syscalls\":[{\"names\":[\"mkdir\",\"mkdirat\",\"no_such_syscall\"],"
    "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]}}}";

START_TEST(spec_to_run)
{
	struct oci_spec spec = {0};
	struct sbx_err err = {0};
	ck_assert_int_eq(oci_spec_parse(spec_json, strlen(spec_json), &spec, &err), 0);
	struct sbx_run_req req = {0};
	struct oci_security sec = {0};
	ck_assert_msg(oci_security_to_run(&spec, &req, &sec, &err) == 0, "%s", err.msg);
	ck_assert(req.has_caps);
	ck_assert_uint_eq(req.caps.bounding, (1u << 0) | (1u << 5));
	ck_assert_uint_eq(req.caps.effective, 1u << 5);
	ck_assert_uint_eq(req.caps.ambient, 1u << 5);
	ck_assert_uint_eq(req.caps.inheritable, 0);
	ck_assert(req.no_new_privs);
	ck_assert(req.has_umask && req.umask == 18);
	ck_assert(req.has_oom_score_adj && req.oom_score_adj == 500);
	ck_assert_uint_eq(req.n_rlimits, 1);
	ck_assert_uint_eq(req.rlimits[0].resource, 7);
	ck_assert_uint_eq(req.rlimits[0].hard, 456);
	ck_assert_uint_eq(req.n_masked_paths, 1);
	ck_assert_str_eq(req.readonly_paths[0], "/proc/sys");
	ck_assert_uint_eq(req.n_sysctl, 1);
	ck_assert_str_eq(req.sysctl[0], "net.ipv4.ip_forward=1");
	ck_assert_uint_eq(req.pids_limit, 32);
	ck_assert_ptr_nonnull(req.seccomp);
	ck_assert(req.seccomp_len > 4 && req.seccomp_len <= SBX_RUN_BPF_MAX);
	/* and it goes through the wire codec */
	char *argv[] = {"sh", NULL};
	req.argv = argv, req.argc = 1;
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(sbx_run_encode(&req, &buf, &len, &err), 0);
	free(buf);
	oci_security_free(&sec);
	oci_spec_free(&spec);
}
END_TEST

/* Parses spec text and translates it; returns the translation's result. */
static int translate(const char *json, struct sbx_err *err)
{
	struct oci_spec spec = {0};
	int r = oci_spec_parse(json, strlen(json), &spec, err);
	ck_assert_msg(r == 0, "%s", err->msg);
	struct sbx_run_req req = {0};
	struct oci_security sec = {0};
	r = oci_security_to_run(&spec, &req, &sec, err);
	oci_security_free(&sec);
	oci_spec_free(&spec);
	return r;
}

#define SPEC_HEAD                                                                                  \
	"{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"sh\"],"      \
	"\"cwd\":\"/\"},\"linux\":"

START_TEST(spec_rejects)
{
	struct sbx_err err = {0};
	ck_assert_int_eq(
	    translate(SPEC_HEAD "{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_BOGUS\"}}}", &err),
	    -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "SCMP_ACT_BOGUS"));
	ck_assert_int_eq(translate(SPEC_HEAD "{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
					     "\"architectures\":[\"SCMP_ARCH_PDP11\"]}}}",
				   &err),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "SCMP_ARCH_PDP11"));
	ck_assert_int_eq(
	    translate(SPEC_HEAD "{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}}}", &err),
	    -ENOTSUP);
	ck_assert_int_eq(translate(SPEC_HEAD
				   "{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
				   "\"syscalls\":[{\"names\":[\"read\"],\"action\":"
				   "\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"value\":1,"
				   "\"op\":\"SCMP_CMP_SOMETIMES\"}]}]}}}",
				   &err),
			 -EINVAL);
	ck_assert_int_eq(translate(SPEC_HEAD "{\"sysctl\":{\"kernel.panic\":\"1\"}}}", &err),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "kernel.panic"));
	ck_assert_int_eq(translate(SPEC_HEAD "{\"maskedPaths\":[\"proc/kcore\"]}}", &err), -EINVAL);
}
END_TEST

/* An exec's process.json is named in its own errors; the container's config.json in its own. */
START_TEST(process_errors_name_their_document)
{
	const char *text = "{\"args\":[\"sh\"],\"cwd\":\"/\",\"rlimits\":[{\"type\":"
			   "\"RLIMIT_NOFILE\",\"soft\":9,\"hard\":8}]}";
	struct oci_process p = {0};
	struct sbx_err err = {0};
	ck_assert_msg(oci_process_parse(text, strlen(text), &p, &err) == 0, "%s", err.msg);
	struct sbx_run_req req = {0};
	ck_assert_int_eq(oci_process_security_to_run(&p, "process.json", &req, &err), -EINVAL);
	ck_assert_str_eq(err.msg, "process.json: process.rlimits[0]: soft limit above hard limit");
	oci_process_free(&p);
	struct oci_spec spec = {0};
	const char *cfg = "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{"
			  "\"args\":[\"sh\"],\"cwd\":\"/\",\"rlimits\":[{\"type\":\"RLIMIT_BOGUS\","
			  "\"soft\":1,\"hard\":1}]}}";
	ck_assert_msg(oci_spec_parse(cfg, strlen(cfg), &spec, &err) == 0, "%s", err.msg);
	struct oci_security sec = {0};
	memset(&req, 0, sizeof(req));
	ck_assert_int_eq(oci_security_to_run(&spec, &req, &sec, &err), -EINVAL);
	ck_assert_str_eq(err.msg, "config.json: process.rlimits[0]: unknown type 'RLIMIT_BOGUS'");
	oci_security_free(&sec);
	oci_spec_free(&spec);
}
END_TEST

/* Compiles the profile and runs `probe` in a child under it; returns the child's exit code. */
static int run_under(const char *json, int (*probe)(void))
{
	struct oci_spec spec = {0};
	struct sbx_err err = {0};
	ck_assert_int_eq(oci_spec_parse(json, strlen(json), &spec, &err), 0);
	struct sbx_bpf_insn *prog = NULL;
	size_t n = 0;
	ck_assert_msg(oci_seccomp_compile(&spec.seccomp, &prog, &n, &err) == 0, "%s", err.msg);
	oci_spec_free(&spec);
	pid_t pid = fork();
	if (pid == 0) {
		struct sock_fprog fp = {.len = (unsigned short)n,
					.filter = (struct sock_filter *)prog};
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) < 0)
			_exit(100);
		_exit(probe());
	}
	free(prog);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char tmpdir[] = "/tmp/test_oci_security.XXXXXX";

static int probe_mkdir(void)
{
	char p[64];
	snprintf(p, sizeof(p), "%s/d", tmpdir);
	if (mkdir(p, 0755) == 0)
		return 1; /* allowed: the profile did nothing */
	if (errno != EPERM)
		return 2;
	return getpid() > 0 ? 0 : 3; /* other syscalls still work */
}

/* personality(0xffffffff) is the query form; a rule on the argument denies only that. */
static int probe_args(void)
{
	if (syscall(SYS_personality, 0xffffffffUL) != -1 || errno != EACCES)
		return 1;
	return syscall(SYS_personality, 0xffffffffUL - 1) == -1 && errno == EACCES ? 2 : 0;
}

START_TEST(seccomp_profile_enforced)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_eq(
	    run_under(SPEC_HEAD "{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
				"\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\"],"
				"\"syscalls\":[{\"names\":[\"mkdir\",\"mkdirat\",\"bogus_call\"],"
				"\"action\":\"SCMP_ACT_ERRNO\"}]}}}",
		      probe_mkdir),
	    0);
	/* an allow-list profile: everything but the listed calls fails with errnoRet */
	ck_assert_int_eq(run_under(SPEC_HEAD
				   "{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
				   "\"syscalls\":[{\"names\":[\"personality\"],\"action\":"
				   "\"SCMP_ACT_ERRNO\",\"errnoRet\":13,\"args\":[{\"index\":0,"
				   "\"value\":4294967295,\"op\":\"SCMP_CMP_EQ\"}]}]}}}",
				   probe_args),
			 0);
	rmdir(tmpdir);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("oci_security");
	TCase *c = tcase_create("translate");
	tcase_add_test(c, caps_names);
	tcase_add_test(c, rlimit_names);
	tcase_add_test(c, spec_to_run);
	tcase_add_test(c, spec_rejects);
	tcase_add_test(c, process_errors_name_their_document);
	tcase_add_test(c, seccomp_profile_enforced);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

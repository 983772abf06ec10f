/*
 * The guest applies the OCI process's security settings (docs/security.md, "Guest side"), and
 * no container process can reach the host's vsock listeners.
 *
 * Two VM runs: one OCI bundle (`sandbox run --bundle`) whose config.json sets every field, its
 * container printing what it sees as key=value lines that the checks below read; and one plain
 * `sandbox run --rootfs` for the defaults (docker's capabilities, vsock refused without any
 * profile). A bad profile is refused before any VM starts. The rootfs is a copy of the busybox
 * one with a masked directory and a static vsock client (tests/integration/guest/).
 */
#include "harness.h"

static char root[] = "/tmp/sandbox-test-gsec.XXXXXX";
static char work[] = "/tmp/sandbox-test-gsec-work.XXXXXX";
static char rootfs[600], bundle[600];
static struct cmd_result oci_run, plain_run;

#define OCI(...)                                                                                   \
	(char *const[])                                                                            \
	{                                                                                          \
		h_path("sandbox"), "--root", root, __VA_ARGS__, NULL                               \
	}

/* The value of the last line "key=value" of r's stdout; NULL when there is none. */
static const char *value_of(const struct cmd_result *r, const char *key, char *out, size_t cap)
{
	size_t k = strlen(key);
	const char *found = NULL;
	for (const char *line = r->out; line && *line;
	     line = strchr(line, '\n'), line = line ? line + 1 : NULL)
		if (!strncmp(line, key, k) && line[k] == '=')
			found = line + k + 1;
	if (!found)
		return NULL;
	snprintf(out, cap, "%.*s", (int)strcspn(found, "\n"), found);
	return out;
}

static void expect_value(const struct cmd_result *r, const char *key, const char *want)
{
	char got[512];
	ck_assert_msg(value_of(r, key, got, sizeof(got)), "no %s= line in:\n%s\nstderr:\n%s", key,
		      r->out, r->err);
	ck_assert_msg(!strcmp(got, want), "%s: got '%s', want '%s'", key, got, want);
}

static void expect_contains(const struct cmd_result *r, const char *key, const char *want)
{
	char got[512];
	ck_assert_msg(value_of(r, key, got, sizeof(got)), "no %s= line in:\n%s\nstderr:\n%s", key,
		      r->out, r->err);
	ck_assert_msg(strstr(got, want), "%s: got '%s', want it to hold '%s'", key, got, want);
}

static void shell(const char *cmd)
{
	ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

/*
 * Prints what the container sees, as key=value lines. Builtins wherever possible: every fork and
 * exec costs hundreds of ms of emulated guest kernel here.
 */
#define STATUS_LINES                                                                               \
	"while read k v; do case $k in Cap*|NoNewPrivs:|Seccomp:) echo ${k%:}=$v;; esac;"          \
	"done </proc/self/status;"
static const char script[] = STATUS_LINES
    "mkdir /newdir 2>/dev/shm/m; echo mkdir_rc=$?; read m </dev/shm/m; echo mkdir=$m;"
    "read h </etc/hostname; echo masked_file=[$h];"
    "n=0; for f in /secret/*; do [ -e $f ] && n=$((n+1)); done; echo masked_dir=$n;"
    "touch /tmp/x 2>/dev/shm/t; echo readonly_rc=$?; read t </dev/shm/t; echo readonly=$t;"
    "touch /var/tmp/x; echo writable_rc=$?;"
    "printf nofile=; ulimit -n; printf hard=; ulimit -Hn; printf umask=; umask;"
    "read v </proc/self/oom_score_adj; echo oom=$v;"
    /* not `read`: a sysctl file answers a read at a non-zero offset with EOF, and read(1)
     * takes one byte at a time */
    "echo shmmax=$(cat /proc/sys/kernel/shmmax);"
    "read v </proc/self/cgroup; echo cgroup=$v;"
    /* the container's guest cgroup, seen through config.json's cgroup mount */
    "read v </sys/fs/cgroup/container/memory.max; echo memmax=$v;"
    "read v </sys/fs/cgroup/container/cpu.weight; echo cpuweight=$v;"
    "if [ -e /sys/fs/cgroup/container/cpu.max ]; then read q p </sys/fs/cgroup/container/cpu.max;"
    " echo cpumax=$q/$p; else echo cpumax=absent; fi;"
    /* a 64 MiB buffer under memory.max 16 MiB: the guest's OOM killer ends dd */
    "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo oom_rc=$?;"
    "while read d m t o r; do [ $m = /sys/fs/cgroup ] && echo cgmount=$t,${o%%,*}; done"
    " </proc/self/mounts;"
    "/opt/vsock_probe; echo vsock_rc=$?;"
    /* a failed fork ends a non-interactive shell: the subshell takes that, the count is builtin */
    "(for i in 1 2 3 4 5 6 7 8; do sleep 30 & done) 2>/dev/shm/forkerr;"
    "n=0; while read l; do n=$((n+1)); done </dev/shm/forkerr; echo forkfail=$n; exit 0";

static void write_config(void)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(
	    f,
	    "{\"ociVersion\":\"1.1.0\",\"hostname\":\"gsec\",\"root\":{\"path\":\"%s\"},"
	    /* the VM keeps the default size: the template is shared with the plain run */
	    "\"annotations\":{\"io.sandbox.memory\":\"256\",\"io.sandbox.vcpus\":\"1\"},"
	    "\"process\":{\"terminal\":false,\"cwd\":\"/\","
	    "\"user\":{\"uid\":0,\"gid\":0,\"umask\":23},"
	    "\"args\":[\"sh\",\"-c\",\"%s\"],"
	    "\"env\":[\"PATH=/usr/bin:/bin:/usr/sbin:/sbin\"],"
	    "\"capabilities\":{\"bounding\":[\"CAP_CHOWN\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
	    "\"effective\":[\"CAP_CHOWN\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
	    "\"permitted\":[\"CAP_CHOWN\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
	    "\"inheritable\":[],\"ambient\":[]},"
	    "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":321,\"hard\":654}],"
	    "\"noNewPrivileges\":true,\"oomScoreAdj\":123},"
	    "\"mounts\":[{\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\","
	    "\"source\":\"cgroup\",\"options\":[\"nosuid\",\"ro\"]}],"
	    "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"mount\"}],"
	    "\"maskedPaths\":[\"/etc/hostname\",\"/secret\",\"/no/such/path\"],"
	    "\"readonlyPaths\":[\"/tmp\"],"
	    "\"sysctl\":{\"kernel.shmmax\":\"12345678\"},"
	    "\"resources\":{\"pids\":{\"limit\":6},\"memory\":{\"limit\":16777216},"
	    "\"cpu\":{\"shares\":1024,\"quota\":50000,\"period\":100000}},"
	    "\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
	    "\"architectures\":[\"SCMP_ARCH_X86_64\"],"
	    "\"syscalls\":[{\"names\":[\"mkdir\",\"mkdirat\",\"not_a_syscall\"],"
	    "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]}}}\n",
	    rootfs, script);
	ck_assert_int_eq(fclose(f), 0);
}

/* Both VM runs happen once, before the checks (which each read their output). */
static void run_containers(void)
{
	char cmd[3000];
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", work);
	snprintf(bundle, sizeof(bundle), "%s/bundle", work);
	snprintf(
	    cmd, sizeof(cmd),
	    "cp -a '%s' '%s' && mkdir -p '%s/secret' '%s/opt' '%s' && echo data >'%s/secret/data'"
	    " && cp '%s' '%s/opt/'",
	    h_path("rootfs-busybox"), rootfs, rootfs, rootfs, bundle, rootfs,
	    h_path("tests/guest/vsock_probe"), rootfs);
	shell(cmd);
	write_config();
	h_run(OCI("run", "--bundle", bundle, "gsec1"), &oci_run);
	h_show("OCI run", &oci_run);
	char *const plain[] = {h_path("sandbox"),
			       "run",
			       h_mode(),
			       "--rootfs",
			       rootfs,
			       "--",
			       "sh",
			       "-c",
			       STATUS_LINES "/opt/vsock_probe; echo vsock_rc=$?",
			       NULL};
	h_run(h_argv(plain), &plain_run);
	h_show("plain run", &plain_run);
}

static void nothing_left(void)
{
	ck_assert_msg(h_count_entries(root) <= 0, "state left behind in %s", root);
	ck_assert_msg(h_count_vmms_using(root) == 0, "a sandbox-vmm of ours was left running");
	ck_assert_msg(h_count_vmms_using(work) == 0, "a sandbox-vmm of ours was left running");
}

START_TEST(oci_run_succeeded)
{
	ck_assert_int_eq(oci_run.status, 0);
	nothing_left();
}
END_TEST

START_TEST(capabilities_as_in_spec)
{
	/* CAP_CHOWN (0), CAP_KILL (5), CAP_NET_BIND_SERVICE (10) */
	expect_value(&oci_run, "CapEff", "0000000000000421");
	expect_value(&oci_run, "CapBnd", "0000000000000421");
	expect_value(&oci_run, "CapAmb", "0000000000000000");
}
END_TEST

START_TEST(no_new_privs_set)
{
	expect_value(&oci_run, "NoNewPrivs", "1");
	expect_value(&oci_run, "Seccomp", "2"); /* filter mode */
}
END_TEST

START_TEST(seccomp_profile_denies_mkdir)
{
	expect_contains(&oci_run, "mkdir", "Operation not permitted");
	expect_value(&oci_run, "mkdir_rc", "1");
}
END_TEST

START_TEST(masked_paths_read_empty)
{
	expect_value(&oci_run, "masked_file", "[]"); /* the rootfs's file says "sandbox" */
	expect_value(&oci_run, "masked_dir", "0");   /* the rootfs's directory holds "data" */
}
END_TEST

/* config.json's cgroup mount: the guest's cgroup2, read-only as the spec asks. */
START_TEST(cgroup_mount_made)
{
	expect_value(&oci_run, "cgmount", "cgroup2,ro");
}
END_TEST

START_TEST(readonly_path_refuses_writes)
{
	expect_contains(&oci_run, "readonly", "Read-only file system");
	expect_value(&oci_run, "readonly_rc", "1");
	expect_value(&oci_run, "writable_rc", "0"); /* the rest of the root stays writable */
}
END_TEST

START_TEST(rlimit_umask_oom_sysctl_applied)
{
	expect_value(&oci_run, "nofile", "321");
	expect_value(&oci_run, "hard", "654");
	expect_value(&oci_run, "umask", "0027");
	expect_value(&oci_run, "oom", "123");
	expect_value(&oci_run, "shmmax", "12345678");
}
END_TEST

START_TEST(pids_limit_applied)
{
	expect_value(&oci_run, "cgroup", "0::/container");
	char n[32];
	ck_assert_ptr_nonnull(value_of(&oci_run, "forkfail", n, sizeof(n)));
	ck_assert_msg(atoi(n) >= 1, "8 background sleeps under pids.max 6, none failed to fork");
}
END_TEST

/* linux.resources.memory and cpu: the container's guest cgroup (agent/container_security.c). */
START_TEST(memory_and_cpu_cgroup_applied)
{
	expect_value(&oci_run, "memmax", "16777216");
	expect_value(&oci_run, "cpuweight", "39"); /* runc's conversion of shares 1024 */
	/* the quota 50000/100000 (the guest kernel has CONFIG_CFS_BANDWIDTH for it) */
	expect_value(&oci_run, "cpumax", "50000/100000");
}
END_TEST

START_TEST(over_memory_max_is_oom_killed)
{
	expect_value(&oci_run, "oom_rc", "137");
}
END_TEST

START_TEST(vsock_refused_in_oci_container)
{
	expect_contains(&oci_run, "vsock", "Operation not permitted");
	expect_value(&oci_run, "vsock_rc", "2");
}
END_TEST

START_TEST(plain_run_defaults)
{
	ck_assert_int_eq(plain_run.status, 0);
	expect_value(&plain_run, "CapEff", "00000000a80425fb"); /* docker's default set */
	expect_value(&plain_run, "CapBnd", "00000000a80425fb");
	expect_value(&plain_run, "NoNewPrivs", "0");
	expect_value(&plain_run, "Seccomp", "2");  /* the agent's vsock filter */
	expect_value(&plain_run, "vsock_rc", "2"); /* refused with no profile at all */
}
END_TEST

START_TEST(bad_profile_refused_before_boot)
{
	char path[700], cmd[1500];
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	snprintf(cmd, sizeof(cmd), "sed -i 's/SCMP_ACT_ERRNO/SCMP_ACT_MAYBE/' '%s'", path);
	shell(cmd);
	struct cmd_result r;
	h_run(OCI("run", "--bundle", bundle, "gsec2"), &r);
	h_show("bad profile", &r);
	ck_assert_int_eq(r.status, 125);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown action 'SCMP_ACT_MAYBE'"));
	h_free(&r);
	nothing_left();
}
END_TEST

int main(void)
{
	h_require_kvm();
	if (!mkdtemp(root) || !mkdtemp(work)) {
		perror("mkdtemp");
		return 1;
	}
	h_template_dir_init();
	Suite *s = suite_create("guest_security");
	TCase *c = tcase_create("vm");
	tcase_add_unchecked_fixture(c, run_containers, NULL);
	tcase_set_timeout(c, 600);
	tcase_add_test(c, oci_run_succeeded);
	tcase_add_test(c, capabilities_as_in_spec);
	tcase_add_test(c, no_new_privs_set);
	tcase_add_test(c, seccomp_profile_denies_mkdir);
	tcase_add_test(c, masked_paths_read_empty);
	tcase_add_test(c, readonly_path_refuses_writes);
	tcase_add_test(c, cgroup_mount_made);
	tcase_add_test(c, rlimit_umask_oom_sysctl_applied);
	tcase_add_test(c, pids_limit_applied);
	tcase_add_test(c, memory_and_cpu_cgroup_applied);
	tcase_add_test(c, over_memory_max_is_oom_killed);
	tcase_add_test(c, vsock_refused_in_oci_container);
	tcase_add_test(c, plain_run_defaults);
	tcase_add_test(c, bad_profile_refused_before_boot);
	suite_add_tcase(s, c);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	h_free(&oci_run);
	h_free(&plain_run);
	char cmd[1500];
	snprintf(cmd, sizeof(cmd),
		 "'%s' --root '%s' delete --force gsec1 >/dev/null 2>&1; rm -rf '%s' '%s'",
		 h_path("sandbox"), root, root, work);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed: %s\n", cmd);
	h_template_dir_done();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

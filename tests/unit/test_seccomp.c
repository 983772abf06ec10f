/*
 * The VMM's seccomp table and filters (microvm/seccomp.[ch]): the lists stay within
 * Firecracker's counts, every row is well formed, and a real filter installed in a child
 * process allows what the table says and kills (SIGSYS) what it does not, ioctls by request.
 */
#include <check.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "../../microvm/seccomp.h"

/* Firecracker's distinct syscalls per thread (docs/security.md). */
#define FC_VCPU_MAX 27
#define FC_VMM_MAX 50

enum probe {
	PROBE_NOTHING,
	PROBE_SOCKET_INET,
	PROBE_SOCKET_UNIX,
	PROBE_IOCTL_KVM_RUN,
	PROBE_IOCTL_KVM_CREATE_VM,
	PROBE_IOCTL_TCGETS,
	PROBE_OPENAT,
	PROBE_EXECVE,
};

static void probe_run(enum probe p)
{
	int fd = -1;
	struct termios t;
	switch (p) {
	case PROBE_NOTHING:
		break;
	case PROBE_SOCKET_INET:
		fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
		break;
	case PROBE_SOCKET_UNIX:
		fd = (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
		break;
	/* On a non-KVM fd the allowed request fails with ENOTTY: the filter lets it through. */
	case PROBE_IOCTL_KVM_RUN:
		(void)ioctl(STDIN_FILENO, KVM_RUN, 0);
		break;
	case PROBE_IOCTL_KVM_CREATE_VM:
		(void)ioctl(STDIN_FILENO, KVM_CREATE_VM, 0);
		break;
	case PROBE_IOCTL_TCGETS:
		(void)ioctl(STDIN_FILENO, TCGETS, &t);
		break;
	case PROBE_OPENAT:
		fd = (int)syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY);
		break;
	case PROBE_EXECVE: {
		char *argv[] = {"/bin/true", NULL};
		syscall(SYS_execve, "/bin/true", argv, NULL);
		break;
	}
	}
	(void)fd;
}

/*
 * Installs the filter for `lists` in a child, makes the probe syscall, then ends with the bare
 * exit syscall (exit_group is not on the vCPU list). Returns the wait status.
 */
static int run_filtered(unsigned lists, enum probe p)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sbx_err err = {0};
		if (seccomp_enter(lists, &err) < 0)
			syscall(SYS_exit, 99);
		probe_run(p);
		syscall(SYS_exit, 0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

static void assert_allowed(unsigned lists, enum probe p)
{
	int st = run_filtered(lists, p);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "probe %d on lists %#x: status %#x", p,
		      lists, st);
}

static void assert_killed(unsigned lists, enum probe p)
{
	int st = run_filtered(lists, p);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
		      "probe %d on lists %#x: expected SIGSYS, status %#x", p, lists, st);
}

START_TEST(lists_are_not_longer_than_firecrackers)
{
	unsigned vcpu = seccomp_count(SECCOMP_VCPU), vmm = seccomp_count(SECCOMP_VMM);
	unsigned snap = seccomp_count(SECCOMP_VMM | SECCOMP_SNAPSHOT);
	ck_assert_uint_le(vcpu, FC_VCPU_MAX);
	ck_assert_uint_le(vmm, FC_VMM_MAX);
	ck_assert_uint_gt(snap, vmm);
	ck_assert_uint_gt(vcpu, 0);
	/* docs/security.md quotes these; keep it in step when a row is added. */
	fprintf(stderr, "seccomp: vcpu %u, main+I/O %u, template build main %u syscalls\n", vcpu,
		vmm, snap);
}
END_TEST

START_TEST(rows_are_well_formed)
{
	for (size_t i = 0; i < seccomp_table_len; i++) {
		const struct seccomp_rule *r = &seccomp_table[i];
		ck_assert_msg(r->nr >= 0 && r->name && r->name[0], "row %zu", i);
		ck_assert_msg(r->lists &&
				  !(r->lists & ~(SECCOMP_VCPU | SECCOMP_VMM | SECCOMP_SNAPSHOT)),
			      "row %zu (%s): lists %#x", i, r->name, r->lists);
		ck_assert_msg(r->match == SECCOMP_ANY || r->match == SECCOMP_ARG_EQ, "row %zu", i);
		ck_assert_msg(r->match == SECCOMP_ANY || r->arg < 6, "row %zu", i);
		for (size_t j = 0; j < i; j++) {
			const struct seccomp_rule *o = &seccomp_table[j];
			ck_assert_msg(!(o->nr == r->nr && o->match == r->match &&
					o->arg == r->arg && o->value == r->value &&
					(o->lists & r->lists)),
				      "rows %zu and %zu (%s) overlap", j, i, r->name);
		}
	}
}
END_TEST

START_TEST(vcpu_list_allows_kvm_run_only_among_ioctls)
{
	assert_allowed(SECCOMP_VCPU, PROBE_NOTHING);
	assert_allowed(SECCOMP_VCPU, PROBE_IOCTL_KVM_RUN);
	assert_killed(SECCOMP_VCPU, PROBE_IOCTL_KVM_CREATE_VM);
	assert_killed(SECCOMP_VCPU, PROBE_IOCTL_TCGETS);
}
END_TEST

START_TEST(vcpu_list_kills_sockets_files_and_exec)
{
	assert_killed(SECCOMP_VCPU, PROBE_SOCKET_UNIX);
	assert_killed(SECCOMP_VCPU, PROBE_SOCKET_INET);
	assert_killed(SECCOMP_VCPU, PROBE_OPENAT);
	assert_killed(SECCOMP_VCPU, PROBE_EXECVE);
}
END_TEST

START_TEST(main_list_allows_unix_sockets_only)
{
	assert_allowed(SECCOMP_VMM, PROBE_SOCKET_UNIX);
	assert_killed(SECCOMP_VMM, PROBE_SOCKET_INET);
	assert_killed(SECCOMP_VMM, PROBE_IOCTL_KVM_RUN);
	assert_killed(SECCOMP_VMM, PROBE_EXECVE);
}
END_TEST

START_TEST(only_the_snapshot_list_opens_files)
{
	assert_killed(SECCOMP_VMM, PROBE_OPENAT);
	assert_allowed(SECCOMP_VMM | SECCOMP_SNAPSHOT, PROBE_OPENAT);
	assert_killed(SECCOMP_VMM | SECCOMP_SNAPSHOT, PROBE_EXECVE);
}
END_TEST

START_TEST(disabled_installs_nothing)
{
	seccomp_configure(false);
	assert_allowed(SECCOMP_VCPU, PROBE_SOCKET_INET);
	seccomp_configure(true);
	assert_killed(SECCOMP_VCPU, PROBE_SOCKET_INET);
}
END_TEST

START_TEST(release_build_trigger_does_nothing)
{
	/* This test links the release objects: the trigger must be inert even when asked. */
	setenv("SANDBOX_TEST_FORBIDDEN_SYSCALL", "vcpu", 1);
	seccomp_configure(true);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (seccomp_enter(SECCOMP_VCPU, NULL) < 0)
			syscall(SYS_exit, 99);
		seccomp_test_trigger(SECCOMP_VCPU);
		syscall(SYS_exit, 0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	unsetenv("SANDBOX_TEST_FORBIDDEN_SYSCALL");
}
END_TEST

int main(void)
{
	seccomp_configure(true);
	Suite *s = suite_create("seccomp");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, lists_are_not_longer_than_firecrackers);
	tcase_add_test(tc, rows_are_well_formed);
	tcase_add_test(tc, vcpu_list_allows_kvm_run_only_among_ioctls);
	tcase_add_test(tc, vcpu_list_kills_sockets_files_and_exec);
	tcase_add_test(tc, main_list_allows_unix_sockets_only);
	tcase_add_test(tc, only_the_snapshot_list_opens_files);
	tcase_add_test(tc, disabled_installs_nothing);
	tcase_add_test(tc, release_build_trigger_does_nothing);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

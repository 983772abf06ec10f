/*
 * Builds and installs the per-thread filters from seccomp_table (seccomp.h says when each
 * thread installs its own). libseccomp compiles the table to BPF; the filter is built by the
 * thread that loads it, so no libseccomp context is shared between threads.
 */
#include "seccomp.h"

#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Off until main turns it on: the device code also runs inside unit tests and fuzzers. */
static bool seccomp_enabled;

#ifdef SANDBOX_TEST_HOOKS
static unsigned test_forbidden_lists; /* which thread kind issues the forbidden syscall */
#endif

void seccomp_configure(bool enabled)
{
	seccomp_enabled = enabled;
#ifdef SANDBOX_TEST_HOOKS
	const char *e = getenv("SANDBOX_TEST_FORBIDDEN_SYSCALL");
	if (e && !strcmp(e, "vcpu"))
		test_forbidden_lists = SECCOMP_VCPU;
	else if (e && !strcmp(e, "main"))
		test_forbidden_lists = SECCOMP_VMM;
#endif
}

unsigned seccomp_count(unsigned lists)
{
	unsigned n = 0;
	for (size_t i = 0; i < seccomp_table_len; i++) {
		if (!(seccomp_table[i].lists & lists))
			continue;
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = (seccomp_table[j].lists & lists) &&
			       seccomp_table[j].nr == seccomp_table[i].nr;
		n += !seen;
	}
	return n;
}

static int add_rule(scmp_filter_ctx ctx, const struct seccomp_rule *r)
{
	if (r->match == SECCOMP_ANY)
		return seccomp_rule_add_exact(ctx, SCMP_ACT_ALLOW, r->nr, 0);
	/* The kernel takes ioctl's request and socket's family as 32-bit ints: compare the low
	 * half, so a caller's sign extension cannot make an allowed request fail. */
	return seccomp_rule_add_exact(
	    ctx, SCMP_ACT_ALLOW, r->nr, 1,
	    SCMP_CMP64(r->arg, SCMP_CMP_MASKED_EQ, 0xffffffffu, r->value));
}

int seccomp_enter(unsigned lists, struct sbx_err *err)
{
	if (!seccomp_enabled)
		return 0;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return sbx_err_setx(err, ENOMEM, "seccomp_init");
	int r = 0;
	for (size_t i = 0; i < seccomp_table_len && r == 0; i++) {
		const struct seccomp_rule *rule = &seccomp_table[i];
		if (!(rule->lists & lists))
			continue;
		r = add_rule(ctx, rule);
		if (r < 0)
			sbx_err_set(err, -r, "seccomp rule for %s", rule->name);
	}
	if (r == 0 && (r = seccomp_load(ctx)) < 0)
		sbx_err_set(err, -r, "seccomp_load");
	seccomp_release(ctx);
	return r < 0 ? r : 0;
}

void seccomp_enter_io_thread(const char *who)
{
	struct sbx_err err = {0};
	if (seccomp_enter(SECCOMP_VMM, &err) < 0) {
		fprintf(stderr, "sandbox-vmm: %s I/O thread: %s\n", who, err.msg);
		_exit(1);
	}
}

void seccomp_test_trigger(unsigned lists)
{
#ifdef SANDBOX_TEST_HOOKS
	/* Opening a network socket: in no list, the first thing an attacker holding the VMM wants.
	 */
	if (test_forbidden_lists && (lists & test_forbidden_lists)) {
		long fd = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
		if (fd >= 0)
			close((int)fd); /* only reached with --no-seccomp */
	}
#else
	(void)lists;
#endif
}

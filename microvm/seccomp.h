/*
 * Per-thread seccomp allowlists of the VMM (docs/security.md "Seccomp"). Each thread installs
 * its own filter on itself, once, after everything that opens or maps new files is done:
 *  - a vCPU thread right before its first KVM_RUN (vcpu.c);
 *  - every device I/O thread first thing in its thread function (virtio_vsock.c; the virtio-net
 *    and vhost-user threads do the same);
 *  - the main thread right before it waits for the guest to stop (main.c), with the snapshot
 *    additions when it will write a template snapshot (--snapshot-to).
 * Filters are per thread (no TSYNC): a filter stacked on an inherited one can only narrow it,
 * so the vCPU and main lists could not differ if one thread inherited the other's.
 * Anything outside the list kills the whole process (SCMP_ACT_KILL_PROCESS, SIGSYS).
 */
#ifndef SANDBOX_VMM_SECCOMP_H
#define SANDBOX_VMM_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"

/* Bits of seccomp_rule.lists. */
enum seccomp_list {
	SECCOMP_VCPU = 1u << 0, /* vCPU threads */
	SECCOMP_VMM = 1u << 1,	/* the main thread and device I/O threads */
	SECCOMP_SNAPSHOT =
	    1u << 2, /* added to SECCOMP_VMM on the main thread of a template build */
};

/* How a rule looks at the arguments. */
enum seccomp_match {
	SECCOMP_ANY,	/* any arguments */
	SECCOMP_ARG_EQ, /* argument `arg` (low 32 bits) equals `value`: ioctl requests, families */
};

struct seccomp_rule {
	int nr; /* syscall number (x86_64) */
	const char *name;
	uint8_t lists; /* enum seccomp_list bits */
	uint8_t match;
	uint8_t arg;
	uint32_t value;
};

/* The reviewed table (seccomp_table.c): one entry per (syscall, argument value). */
extern const struct seccomp_rule seccomp_table[];
extern const size_t seccomp_table_len;

/* Distinct syscalls a thread with `lists` may make (docs/security.md compares these). */
unsigned seccomp_count(unsigned lists);

/*
 * Process-wide switch, set by main before any thread starts (--no-seccomp turns it off); off
 * by default so that unit tests and fuzzers driving device code stay unfiltered.
 * Also reads the test trigger in builds with SANDBOX_TEST_HOOKS.
 */
void seccomp_configure(bool enabled);

/*
 * Installs the filter for `lists` on the calling thread. Returns 0 (also when seccomp is
 * disabled) or a negative errno with err set.
 */
int seccomp_enter(unsigned lists, struct sbx_err *err);

/*
 * First call of every device I/O thread: installs SECCOMP_VMM. An I/O thread must not run
 * unfiltered, and it has no caller to return an error to: on failure the VMM exits 1 (VMM
 * error) with one line on stderr naming `who`.
 */
void seccomp_enter_io_thread(const char *who);

/*
 * Test-only (SANDBOX_TEST_HOOKS builds, env SANDBOX_TEST_FORBIDDEN_SYSCALL=vcpu|main): issues a
 * syscall outside the list from the named thread kind. An empty function in release builds.
 */
void seccomp_test_trigger(unsigned lists);

#endif

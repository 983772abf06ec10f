/*
 * Guest RAM sits between inaccessible guard regions (microvm/guest_mem.c): one byte past either
 * end faults instead of reaching another host mapping, for a fresh VM and for a restored one.
 */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../microvm/guest_mem.h"

#define SIZE (1u << 20)

/* Touches host[off] in a child; returns the signal that ended it (0 if none). */
static int touch(volatile uint8_t *host, long off)
{
	pid_t pid = fork();
	if (pid == 0) {
		/* ASan's own SIGSEGV handler would report and exit 1: let the kernel kill. */
		signal(SIGSEGV, SIG_DFL);
		host[off] = 1;
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static void assert_guarded(struct guest_mem *m)
{
	ck_assert_int_eq(touch(m->host, 0), 0);
	ck_assert_int_eq(touch(m->host, (long)m->size - 1), 0);
	ck_assert_int_eq(touch(m->host, (long)m->size), SIGSEGV);
	ck_assert_int_eq(touch(m->host, (long)m->size + 4096), SIGSEGV);
	ck_assert_int_eq(touch(m->host, -1), SIGSEGV);
}

START_TEST(fresh_ram_is_guarded)
{
	struct guest_mem m;
	ck_assert_int_eq(guest_mem_create(&m, SIZE, NULL), 0);
	assert_guarded(&m);
	guest_mem_destroy(&m);
}
END_TEST

START_TEST(snapshot_ram_is_guarded)
{
	char path[] = "/tmp/guest-mem-guard.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(ftruncate(fd, SIZE), 0);
	struct guest_mem m;
	ck_assert_int_eq(guest_mem_map_private(&m, fd, SIZE, NULL), 0);
	assert_guarded(&m);
	ck_assert_int_eq(guest_mem_share(&m, fd, NULL), 0); /* replaced in place: still guarded */
	assert_guarded(&m);
	guest_mem_destroy(&m);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("guest_mem guards");
	TCase *tc = tcase_create("guards");
	tcase_add_test(tc, fresh_ram_is_guarded);
	tcase_add_test(tc, snapshot_ram_is_guarded);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

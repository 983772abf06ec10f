/*
 * TEST HOOK: parts of the agent die on purpose, so that tests/integration/test_faults.c can
 * watch the host cope with a guest agent that dies on its own (docs/security.md, "Faults").
 * Compiled only into the test agent ($(B)/testhooks/sandbox-agent, -DSANDBOX_TEST_HOOKS, its
 * own initramfs and so its own VM template); the release agent has neither this file nor the
 * call in session.c, which the fault test checks on the release binary.
 *
 * The RUN's environment asks, through SANDBOX_TEST_AGENT_DIE:
 *   pid1:NAME  PID 1 itself crashes (SIGSEGV; the guest kernel then panics with "Attempted to
 *              kill init!") once NAME exists in the container's root directory. The container
 *              chooses the moment: e.g. after it printed its first line, so after STARTED.
 *   helper     the container init the agent forked (the helper that execs the workload) is
 *              SIGKILLed before the workload's execve: the agent is still waiting for the exec
 *              verdict on its pipe.
 * A watcher process forked here does the waiting, so the agent's own code runs unchanged.
 */
#include "testhooks.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define WATCH_STEP_US 20000
#define WATCH_MAX_STEPS (10 * 60 * 1000000 / WATCH_STEP_US) /* ten minutes, then give up */
#define HELPER_PID_SPAN 16 /* the container init is one of the next pids after the watcher */

static const char *run_env(const struct sbx_run_req *req, const char *key)
{
	size_t k = strlen(key);
	for (char **e = req->envp; e && *e; e++)
		if (!strncmp(*e, key, k) && (*e)[k] == '=')
			return *e + k + 1;
	return NULL;
}

/* A real fault, not a signal: the kernel force-delivers SIGSEGV even to init. */
static void crash_pid1(int sig)
{
	(void)sig;
	*(volatile int *)0 = 0;
}

static pid_t parent_of(pid_t pid)
{
	char path[64];
	int ppid = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%*d (%*[^)]) %*c %d", &ppid) != 1)
		ppid = 0;
	fclose(f);
	return (pid_t)ppid;
}

/* pid1: whether the trigger file exists; helper: SIGKILL of PID 1's next child. */
static bool watch_step(bool pid1, const char *trigger)
{
	if (pid1) {
		if (access(trigger, F_OK) != 0)
			return false;
		kill(1, SIGUSR2);
		return true;
	}
	/* Guest pids are handed out in order and nothing else forks now: the init the agent
	 * clones next is just above ours. Scanning all of /proc would cost the slow guest
	 * kernel far more. */
	for (pid_t p = getpid() + 1; p <= getpid() + HELPER_PID_SPAN; p++)
		if (parent_of(p) == 1) {
			kill(p, SIGKILL);
			agent_console("testhook: killed the container init %d before its exec", p);
			return true;
		}
	return false;
}

__attribute__((noreturn)) static void watcher(bool pid1, const char *trigger)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Nothing of PID 1's (its host stream) may stay open here. */
	if (syscall(SYS_close_range, 3, ~0u, 0) < 0)
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	for (long i = 0; i < WATCH_MAX_STEPS && !watch_step(pid1, trigger); i++)
		usleep(WATCH_STEP_US);
	_exit(0);
}

void agent_testhooks_arm(const struct agent_cfg *cfg, const struct sbx_run_req *req)
{
	const char *what = run_env(req, AGENT_TESTHOOK_ENV);
	if (!what)
		return;
	bool pid1 = !strncmp(what, "pid1:", 5);
	if (!pid1 && strcmp(what, "helper")) {
		agent_console("testhook: unknown %s=%s", AGENT_TESTHOOK_ENV, what);
		return;
	}
	char trigger[512] = "";
	if (pid1) {
		snprintf(trigger, sizeof(trigger), "%s/root/%s", cfg->run_dir, what + 5);
		signal(SIGUSR2, crash_pid1);
	}
	agent_console("testhook: armed %s", what);
	pid_t w = fork();
	if (w < 0)
		agent_console("testhook: fork: %m");
	if (w == 0)
		watcher(pid1, trigger);
}

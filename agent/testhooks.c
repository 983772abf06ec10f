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
 *   hangup:NAME  PID 1 shuts its host connection down and hangs (without rebooting) once NAME
 *              exists in the container's root: the VM stays up while the host has lost the
 *              agent, so `sandbox` must stop the VMM itself (and still show why).
 *   helper     the container init the agent forked (the helper that execs the workload) is
 *              SIGKILLed before the workload's execve: the agent is still waiting for the exec
 *              verdict on its pipe. The watcher stops the init first and kills it only while it
 *              has no child yet (so the workload provably never reached its exec); if it is too
 *              late it says so on the console and leaves the run alone.
 * A watcher process forked here does the waiting, so the agent's own code runs unchanged.
 */
#include "testhooks.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

static int host_fd = -1; /* hangup: PID 1's connection to the host */

/* The host sees its agent go (EOF) while the guest, and the container, stay up. */
static void hang_up_pid1(int sig)
{
	(void)sig;
	shutdown(host_fd, SHUT_RDWR);
	close(host_fd);
	static const char line[] = "sandbox-agent: testhook: PID 1 hung up on the host\n";
	ssize_t w = write(STDERR_FILENO, line, sizeof(line) - 1);
	(void)w;
	for (;;)
		pause();
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

static bool has_child(pid_t parent)
{
	for (pid_t p = parent + 1; p <= parent + HELPER_PID_SPAN; p++)
		if (parent_of(p) == parent)
			return true;
	return false;
}

/* Stopped, the init cannot fork: if it has no child now, the workload never existed. */
static void kill_init(pid_t init)
{
	kill(init, SIGSTOP);
	if (has_child(init)) {
		agent_console("testhook: too late, the container init %d has forked", init);
		kill(init, SIGCONT);
		return;
	}
	kill(init, SIGKILL);
	agent_console("testhook: killed the container init %d before its exec", init);
}

/* pid1/hangup: whether the trigger file exists; helper: SIGKILL of PID 1's next child. */
static bool watch_step(bool on_trigger, const char *trigger)
{
	if (on_trigger) {
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
			kill_init(p);
			return true;
		}
	return false;
}

__attribute__((noreturn)) static void watcher(bool on_trigger, const char *trigger)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Nothing of PID 1's (its host stream) may stay open here. */
	if (syscall(SYS_close_range, 3, ~0u, 0) < 0)
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	for (long i = 0; i < WATCH_MAX_STEPS && !watch_step(on_trigger, trigger); i++)
		usleep(WATCH_STEP_US);
	_exit(0);
}

void agent_testhooks_arm(const struct agent_cfg *cfg, const struct sbx_run_req *req, int fd)
{
	const char *what = run_env(req, AGENT_TESTHOOK_ENV);
	if (!what)
		return;
	bool pid1 = !strncmp(what, "pid1:", 5), hangup = !strncmp(what, "hangup:", 7);
	if (!pid1 && !hangup && strcmp(what, "helper")) {
		agent_console("testhook: unknown %s=%s", AGENT_TESTHOOK_ENV, what);
		return;
	}
	char trigger[512] = "";
	if (pid1 || hangup) {
		snprintf(trigger, sizeof(trigger), "%s/root/%s", cfg->run_dir,
			 strchr(what, ':') + 1);
		host_fd = fd;
		signal(SIGUSR2, pid1 ? crash_pid1 : hang_up_pid1);
	}
	agent_console("testhook: armed %s", what);
	pid_t w = fork();
	if (w < 0)
		agent_console("testhook: fork: %m");
	if (w == 0)
		watcher(pid1 || hangup, trigger);
}

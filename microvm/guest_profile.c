#include "guest_profile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vcpu.h"

#define PROFILE_SIGNAL SIGPROF
#define PROFILE_PERIOD_NS 1000000L /* asked for; the host delivers at most one per tick */
/* 2^21 samples = 35 min of vCPU time at 1 kHz; a sparse file, filled as sampled. */
#define PROFILE_MAX_SAMPLES (1u << 21)

/*
 * The file itself is the buffer (MAP_SHARED): `sandbox run` SIGKILLs the VMM once the guest
 * reported its exit, and the samples must survive that. Layout: u64 count, then u64 RIPs.
 */
static int profile_fd = -1;
static uint64_t *profile_map; /* [0]: count (atomic: every vCPU appends), then the samples */
static __thread volatile sig_atomic_t tick_pending;

static void profile_tick(int sig)
{
	(void)sig;
	tick_pending = 1;
}

int guest_profile_open(const char *path, struct sbx_err *err)
{
	size_t size = (PROFILE_MAX_SAMPLES + 1) * sizeof(uint64_t);
	profile_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (profile_fd < 0)
		return sbx_err_set(err, errno, "open guest profile '%s'", path);
	if (ftruncate(profile_fd, (off_t)size) < 0)
		return sbx_err_set(err, errno, "guest profile '%s'", path);
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, profile_fd, 0);
	if (m == MAP_FAILED)
		return sbx_err_set(err, errno, "mmap guest profile '%s'", path);
	profile_map = m;
	/* No SA_RESTART: the signal must end KVM_RUN with EINTR to be seen at all. */
	struct sigaction sa = {.sa_handler = profile_tick};
	sigemptyset(&sa.sa_mask);
	if (sigaction(PROFILE_SIGNAL, &sa, NULL) < 0)
		return sbx_err_set(err, errno, "sigaction SIGPROF");
	return 0;
}

bool guest_profile_enabled(void)
{
	return profile_map != NULL;
}

int guest_profile_arm_thread(struct sbx_err *err)
{
	if (!profile_map)
		return 0;
	struct sigevent sev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = PROFILE_SIGNAL};
	sev._sigev_un._tid = gettid(); /* glibc 2.36 names no sigev_notify_thread_id */
	timer_t t;
	/* The thread's CPU clock: samples fall where the VMM spends CPU, and never in a halt. */
	if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &t) < 0)
		return sbx_err_set(err, errno, "guest profile timer");
	struct itimerspec its = {.it_interval.tv_nsec = PROFILE_PERIOD_NS,
				 .it_value.tv_nsec = PROFILE_PERIOD_NS};
	if (timer_settime(t, 0, &its, NULL) < 0)
		return sbx_err_set(err, errno, "guest profile timer start");
	return 0;
}

void guest_profile_sample(struct vcpu *vc)
{
	if (!tick_pending)
		return;
	tick_pending = 0;
	struct kvm_regs r;
	if (ioctl(vc->fd, KVM_GET_REGS, &r) < 0)
		return;
	uint64_t i = __atomic_fetch_add(&profile_map[0], 1, __ATOMIC_RELAXED);
	if (i < PROFILE_MAX_SAMPLES)
		profile_map[1 + i] = r.rip;
}

void guest_profile_close(void)
{
	/* The file stays at its sparse full size: the main thread's seccomp list has no
	 * ftruncate, and the reader stops at the count anyway. */
	if (profile_fd >= 0)
		close(profile_fd);
	profile_fd = -1;
}

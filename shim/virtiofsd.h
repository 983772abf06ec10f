/*
 * One virtiofsd (Debian's /usr/lib/qemu/virtiofsd, the vhost-user virtio-fs back end) per
 * shared host directory: started before the VMM, which connects to its socket, and killed and
 * reaped at teardown (docs/virtiofs.md). Nothing outlives `sandbox`: the daemon runs in its own
 * process group with PR_SET_PDEATHSIG, and virtiofsd's own sandbox child dies with it.
 *
 * Read-only shares are enforced on the host: the daemon starts in a private mount namespace in
 * which the directory is a read-only bind mount, so even a guest that remounts read-write gets
 * EROFS.
 */
#ifndef SANDBOX_VIRTIOFSD_H
#define SANDBOX_VIRTIOFSD_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "../common/error.h"

/* Virtio-fs slots a VM template is built with; their tags are "sbxfs0".."sbxfs3". */
#define VIRTIOFSD_SLOTS 4u
#define VIRTIOFSD_DEFAULT_PATH "/usr/lib/qemu/virtiofsd"
/* Overrides the daemon's path (tests, other distributions). */
#define VIRTIOFSD_PATH_ENV "SANDBOX_VIRTIOFSD"
/* How long the daemon may take to create its socket. */
#define VIRTIOFSD_START_TIMEOUT_MS 10000

/* All zeros is a valid stopped handle too (pid <= 0: nothing to stop, no fd owned). */
struct virtiofsd {
	pid_t pid; /* <= 0: not running */
	int pidfd; /* owned only while pid > 0 */
	char socket[PATH_MAX];
	char log[PATH_MAX]; /* the daemon's stderr: "<socket>.log" */
};

/* A stopped handle (virtiofsd_stop on it does nothing). */
void virtiofsd_init(struct virtiofsd *d);
/*
 * Starts the daemon serving `dir` (an existing directory) on the unix socket `sock` (created
 * by the daemon; an old file there is removed) and waits until the socket exists. On failure
 * nothing is left running and the error quotes the daemon's last complaint.
 */
int virtiofsd_start(const char *dir, const char *sock, bool readonly, struct virtiofsd *d,
		    struct sbx_err *err);
/*
 * Removes the socket's path (and the log's) once the VMM is connected (virtiofsd serves one
 * connection), so a SIGKILLed `sandbox` leaves neither behind.
 */
void virtiofsd_unlink_socket(struct virtiofsd *d);
/* Kills the daemon's process group, reaps it, removes the socket and log. Idempotent. */
void virtiofsd_stop(struct virtiofsd *d);

#endif

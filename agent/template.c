/*
 * VM templates, guest side (docs/templates.md).
 *
 * A template is a VM snapshotted while its agent sits between PID-1 setup and dialing the host.
 * Every VM restored from it resumes at that instruction with the template's memory, so whatever
 * must differ between clones is (re)established here after the resume point, per run:
 *  - the vsock CID: the VMM announces the new one with a transport-reset event; the agent waits
 *    until its kernel has taken it before dialing, so the connection carries the new CID;
 *  - the rootfs disk: the template's slot is empty (capacity 0) and the VMM fills it on restore
 *    with a config-change interrupt, so the agent waits for a non-zero size before mounting;
 *  - the RNG: seeded from host entropy carried in RUN (SEED), then a forced CRNG reseed;
 *  - wall clock and hostname come in RUN and are applied on every run (session.c, container.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/random.h>
#include <linux/vm_sockets.h>

#include "../common/cleanup.h"
#include "agent.h"

#define TEMPLATE_CMDLINE_FLAG "sandbox.template=1"
#define DISK_POLL_MS 5
/* The event is handled in a workqueue: slow on a loaded emulated host. */
#define CID_WAIT_MS 30000
#define CID_POLL_MS 2

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

bool agent_template_requested(const char *cmdline_path)
{
	char buf[4096];
	cleanup_close int fd = open(cmdline_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* Whole-word match: "xsandbox.template=1" or "sandbox.template=10" do not count. */
	size_t fl = strlen(TEMPLATE_CMDLINE_FLAG);
	for (char *p = strstr(buf, TEMPLATE_CMDLINE_FLAG); p;
	     p = strstr(p + 1, TEMPLATE_CMDLINE_FLAG)) {
		bool start = p == buf || p[-1] == ' ';
		char end = p[fl];
		if (start && (end == '\0' || end == ' ' || end == '\n'))
			return true;
	}
	return false;
}

/* The guest kernel's own CID (what it puts in every packet), or 0 when unknown. */
static uint32_t local_cid(void)
{
	cleanup_close int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
	unsigned int cid = 0;
	if (fd < 0 || ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
		return 0;
	return cid;
}

void agent_template_point(void)
{
	uint32_t template_cid = local_cid();
	/* The VMM snapshots on this write and exits; a restored clone resumes right after it. */
	agent_stage(AGENT_STAGE_SNAPSHOT);
	if (!template_cid)
		return;
	/* The reset event with the clone's CID is handled asynchronously by the guest kernel; a
	 * connection made before it would carry the template's CID and then be reset with it. */
	for (long waited = 0; waited < CID_WAIT_MS; waited += CID_POLL_MS) {
		if (local_cid() != template_cid)
			return;
		sleep_ms(CID_POLL_MS);
	}
	agent_console("vsock CID still %u after restore; dialing anyway", template_cid);
}

uint32_t agent_conn_cid(int fd)
{
	struct sockaddr_vm sa;
	socklen_t len = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.svm_family != AF_VSOCK)
		return 0;
	/* An auto-bound client socket reports VMADDR_CID_ANY; the transport's CID is the one its
	 * packets carry. */
	return sa.svm_cid == VMADDR_CID_ANY ? local_cid() : sa.svm_cid;
}

static int read_size(const char *path, unsigned long long *sectors)
{
	char buf[32];
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	*sectors = strtoull(buf, NULL, 10);
	return 0;
}

int agent_wait_disk(const char *sys_block, const char *dev, int timeout_ms, struct sbx_err *err)
{
	const char *name = strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev;
	char path[256];
	if (!name[0] ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s/size", sys_block, name) >= sizeof(path))
		return sbx_err_setx(err, EINVAL, "rootfs device '%s': bad name", dev);
	unsigned long long sectors = 0;
	int r = 0;
	for (long waited = 0;; waited += DISK_POLL_MS) {
		r = read_size(path, &sectors);
		if (r == 0 && sectors > 0)
			return 0;
		if (waited >= timeout_ms)
			break;
		sleep_ms(DISK_POLL_MS);
	}
	if (r < 0)
		return sbx_err_set(err, -r, "rootfs device '%s' never appeared (read '%s')", dev,
				   path);
	return sbx_err_setx(err, ENXIO, "rootfs device '%s' still has no medium after %d ms", dev,
			    timeout_ms);
}

int agent_seed_rng(const uint8_t *seed, size_t len, struct sbx_err *err)
{
	struct {
		struct rand_pool_info info;
		uint8_t bytes[SBX_RUN_SEED_MAX];
	} pool;
	if (len > sizeof(pool.bytes))
		return sbx_err_setx(err, E2BIG, "RNG seed of %zu bytes", len);
	cleanup_close int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return sbx_err_set(err, errno, "open /dev/urandom");
	pool.info.entropy_count = (int)(len * 8);
	pool.info.buf_size = (int)len;
	memcpy(pool.info.buf, seed, len);
	if (ioctl(fd, RNDADDENTROPY, &pool.info) < 0)
		return sbx_err_set(err, errno, "RNDADDENTROPY");
	/* Adding input is not enough: the CRNG would keep serving from the state every clone of
	 * the template shares until its next scheduled reseed. */
	if (ioctl(fd, RNDRESEEDCRNG) < 0)
		return sbx_err_set(err, errno, "RNDRESEEDCRNG");
	return 0;
}

int agent_env_add_cid(struct sbx_run_req *req, uint32_t cid, char **storage, struct sbx_err *err)
{
	static const char key[] = "SANDBOX_VSOCK_CID=";
	*storage = NULL;
	for (size_t i = 0; i < req->envc; i++)
		if (!strncmp(req->envp[i], key, sizeof(key) - 1))
			return 0; /* the user's -e wins, as for every other default */
	char **envp = malloc((req->envc + 2) * sizeof(*envp) + sizeof(key) + 16);
	if (!envp)
		return sbx_err_set(err, ENOMEM, "environment");
	memcpy(envp, req->envp, req->envc * sizeof(*envp));
	char *entry = (char *)(envp + req->envc + 2);
	snprintf(entry, sizeof(key) + 16, "%s%u", key, cid);
	envp[req->envc] = entry;
	envp[req->envc + 1] = NULL;
	req->envp = envp;
	req->envc++;
	*storage = (char *)envp;
	return 0;
}

/*
 * libFuzzer target for every decoder of host/agent input (common/proto.c, common/proto_io.c).
 * Build: `make fuzz` (the Makefile lists the sources: common/proto*.c, common/error.c)
 * The first input byte selects the decoder; the rest is its input:
 *   0 RUN payload (the agent), 1 the incremental frame reader (the agent's channel and the
 *   host's session), 2 the fixed payloads (the host: HELLO, EXIT, ERROR, STARTED/CREATED/OOM;
 *   the agent: SIGNAL, WINSIZE), 3 the blocking frame reader on a pipe (the agent's first RUN,
 *   agent/session.c; the host's EXEC_AUTH, shim/oci_cmd_exec.c).
 */
#include <assert.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/proto.h"

/* A decoded request must re-encode and decode to the same thing (the codec is a bijection). */
static void check_run(const uint8_t *data, size_t size)
{
	struct sbx_run_req q;
	struct sbx_err err = {0};
	if (sbx_run_decode(data, size, &q, &err) < 0) {
		assert(err.code > 0 && err.msg[0]);
		return;
	}
	assert(q.argc >= 1 && q.argv[q.argc] == NULL && q.envp[q.envc] == NULL && q.cwd[0] == '/');
	uint8_t *buf = NULL;
	size_t len = 0;
	int r = sbx_run_encode(&q, &buf, &len, &err);
	assert(r == 0);
	struct sbx_run_req q2;
	r = sbx_run_decode(buf, len, &q2, &err);
	assert(r == 0 && q2.argc == q.argc && q2.envc == q.envc);
	for (size_t i = 0; i < q.argc; i++)
		assert(strcmp(q.argv[i], q2.argv[i]) == 0);
	assert(strcmp(q.cwd, q2.cwd) == 0 && q.uid == q2.uid && q.n_add_gids == q2.n_add_gids);
	assert(q.n_rlimits == q2.n_rlimits && q.n_sysctl == q2.n_sysctl &&
	       q.n_masked_paths == q2.n_masked_paths && q.n_readonly_paths == q2.n_readonly_paths &&
	       q.seccomp_len == q2.seccomp_len && q.has_caps == q2.has_caps &&
	       !memcmp(&q.caps, &q2.caps, sizeof(q.caps)) && q.pids_limit == q2.pids_limit);
	assert(!q.seccomp_len ||
	       !memcmp(q.seccomp, q2.seccomp, q.seccomp_len * sizeof(*q.seccomp)));
	assert(q.has_cgroup == q2.has_cgroup && !memcmp(&q.cgroup, &q2.cgroup, sizeof(q.cgroup)));
	assert(q.has_exec_secret == q2.has_exec_secret &&
	       !memcmp(q.exec_secret, q2.exec_secret, sizeof(q.exec_secret)));
	assert(!q.domainname == !q2.domainname &&
	       (!q.domainname || !strcmp(q.domainname, q2.domainname)));
	for (int k = 0; k < SBX_HOOK_KINDS; k++) {
		const struct sbx_run_hooks *h = &q.hooks[k], *h2 = &q2.hooks[k];
		assert(h->n == h2->n && !h->state == !h2->state &&
		       (!h->state || !strcmp(h->state, h2->state)));
		for (size_t i = 0; i < h->n; i++) {
			assert(!strcmp(h->v[i].path, h2->v[i].path) &&
			       h->v[i].timeout_s == h2->v[i].timeout_s &&
			       h->v[i].n_args == h2->v[i].n_args &&
			       h->v[i].n_env == h2->v[i].n_env);
			assert(!h->v[i].args[h->v[i].n_args] && !h->v[i].env[h->v[i].n_env]);
			for (size_t j = 0; j < h->v[i].n_args; j++)
				assert(!strcmp(h->v[i].args[j], h2->v[i].args[j]));
			for (size_t j = 0; j < h->v[i].n_env; j++)
				assert(!strcmp(h->v[i].env[j], h2->v[i].env[j]));
		}
	}
	sbx_run_req_free(&q2);
	sbx_run_req_free(&q);
	free(buf);
}

/* Feeds the stream in chunks whose sizes come from the input itself. */
static void check_reader(const uint8_t *data, size_t size)
{
	struct sbx_frame_reader r = {0};
	struct sbx_err err = {0};
	size_t off = 0, step = size ? (size_t)data[0] % 17 + 1 : 1;
	while (off < size) {
		size_t len = size - off < step ? size - off : step, used = 0;
		struct sbx_frame_hdr h;
		uint8_t *p = NULL;
		int rc = sbx_frame_reader_feed(&r, data + off, len, &used, &h, &p, &err);
		if (rc < 0)
			break;
		assert(used <= len);
		off += used;
		if (rc == 1) {
			if (h.type == SBX_MSG_RUN)
				check_run(p, h.len);
			free(p);
		}
	}
	sbx_frame_reader_reset(&r);
}

/* sbx_frame_recv reads from an fd: the input goes through a pipe, then EOF. */
static void check_recv(const uint8_t *data, size_t size)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return;
	/* A pipe holds 64 KiB: more would block this single thread. */
	size_t want = size < 65536 ? size : 65536, off = 0;
	while (off < want) {
		ssize_t w = write(fds[1], data + off, want - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fds[1]);
	for (;;) {
		struct sbx_frame_hdr h;
		uint8_t *p = NULL;
		struct sbx_err err = {0};
		if (sbx_frame_recv(fds[0], &h, &p, &err) < 0) {
			assert(err.code > 0 && err.msg[0] && !p);
			break;
		}
		assert(!h.len == !p);
		if (h.type == SBX_MSG_RUN)
			check_run(p, h.len);
		free(p);
	}
	close(fds[0]);
}

static void check_small(const uint8_t *data, size_t size)
{
	int32_t a, b;
	uint32_t u, v;
	uint16_t rows, cols;
	uint64_t ns;
	char msg[64];
	sbx_exit_decode(data, size, &a, &u);
	sbx_u32_decode(data, size, &v);
	sbx_winsize_decode(data, size, &rows, &cols);
	sbx_hello_decode(data, size, &u, &ns);
	if (sbx_error_decode(data, size, &a, &b, msg, sizeof(msg)) == 0) {
		assert(strlen(msg) < sizeof(msg));
		for (size_t i = 0; msg[i]; i++)
			assert((unsigned char)msg[i] >= 0x20 && msg[i] != 0x7f);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		check_run(data + 1, size - 1);
		break;
	case 1:
		check_reader(data + 1, size - 1);
		break;
	case 3:
		check_recv(data + 1, size - 1);
		break;
	default:
		check_small(data + 1, size - 1);
		break;
	}
	return 0;
}

/*
 * `exec` and `ps`: a process inside a running container's VM and namespaces. The monitor has
 * the agent dial a second connection and passes it here (SCM_RIGHTS); on it this process plays
 * `sandbox run`'s part (shim/session.c): RUN, stdio, signals, exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/proto.h"
#include "monitor.h"
#include "detach.h"
#include "oci_cmd.h"
#include "oci_log.h"
#include "oci_security.h"
#include "oci_spec.h"
#include "oci_state.h"
#include "session.h"
#include "tty.h"

#define EXEC_MAX_ENV 1024
#define EXEC_CONNECT_TIMEOUT_S 120

struct exec_opts {
	const char *process_file, *pid_file, *console_socket, *cwd, *user, *id;
	bool tty, detach;
	const char *env[EXEC_MAX_ENV];
	size_t n_env;
	char **argv;
	int argc;
};

/* A uid or gid: decimal digits only (strtoul would take "-5" as 2^64-5), below 2^32-1. */
static int parse_id(const char *s, char **end, uint32_t *out)
{
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, end, 10);
	if (errno || v >= UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_user(const char *s, uint32_t *uid, uint32_t *gid)
{
	char *end;
	if (parse_id(s, &end, uid) < 0 || (*end && *end != ':'))
		return -1;
	if (*end == ':' && (parse_id(end + 1, &end, gid) < 0 || *end))
		return -1;
	return 0;
}

static int parse_exec(int argc, char **argv, struct exec_opts *o)
{
	static const struct option longopts[] = {
	    {"process", required_argument, NULL, 'p'},
	    {"tty", no_argument, NULL, 't'},
	    {"detach", no_argument, NULL, 'd'},
	    {"pid-file", required_argument, NULL, 'P'},
	    {"console-socket", required_argument, NULL, 'c'},
	    {"env", required_argument, NULL, 'e'},
	    {"cwd", required_argument, NULL, 'w'},
	    {"user", required_argument, NULL, 'u'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	*o = (struct exec_opts){0};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+:p:tde:u:", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o->process_file = optarg;
			break;
		case 't':
			o->tty = true;
			break;
		case 'd':
			o->detach = true;
			break;
		case 'P':
			o->pid_file = optarg;
			break;
		case 'c':
			o->console_socket = optarg;
			break;
		case 'w':
			if (optarg[0] != '/')
				return oci_fail("exec: --cwd '%s' is not absolute", optarg), -1;
			o->cwd = optarg;
			break;
		case 'u': {
			uint32_t uid, gid; /* checked now; applied over the process's own */
			if (parse_user(optarg, &uid, &gid) < 0)
				return oci_fail("exec: --user '%s': expected UID[:GID]", optarg),
				       -1;
			o->user = optarg;
			break;
		}
		case 'e':
			if (o->n_env >= EXEC_MAX_ENV || !strchr(optarg, '=') || optarg[0] == '=')
				return oci_fail("exec: --env '%s': expected KEY=VALUE", optarg), -1;
			o->env[o->n_env++] = optarg;
			break;
		case 'h':
			printf("Usage: sandbox exec [--process F | ARGS] [-t] [-d] [--pid-file F] "
			       "[--console-socket S] [-e K=V] [--cwd D] [-u UID[:GID]] ID "
			       "[ARGS...]\n");
			return 1;
		default:
			return oci_opt_fail("exec", c, argv), -1;
		}
	}
	if (optind >= argc)
		return oci_fail("exec: requires a container id"), -1;
	o->id = argv[optind];
	o->argv = argv + optind + 1;
	o->argc = argc - optind - 1;
	if (!o->process_file && o->argc == 0)
		return oci_fail("exec: no command given (ARGS or --process)"), -1;
	return 0;
}

static int read_file(const char *path, char **out, size_t *len, struct sbx_err *err)
{
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f)
		return sbx_err_set(err, errno, "open '%s'", path);
	*out = malloc(1u << 20);
	if (!*out)
		return sbx_err_set(err, ENOMEM, "read '%s'", path);
	*len = fread(*out, 1, 1u << 20, f);
	return 0;
}

/* -e K=V replaces K in env (or is added). */
static void env_set(char **env, size_t *n, const char *kv)
{
	size_t kl = (size_t)(strchr(kv, '=') - kv);
	for (size_t i = 0; i < *n; i++)
		if (!strncmp(env[i], kv, kl + 1)) {
			env[i] = (char *)kv;
			return;
		}
	env[(*n)++] = (char *)kv;
}

/* The process: --process, else the container's own process with ARGS and the options on top. */
static int build_request(const struct exec_opts *o, const struct oci_process *base,
			 struct sbx_run_req *req, char **env, struct sbx_err *err)
{
	*req = (struct sbx_run_req){.argv = o->argc ? o->argv : base->args,
				    .argc = o->argc ? (size_t)o->argc : base->n_args,
				    .cwd = o->cwd ? (char *)o->cwd : base->cwd,
				    .uid = base->uid,
				    .gid = base->gid,
				    .terminal = o->tty || (o->process_file && base->terminal),
				    .open_stdin = true};
	size_t n = 0;
	for (size_t i = 0; i < base->n_env && n < EXEC_MAX_ENV; i++)
		env[n++] = base->env[i];
	for (size_t i = 0; i < o->n_env && n < EXEC_MAX_ENV; i++)
		env_set(env, &n, o->env[i]);
	env[n] = NULL;
	req->envp = env;
	req->envc = n;
	for (size_t i = 0; i < base->n_add_gids; i++)
		req->add_gids[req->n_add_gids++] = base->add_gids[i];
	if (o->user && parse_user(o->user, &req->uid, &req->gid) < 0)
		return sbx_err_setx(err, EINVAL, "exec: --user '%s': expected UID[:GID]", o->user);
	if (req->cwd[0] != '/')
		return sbx_err_setx(err, EINVAL, "exec: --cwd '%s' is not absolute", req->cwd);
	req->rows = base->console_rows;
	req->cols = base->console_cols;
	return 0;
}

/* Asks the monitor for an exec connection; returns its fd. */
static int exec_connect(const char *id, struct sbx_err *err)
{
	char path[PATH_MAX];
	oci_state_file(id, MONITOR_SOCK, path, sizeof(path));
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(a.sun_path))
		return sbx_err_setx(err, ENAMETOOLONG, "socket path '%s' is too long", path);
	strcpy(a.sun_path, path);
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return sbx_err_set(err, errno, "connect to the monitor of container %s", id);
	struct timeval tv = {.tv_sec = EXEC_CONNECT_TIMEOUT_S};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(fd, "exec\n", 5, MSG_NOSIGNAL) != 5)
		return sbx_err_set(err, errno, "send to the monitor of container %s", id);
	char line[600] = "", cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = line, .iov_len = sizeof(line) - 1};
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return sbx_err_set(err, n < 0 ? errno : ECONNRESET,
				   "container %s: no exec connection from the guest", id);
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS || strcmp(line, "ok"))
		return sbx_err_setx(err, EPROTO, "%s",
				    !strncmp(line, "error: ", 7) ? line + 7 : "exec refused");
	int conn;
	memcpy(&conn, CMSG_DATA(c), sizeof(int));
	return conn;
}

/*
 * The exec connection must first present the container's exec secret (EXEC_AUTH, agent/exec.c),
 * compared in constant time with <state>/exec.secret. A container created without one (a
 * detached image run) has no file: nothing to check.
 */
static int exec_auth(const char *id, int conn, struct sbx_err *err)
{
	char path[PATH_MAX];
	uint8_t want[SBX_EXEC_SECRET_LEN];
	oci_state_file(id, OCI_EXEC_SECRET_FILE, path, sizeof(path));
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : sbx_err_set(err, errno, "open '%s'", path);
	if (read(fd, want, sizeof(want)) != (ssize_t)sizeof(want))
		return sbx_err_setx(err, EIO, "'%s' does not hold an exec secret", path);
	/* A connection that never sends must not hold the exec forever. */
	struct pollfd p = {.fd = conn, .events = POLLIN};
	if (poll(&p, 1, EXEC_CONNECT_TIMEOUT_S * 1000) <= 0)
		return sbx_err_setx(err, ETIMEDOUT,
				    "container %s: the exec connection sent nothing", id);
	/* Nor one that sends half a frame: the guest is not trusted to finish it. */
	struct timeval tmo = {.tv_sec = EXEC_CONNECT_TIMEOUT_S}, none = {0};
	setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
	struct sbx_frame_hdr h;
	cleanup_free uint8_t *got = NULL;
	int r = sbx_frame_recv(conn, &h, &got, err);
	setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	bool ok = r == 0 && h.type == SBX_MSG_EXEC_AUTH && h.len == SBX_EXEC_SECRET_LEN &&
		  sbx_secret_equal(got, want, SBX_EXEC_SECRET_LEN);
	explicit_bzero(want, sizeof(want));
	if (!ok)
		return sbx_err_setx(err, EACCES,
				    "container %s: the exec connection did not present the "
				    "container's exec secret; refused",
				    id);
	return 0;
}

static int block_signals(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaddset(&set, sigs[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Relays the exec'd process; returns its exit status (128+N for signal N). */
static int relay(int conn, const struct sbx_run_req *req)
{
	struct sbx_err err = {0};
	cleanup_free uint8_t *payload = NULL;
	size_t len;
	if (sbx_run_encode(req, &payload, &len, &err) < 0)
		return oci_fail("%s", err.msg);
	int sigfd = block_signals();
	if (sigfd < 0)
		return oci_fail("signalfd: %s", strerror(errno));
	if (req->terminal)
		tty_make_raw(STDIN_FILENO);
	struct session_hooks hooks = {.connected = true, .conn_fd = conn};
	struct session_cfg cfg = {.listen_fd = -1,
				  .sigfd = sigfd,
				  .run_payload = payload,
				  .run_len = len,
				  .tty = req->terminal,
				  .interactive = true,
				  .boot_timeout_ms = EXEC_CONNECT_TIMEOUT_S * 1000,
				  .hooks = &hooks};
	struct session_result res = {0};
	int r = session_run(&cfg, &res, &err);
	tty_restore();
	close(sigfd);
	if (r < 0 && r != -EINTR)
		return oci_fail("exec: %s", err.msg);
	return res.exit_code;
}

static int write_pid(const char *path, pid_t pid)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return oci_fail("write pid file '%s': %s", path, strerror(errno));
	fprintf(f, "%d", (int)pid);
	return fclose(f) == 0 ? 0 : oci_fail("write pid file '%s': %s", path, strerror(errno));
}

static int exec_run(const struct exec_opts *o, const struct sbx_run_req *req)
{
	struct sbx_err err = {0};
	if (o->console_socket &&
	    oci_console_setup(o->console_socket, req->rows, req->cols, &err) < 0)
		return oci_fail("%s", err.msg);
	int conn = exec_connect(o->id, &err);
	if (conn < 0)
		return oci_fail("%s", err.msg);
	if (exec_auth(o->id, conn, &err) < 0) {
		close(conn);
		return oci_fail("%s", err.msg);
	}
	if (!o->detach) {
		if (o->pid_file && write_pid(o->pid_file, getpid()))
			return OCI_EXIT_FAILED;
		return relay(conn, req);
	}
	/* -d: the relay lives on in a child, which is what --pid-file names (containerd waits on
	 * it). */
	pid_t pid = fork();
	if (pid < 0)
		return oci_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		setsid();
		_exit(relay(conn, req));
	}
	close(conn);
	return o->pid_file ? write_pid(o->pid_file, pid) : 0;
}

int cmd_oci_exec(int argc, char **argv)
{
	struct exec_opts o;
	int r = parse_exec(argc, argv, &o);
	if (r != 0)
		return r == 1 ? 0 : OCI_EXIT_FAILED;
	struct sbx_err err = {0};
	struct oci_state st;
	if (oci_id_check(o.id, &err) < 0 || oci_state_read(o.id, &st, &err) < 0)
		return oci_fail("%s", err.msg);
	enum oci_status s = oci_state_status(&st);
	struct oci_spec spec = {0};
	struct oci_process proc = {0};
	r = s == OCI_STOPPED   ? oci_fail("cannot exec in a stopped container")
	    : s == OCI_PAUSED  ? oci_fail("cannot exec in a paused container")
	    : s != OCI_RUNNING ? oci_fail("cannot exec in a container that is not running")
			       : 0;
	if (r == 0 && !st.bundle[0] && detach_exec_process(&spec.process) < 0)
		r = oci_fail("out of memory"); /* a detached image container (shim/detach.h) */
	else if (r == 0 && st.bundle[0] && oci_spec_load(st.bundle, &spec, &err) < 0)
		r = oci_fail("%s", err.msg);
	const struct oci_process *base = &spec.process;
	const char *base_doc = "config.json";
	if (r == 0 && o.process_file) {
		cleanup_free char *text = NULL;
		size_t len = 0;
		if (read_file(o.process_file, &text, &len, &err) < 0 ||
		    oci_process_parse(text, len, &proc, &err) < 0)
			r = oci_fail("%s", err.msg);
		base = &proc;
		base_doc = "process.json";
	}
	char *env[EXEC_MAX_ENV + 1];
	struct sbx_run_req req;
	cleanup_free struct sbx_bpf_insn *bpf = NULL;
	if (r == 0 && build_request(&o, base, &req, env, &err) < 0)
		r = oci_fail("%s", err.msg);
	/* As runc: the exec'd process gets its own process's capabilities, rlimits, umask,
	 * no_new_privs, and the container's seccomp profile (the agent applies them). An image
	 * container (no bundle) gets the defaults, as its first process did. */
	if (r == 0 && st.bundle[0] &&
	    (oci_process_security_to_run(base, base_doc, &req, &err) < 0 ||
	     (spec.has_seccomp &&
	      oci_seccomp_compile(&spec.seccomp, &bpf, &req.seccomp_len, &err) < 0)))
		r = oci_fail("%s", err.msg);
	req.seccomp = bpf;
	if (r == 0)
		r = exec_run(&o, &req);
	oci_process_free(&proc);
	oci_spec_free(&spec);
	oci_state_free(&st);
	return r;
}

/* ---- ps: `ps` run by exec inside the container ---- */

int cmd_oci_ps(int argc, char **argv)
{
	bool json = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *f = NULL;
		if (!strcmp(argv[i], "--format") || !strcmp(argv[i], "-f")) {
			if (i + 1 >= argc)
				return oci_fail("ps: missing value for '%s'", argv[i]);
			f = argv[++i];
		} else if (!strncmp(argv[i], "--format=", 9)) {
			f = argv[i] + 9;
		} else {
			return oci_fail("ps: unknown option '%s'", argv[i]);
		}
		if (strcmp(f, "table") && strcmp(f, "json"))
			return oci_fail("ps: --format: '%s' is not table or json", f);
		json = !strcmp(f, "json");
	}
	if (i != argc - 1)
		return oci_fail("ps: requires exactly 1 argument (the container id)");
	/* The pids are the guest's (the container's pid namespace): host pids do not exist. */
	char root_opt[PATH_MAX + 8];
	snprintf(root_opt, sizeof(root_opt), "--root=%s", oci_g.root);
	char log_opt[PATH_MAX + 8];
	snprintf(log_opt, sizeof(log_opt), "--log=%s", oci_g.log ? oci_g.log : "");
	/* The exec's own errors go to the same log, in the same format. */
	char *args[12] = {"sandbox", root_opt,
			  oci_g.log_json ? "--log-format=json" : "--log-format=text"};
	size_t na = 3;
	if (oci_g.log)
		args[na++] = log_opt;
	char *tail[] = {"exec", argv[i], "ps", "-o", "pid,user,args", NULL};
	memcpy(args + na, tail, sizeof(tail));
	if (!json) {
		execv("/proc/self/exe", args);
		return oci_fail("exec /proc/self/exe: %s", strerror(errno));
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return oci_fail("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		execv("/proc/self/exe", args);
		_exit(127);
	}
	close(p[1]);
	cleanup_fclose FILE *f = fdopen(p[0], "r");
	char line[4096];
	bool first = true, header = true;
	/* Printed only once the exec succeeded: a failure is its one stderr line, no "[]". */
	char *pids = NULL;
	size_t pids_len = 0;
	FILE *out = open_memstream(&pids, &pids_len);
	while (f && out && fgets(line, sizeof(line), f)) {
		int gpid;
		if (header) {
			header = false;
			continue;
		}
		if (sscanf(line, "%d", &gpid) == 1)
			fprintf(out, "%s%d", first ? "" : ",", gpid), first = false;
	}
	if (out)
		fclose(out);
	int st;
	waitpid(pid, &st, 0);
	bool ok = out && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	if (ok)
		printf("[%s]\n", pids ? pids : "");
	free(pids);
	return ok ? 0 : OCI_EXIT_FAILED;
}

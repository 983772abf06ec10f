#include "oci_state.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "../common/cleanup.h"
#include "oci_log.h"

static const char *const status_names[] = {"creating", "created", "running", "stopped", "paused"};

const char *oci_status_name(enum oci_status s)
{
	return (unsigned)s < ARRAY_SIZE(status_names) ? status_names[s] : "unknown";
}

int oci_id_check(const char *id, struct sbx_err *err)
{
	size_t n = strlen(id);
	if (n > OCI_ID_MAX) /* not echoed: a long id would drown the line */
		return sbx_err_setx(err, EINVAL,
				    "invalid container id: %zu characters (at most %d)", n,
				    OCI_ID_MAX);
	if (n == 0 || !strcmp(id, ".") || !strcmp(id, ".."))
		return sbx_err_setx(err, EINVAL, "invalid container id '%s'", id);
	for (const char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_+-.", *p))
			return sbx_err_setx(err, EINVAL, "invalid container id '%s'", id);
	return 0;
}

void oci_state_dir(const char *id, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", oci_g.root, id);
}

void oci_state_file(const char *id, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s/%s", oci_g.root, id, name);
}

unsigned long long oci_pid_start_time(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f || !fgets(buf, sizeof(buf), f))
		return 0;
	/* comm may hold spaces and parentheses: count fields after the last ')'. */
	char *p = strrchr(buf, ')');
	unsigned long long v = 0;
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p)
		v = strtoull(p + 1, NULL, 10);
	return v;
}

bool oci_state_monitor_alive(const struct oci_state *st)
{
	if (st->pid <= 0 || (kill(st->pid, 0) < 0 && errno == ESRCH))
		return false;
	unsigned long long t = oci_pid_start_time(st->pid);
	if (t == 0) /* a zombie or gone meanwhile: a zombie monitor has finished */
		return false;
	return t == st->pid_start;
}

enum oci_status oci_state_status(const struct oci_state *st)
{
	if (st->status == OCI_STOPPED || !oci_state_monitor_alive(st))
		return OCI_STOPPED;
	return st->status;
}

/* ---- writing ---- */

static void gen_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_kv(yajl_gen g, const char *k, const char *v)
{
	gen_str(g, k);
	gen_str(g, v);
}

static void gen_annotations(yajl_gen g, const struct oci_state *st)
{
	gen_str(g, "annotations");
	yajl_gen_map_open(g);
	for (size_t i = 0; i < st->n_annotations; i++)
		gen_kv(g, st->annotations[i].key, st->annotations[i].value);
	yajl_gen_map_close(g);
}

/* The OCI document (public) or the state file (internal: + pid start time, exit code). */
static yajl_gen gen_state(const struct oci_state *st, enum oci_status status, bool internal)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	if (!g)
		return NULL;
	if (!internal) /* runc prints the state indented */
		yajl_gen_config(g, yajl_gen_beautify, 1);
	yajl_gen_map_open(g);
	gen_kv(g, "ociVersion", OCI_SPEC_VERSION);
	gen_kv(g, "id", st->id);
	gen_kv(g, "status", oci_status_name(status));
	gen_str(g, "pid");
	/* runtime-spec: pid is required only while the process exists; runc prints 0 after. */
	yajl_gen_integer(g, internal || status != OCI_STOPPED ? st->pid : 0);
	gen_kv(g, "bundle", st->bundle);
	gen_kv(g, "rootfs", st->rootfs);
	gen_kv(g, "created", st->created);
	gen_annotations(g, st);
	if (internal) {
		gen_str(g, "pidStart");
		yajl_gen_integer(g, (long long)st->pid_start);
		gen_str(g, "exitCode");
		yajl_gen_integer(g, st->exit_code);
	}
	yajl_gen_map_close(g);
	return g;
}

int oci_state_write(const struct oci_state *st, struct sbx_err *err)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	oci_state_file(st->id, "state.json", path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	yajl_gen g = gen_state(st, st->status, true);
	if (!g)
		return sbx_err_set(err, ENOMEM, "write '%s'", path);
	const unsigned char *buf;
	size_t len;
	yajl_gen_get_buf(g, &buf, &len);
	FILE *f = fopen(tmp, "we");
	int e = 0;
	if (!f)
		e = errno;
	else if (fwrite(buf, 1, len, f) != len || fflush(f) != 0)
		e = errno ? errno : EIO;
	if (f && fclose(f) != 0 && !e)
		e = errno;
	yajl_gen_free(g);
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e) {
		unlink(tmp);
		return sbx_err_set(err, e, "write '%s'", path);
	}
	return 0;
}

void oci_state_print(FILE *f, const struct oci_state *st)
{
	yajl_gen g = gen_state(st, oci_state_status(st), false);
	if (!g)
		return;
	const unsigned char *buf;
	size_t len;
	yajl_gen_get_buf(g, &buf, &len);
	fwrite(buf, 1, len, f);
	yajl_gen_free(g);
}

/* ---- reading ---- */

static const char *get_str(yajl_val root, const char *key)
{
	const char *path[] = {key, NULL};
	yajl_val v = yajl_tree_get(root, path, yajl_t_string);
	return v ? YAJL_GET_STRING(v) : "";
}

static long long get_int(yajl_val root, const char *key, long long dflt)
{
	const char *path[] = {key, NULL};
	yajl_val v = yajl_tree_get(root, path, yajl_t_number);
	return v && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : dflt;
}

static int read_annotations(yajl_val root, struct oci_state *st)
{
	const char *path[] = {"annotations", NULL};
	yajl_val a = yajl_tree_get(root, path, yajl_t_object);
	if (!a || !a->u.object.len)
		return 0;
	st->annotations = calloc(a->u.object.len, sizeof(*st->annotations));
	if (!st->annotations)
		return -ENOMEM;
	for (size_t i = 0; i < a->u.object.len; i++) {
		if (!YAJL_IS_STRING(a->u.object.values[i]))
			continue;
		struct oci_kv *kv = &st->annotations[st->n_annotations++];
		kv->key = strdup(a->u.object.keys[i]);
		kv->value = strdup(a->u.object.values[i]->u.string);
		if (!kv->key || !kv->value)
			return -ENOMEM;
	}
	return 0;
}

static int parse_state(const char *text, struct oci_state *st)
{
	yajl_val root = yajl_tree_parse(text, NULL, 0);
	if (!root)
		return -EINVAL;
	snprintf(st->id, sizeof(st->id), "%s", get_str(root, "id"));
	const char *status = get_str(root, "status");
	st->status = OCI_STOPPED;
	for (size_t i = 0; i < ARRAY_SIZE(status_names); i++)
		if (!strcmp(status, status_names[i]))
			st->status = (enum oci_status)i;
	st->pid = (pid_t)get_int(root, "pid", 0);
	st->pid_start = (unsigned long long)get_int(root, "pidStart", 0);
	st->exit_code = (int)get_int(root, "exitCode", -1);
	snprintf(st->bundle, sizeof(st->bundle), "%s", get_str(root, "bundle"));
	snprintf(st->rootfs, sizeof(st->rootfs), "%s", get_str(root, "rootfs"));
	snprintf(st->created, sizeof(st->created), "%s", get_str(root, "created"));
	int r = read_annotations(root, st);
	yajl_tree_free(root);
	return r;
}

int oci_state_read(const char *id, struct oci_state *st, struct sbx_err *err)
{
	memset(st, 0, sizeof(*st));
	char path[PATH_MAX];
	oci_state_file(id, "state.json", path, sizeof(path));
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f) {
		char dir[PATH_MAX];
		oci_state_dir(id, dir, sizeof(dir));
		if (errno == ENOENT && access(dir, F_OK) < 0)
			return sbx_err_setx(err, ENOENT, "container %s does not exist", id);
		return sbx_err_set(err, errno, "read '%s'", path);
	}
	char buf[64 * 1024];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	int r = parse_state(buf, st);
	if (r < 0) {
		oci_state_free(st);
		return sbx_err_set(err, -r, "read '%s'", path);
	}
	snprintf(st->id, sizeof(st->id), "%s", id);
	return 0;
}

void oci_state_free(struct oci_state *st)
{
	for (size_t i = 0; st->annotations && i < st->n_annotations; i++) {
		free(st->annotations[i].key);
		free(st->annotations[i].value);
	}
	free(st->annotations);
	st->annotations = NULL;
	st->n_annotations = 0;
}

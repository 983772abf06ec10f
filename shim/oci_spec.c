/*
 * config.json -> struct oci_spec. The tree (yajl) lives only inside oci_spec_parse. Which fields
 * are applied, applied differently because of the VM, or not yet: docs/oci.md.
 */
#include "oci_spec.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "../common/cleanup.h"
#include "oci_guest_hooks.h"
#include "oci_log.h"
#include "run_opts.h"

#define SPEC_MAX_BYTES (4u << 20)
#define PATH_BUF 256

/*
 * ---- typed readers: each names the JSON path on a type error ----
 * A path starts with the document it is in, so the same readers serve config.json and
 * process.json (`exec --process`): "config.json: process.args[0]". A document's root is its name
 * and a colon ("config.json:"); child_path() and "%s[%zu]" extend it.
 */

static void child_path(char *out, const char *parent, const char *key)
{
	size_t n = strlen(parent);
	bool root = n && parent[n - 1] == ':';
	snprintf(out, PATH_BUF, "%s%s%s", parent, root ? " " : ".", key);
}

static int type_err(const char *path, const char *want, struct sbx_err *err)
{
	return sbx_err_setx(err, EINVAL, "%s: expected %s", path, want);
}

static int rd_str(yajl_val v, const char *path, char **out, struct sbx_err *err)
{
	if (!YAJL_IS_STRING(v))
		return type_err(path, "string", err);
	if (!(*out = strdup(v->u.string)))
		return sbx_err_set(err, ENOMEM, "%s", path);
	return 0;
}

static int rd_bool(yajl_val v, const char *path, bool *out, struct sbx_err *err)
{
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return type_err(path, "boolean", err);
	*out = YAJL_IS_TRUE(v);
	return 0;
}

static int rd_i64(yajl_val v, const char *path, int64_t min, int64_t max, int64_t *out,
		  struct sbx_err *err)
{
	if (!YAJL_IS_INTEGER(v))
		return type_err(path, "integer", err);
	long long x = YAJL_GET_INTEGER(v);
	if (x < min || x > max)
		return sbx_err_setx(err, ERANGE, "%s: %lld is out of range", path, x);
	*out = x;
	return 0;
}

static int rd_u32(yajl_val v, const char *path, uint32_t *out, struct sbx_err *err)
{
	int64_t x = 0;
	int r = rd_i64(v, path, 0, UINT32_MAX, &x, err);
	*out = (uint32_t)x;
	return r;
}

static int rd_u64(yajl_val v, const char *path, uint64_t *out, struct sbx_err *err)
{
	int64_t x = 0;
	int r = rd_i64(v, path, 0, INT64_MAX, &x, err);
	*out = (uint64_t)x;
	return r;
}

/* Seccomp argument values are full u64 (e.g. a negative fd as 2^64-1): no INT64_MAX cap. */
static int rd_u64_full(yajl_val v, const char *path, uint64_t *out, struct sbx_err *err)
{
	if (YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) >= 0) {
		*out = (uint64_t)YAJL_GET_INTEGER(v);
		return 0;
	}
	/* yajl keeps integers beyond int64 as doubles, with the original text alongside */
	char *end = NULL;
	if (YAJL_IS_NUMBER(v) && v->u.number.r && v->u.number.r[0] != '-') {
		errno = 0;
		unsigned long long x = strtoull(v->u.number.r, &end, 10);
		if (errno == 0 && end && *end == '\0') {
			*out = x;
			return 0;
		}
	}
	return type_err(path, "unsigned 64-bit integer", err);
}

/* A NULL-terminated array of strings. */
static int rd_strv(yajl_val v, const char *path, char ***out, size_t *n, struct sbx_err *err)
{
	if (!YAJL_IS_ARRAY(v))
		return type_err(path, "array of strings", err);
	size_t len = v->u.array.len;
	if (!(*out = calloc(len + 1, sizeof(char *))))
		return sbx_err_set(err, ENOMEM, "%s", path);
	for (*n = 0; *n < len; (*n)++) {
		char p[PATH_BUF];
		snprintf(p, sizeof(p), "%s[%zu]", path, *n);
		int r = rd_str(v->u.array.values[*n], p, &(*out)[*n], err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Arrays are calloc'd with a spare slot: the entry being read when a parse failed is freed too. */
static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i <= n; i++)
		free(v[i]);
	free(v);
}

/* An object's members; unknown keys are logged, not fatal (newer specs add fields). */
static int rd_obj(yajl_val v, const char *path, const char *const *known, struct sbx_err *err)
{
	if (!YAJL_IS_OBJECT(v))
		return type_err(path, "object", err);
	for (size_t i = 0; known && i < v->u.object.len; i++) {
		const char *k = v->u.object.keys[i];
		bool found = false;
		for (const char *const *q = known; *q && !found; q++)
			found = !strcmp(*q, k);
		if (!found) {
			char kp[PATH_BUF];
			child_path(kp, path, k);
			oci_debug("%s: unknown field, ignored", kp);
		}
	}
	return 0;
}

static yajl_val member(yajl_val obj, const char *key)
{
	if (!YAJL_IS_OBJECT(obj))
		return NULL;
	for (size_t i = 0; i < obj->u.object.len; i++)
		if (!strcmp(obj->u.object.keys[i], key))
			return obj->u.object.values[i];
	return NULL;
}

/* Reads member key of obj with fn when present (and not null). */
#define OPT(obj, parent, key, fn, ...)                                                             \
	({                                                                                         \
		yajl_val _v = member(obj, key);                                                    \
		char _p[PATH_BUF];                                                                 \
		child_path(_p, parent, key);                                                       \
		_v && !YAJL_IS_NULL(_v) ? fn(_v, _p, __VA_ARGS__) : 0;                             \
	})

static int rd_kv_obj(yajl_val v, const char *path, struct oci_kv **out, size_t *n,
		     struct sbx_err *err)
{
	if (!YAJL_IS_OBJECT(v))
		return type_err(path, "object of strings", err);
	if (!(*out = calloc(v->u.object.len + 1, sizeof(**out))))
		return sbx_err_set(err, ENOMEM, "%s", path);
	*n = 0;
	for (size_t i = 0; i < v->u.object.len; i++) {
		char p[PATH_BUF];
		child_path(p, path, v->u.object.keys[i]);
		struct oci_kv *kv = &(*out)[i];
		if (!(kv->key = strdup(v->u.object.keys[i])))
			return sbx_err_set(err, ENOMEM, "%s", p);
		/* Counted once it owns its key, so kv_free frees the key of an entry whose value
		 * is bad (fuzz_oci_spec: {"k": 1} leaked "k"). */
		*n = i + 1;
		int r = rd_str(v->u.object.values[i], p, &kv->value, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- process ---- */

static int rd_user(yajl_val v, const char *path, struct oci_process *p, struct sbx_err *err)
{
	static const char *const known[] = {"uid",   "gid",	 "additionalGids",
					    "umask", "username", NULL};
	int r = rd_obj(v, path, known, err);
	if (r < 0 || (r = OPT(v, path, "uid", rd_u32, &p->uid, err)) < 0 ||
	    (r = OPT(v, path, "gid", rd_u32, &p->gid, err)) < 0)
		return r;
	yajl_val u = member(v, "umask");
	if (u && !YAJL_IS_NULL(u)) {
		char up[PATH_BUF];
		child_path(up, path, "umask");
		if ((r = rd_u32(u, up, &p->umask, err)) < 0)
			return r;
		if (p->umask > 0777)
			return sbx_err_setx(err, ERANGE, "%s: %u is not a umask", up, p->umask);
		p->has_umask = true;
	}
	yajl_val g = member(v, "additionalGids");
	if (!g || YAJL_IS_NULL(g))
		return 0;
	char gp[PATH_BUF];
	child_path(gp, path, "additionalGids");
	if (!YAJL_IS_ARRAY(g))
		return type_err(gp, "array of integers", err);
	if (g->u.array.len > OCI_MAX_GIDS)
		return sbx_err_setx(err, E2BIG, "%s: more than %d groups", gp, OCI_MAX_GIDS);
	for (size_t i = 0; i < g->u.array.len; i++) {
		char ep[PATH_BUF];
		snprintf(ep, sizeof(ep), "%s[%zu]", gp, i);
		if ((r = rd_u32(g->u.array.values[i], ep, &p->add_gids[i], err)) < 0)
			return r;
		p->n_add_gids++;
	}
	return 0;
}

static int rd_console(yajl_val v, const char *path, struct oci_process *p, struct sbx_err *err)
{
	uint32_t h = 0, w = 0;
	int r = rd_obj(v, path, (const char *const[]){"height", "width", NULL}, err);
	if (r < 0 || (r = OPT(v, path, "height", rd_u32, &h, err)) < 0 ||
	    (r = OPT(v, path, "width", rd_u32, &w, err)) < 0)
		return r;
	p->console_rows = h > UINT16_MAX ? UINT16_MAX : (uint16_t)h;
	p->console_cols = w > UINT16_MAX ? UINT16_MAX : (uint16_t)w;
	return 0;
}

static int rd_rlimits(yajl_val v, const char *path, struct oci_process *p, struct sbx_err *err)
{
	if (!YAJL_IS_ARRAY(v))
		return type_err(path, "array", err);
	if (!(p->rlimits = calloc(v->u.array.len + 1, sizeof(*p->rlimits))))
		return sbx_err_set(err, ENOMEM, "%s", path);
	for (size_t i = 0; i < v->u.array.len; i++) {
		char ep[PATH_BUF];
		snprintf(ep, sizeof(ep), "%s[%zu]", path, i);
		yajl_val e = v->u.array.values[i];
		struct oci_rlimit *l = &p->rlimits[p->n_rlimits++];
		int r = rd_obj(e, ep, (const char *const[]){"type", "soft", "hard", NULL}, err);
		if (r < 0 || (r = OPT(e, ep, "type", rd_str, &l->type, err)) < 0 ||
		    (r = OPT(e, ep, "soft", rd_u64, &l->soft, err)) < 0 ||
		    (r = OPT(e, ep, "hard", rd_u64, &l->hard, err)) < 0)
			return r;
		if (!l->type || strncmp(l->type, "RLIMIT_", 7))
			return sbx_err_setx(err, EINVAL, "%s.type: expected RLIMIT_*", ep);
	}
	return 0;
}

static int rd_caps(yajl_val v, const char *path, struct oci_process *p, struct sbx_err *err)
{
	static const char *const sets[] = {"bounding",	"effective", "inheritable",
					   "permitted", "ambient",   NULL};
	char ***lists[] = {&p->caps_bounding, &p->caps_effective, &p->caps_inheritable,
			   &p->caps_permitted, &p->caps_ambient};
	size_t *counts[] = {&p->n_caps_bounding, &p->n_caps_effective, &p->n_caps_inheritable,
			    &p->n_caps_permitted, &p->n_caps_ambient};
	int r = rd_obj(v, path, sets, err);
	for (size_t i = 0; r == 0 && sets[i]; i++)
		r = OPT(v, path, sets[i], rd_strv, lists[i], counts[i], err);
	p->has_caps = true;
	return r;
}

static int rd_process(yajl_val v, const char *path, struct oci_process *p, struct sbx_err *err)
{
	static const char *const known[] = {"terminal",
					    "consoleSize",
					    "user",
					    "args",
					    "commandLine",
					    "env",
					    "cwd",
					    "capabilities",
					    "rlimits",
					    "noNewPrivileges",
					    "apparmorProfile",
					    "oomScoreAdj",
					    "selinuxLabel",
					    "ioPriority",
					    "scheduler",
					    "execCPUAffinity",
					    NULL};
	int64_t oom = 0;
	int r = rd_obj(v, path, known, err);
	if (r < 0 || (r = OPT(v, path, "terminal", rd_bool, &p->terminal, err)) < 0 ||
	    (r = OPT(v, path, "consoleSize", rd_console, p, err)) < 0 ||
	    (r = OPT(v, path, "user", rd_user, p, err)) < 0 ||
	    (r = OPT(v, path, "args", rd_strv, &p->args, &p->n_args, err)) < 0 ||
	    (r = OPT(v, path, "env", rd_strv, &p->env, &p->n_env, err)) < 0 ||
	    (r = OPT(v, path, "cwd", rd_str, &p->cwd, err)) < 0 ||
	    (r = OPT(v, path, "capabilities", rd_caps, p, err)) < 0 ||
	    (r = OPT(v, path, "rlimits", rd_rlimits, p, err)) < 0 ||
	    (r = OPT(v, path, "noNewPrivileges", rd_bool, &p->no_new_privileges, err)) < 0 ||
	    (r = OPT(v, path, "oomScoreAdj", rd_i64, -1000, 1000, &oom, err)) < 0)
		return r;
	p->has_oom_score_adj = member(v, "oomScoreAdj") != NULL;
	p->oom_score_adj = (int)oom;
	p->present = true;
	if (!p->args || p->n_args == 0)
		return sbx_err_setx(err, EINVAL, "%s.args: must not be empty", path);
	if (!p->cwd || p->cwd[0] != '/')
		return sbx_err_setx(err, EINVAL, "%s.cwd: must be an absolute path", path);
	if (p->n_env > RUN_MAX_ENV)
		return sbx_err_setx(err, E2BIG, "%s.env: more than %d entries", path, RUN_MAX_ENV);
	for (size_t i = 0; i < p->n_env; i++)
		if (!strchr(p->env[i], '=') || p->env[i][0] == '=')
			return sbx_err_setx(err, EINVAL, "%s.env[%zu]: expected KEY=VALUE", path,
					    i);
	return 0;
}

/* ---- root, mounts, hooks ---- */

static int rd_root(yajl_val v, const char *path, struct oci_spec *s, struct sbx_err *err)
{
	int r = rd_obj(v, path, (const char *const[]){"path", "readonly", NULL}, err);
	if (r < 0 || (r = OPT(v, path, "path", rd_str, &s->root_path, err)) < 0 ||
	    (r = OPT(v, path, "readonly", rd_bool, &s->root_readonly, err)) < 0)
		return r;
	if (!s->root_path || !s->root_path[0])
		return sbx_err_setx(err, EINVAL, "%s.path: missing", path);
	return 0;
}

static int rd_mounts(yajl_val v, const char *path, struct oci_spec *s, struct sbx_err *err)
{
	static const char *const known[] = {"destination", "type",	  "source", "options",
					    "uidMappings", "gidMappings", NULL};
	if (!YAJL_IS_ARRAY(v))
		return type_err(path, "array", err);
	if (!(s->mounts = calloc(v->u.array.len + 1, sizeof(*s->mounts))))
		return sbx_err_set(err, ENOMEM, "%s", path);
	for (size_t i = 0; i < v->u.array.len; i++) {
		char ep[PATH_BUF];
		snprintf(ep, sizeof(ep), "%s[%zu]", path, i);
		yajl_val e = v->u.array.values[i];
		struct oci_mount *m = &s->mounts[s->n_mounts++];
		int r = rd_obj(e, ep, known, err);
		if (r < 0 || (r = OPT(e, ep, "destination", rd_str, &m->destination, err)) < 0 ||
		    (r = OPT(e, ep, "type", rd_str, &m->type, err)) < 0 ||
		    (r = OPT(e, ep, "source", rd_str, &m->source, err)) < 0 ||
		    (r = OPT(e, ep, "options", rd_strv, &m->options, &m->n_options, err)) < 0)
			return r;
		if (!m->destination || m->destination[0] != '/')
			return sbx_err_setx(err, EINVAL, "%s.destination: must be an absolute path",
					    ep);
	}
	return 0;
}

static int rd_hook_list(yajl_val v, const char *path, struct oci_hook_list *l, struct sbx_err *err)
{
	static const char *const known[] = {"path", "args", "env", "timeout", NULL};
	if (!YAJL_IS_ARRAY(v))
		return type_err(path, "array", err);
	if (!(l->v = calloc(v->u.array.len + 1, sizeof(*l->v))))
		return sbx_err_set(err, ENOMEM, "%s", path);
	for (size_t i = 0; i < v->u.array.len; i++) {
		char ep[PATH_BUF];
		snprintf(ep, sizeof(ep), "%s[%zu]", path, i);
		yajl_val e = v->u.array.values[i];
		struct oci_hook *h = &l->v[l->n++];
		int64_t t = 0;
		int r = rd_obj(e, ep, known, err);
		if (r < 0 || (r = OPT(e, ep, "path", rd_str, &h->path, err)) < 0 ||
		    (r = OPT(e, ep, "args", rd_strv, &h->args, &h->n_args, err)) < 0 ||
		    (r = OPT(e, ep, "env", rd_strv, &h->env, &h->n_env, err)) < 0 ||
		    (r = OPT(e, ep, "timeout", rd_i64, 1, 3600, &t, err)) < 0)
			return r;
		h->timeout = (int)t;
		if (!h->path || h->path[0] != '/')
			return sbx_err_setx(err, EINVAL, "%s.path: must be an absolute path", ep);
	}
	return 0;
}

static const char *const hook_names[OCI_HOOK_KINDS] = {
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"};

const char *oci_hook_kind_name(enum oci_hook_kind k)
{
	return k < OCI_HOOK_KINDS ? hook_names[k] : "?";
}

static int rd_hooks(yajl_val v, const char *path, struct oci_spec *s, struct sbx_err *err)
{
	int r = rd_obj(v, path,
		       (const char *const[]){"prestart", "createRuntime", "createContainer",
					     "startContainer", "poststart", "poststop", NULL},
		       err);
	for (int k = 0; r == 0 && k < OCI_HOOK_KINDS; k++)
		r = OPT(v, path, hook_names[k], rd_hook_list, &s->hooks[k], err);
	return r ?: oci_guest_hooks_check(s, err);
}

/* ---- linux ---- */

static const char *const ns_types[] = {"pid",  "network", "mount", "ipc", "uts",
				       "user", "cgroup",  "time",  NULL};

static int rd_namespaces(yajl_val v, const char *path, struct oci_spec *s, struct sbx_err *err)
{
	if (!YAJL_IS_ARRAY(v))
		return type_err(path, "array", err);
	if (!(s->namespaces = calloc(v->u.array.len + 1, sizeof(*s->namespaces))))
		return sbx_err_set(err, ENOMEM, "%s", path);
	for (size_t i = 0; i < v->u.array.len; i++) {
		char ep[PATH_BUF];
		snprintf(ep, sizeof(ep), "%s[%zu]", path, i);
		yajl_val e = v->u.array.values[i];
		struct oci_namespace *ns = &s->namespaces[s->n_namespaces++];
		int r = rd_obj(e, ep, (const char *const[]){"type", "path", NULL}, err);
		if (r < 0 || (r = OPT(e, ep, "type", rd_str, &ns->type, err)) < 0 ||
		    (r = OPT(e, ep, "path", rd_str, &ns->path, err)) < 0)
			return r;
		bool known = false;
		for (const char *const *t = ns_types; ns->type && *t && !known; t++)
			known = !strcmp(*t, ns->type);
		if (!known)
			return sbx_err_setx(err, EINVAL, "%s.type: unknown namespace type '%s'", ep,
					    ns->type ? ns->type : "(missing)");
	}
	return 0;
}

static int rd_memory(yajl_val v, const char *path, struct oci_resources *res, struct sbx_err *err)
{
	int r = rd_obj(v, path, NULL, err);
	if (r < 0 ||
	    (r = OPT(v, path, "limit", rd_i64, -1, INT64_MAX, &res->memory_limit, err)) < 0 ||
	    (r = OPT(v, path, "reservation", rd_i64, -1, INT64_MAX, &res->memory_reservation,
		     err)) < 0)
		return r;
	return OPT(v, path, "swap", rd_i64, -1, INT64_MAX, &res->memory_swap, err);
}

static int rd_cpu(yajl_val v, const char *path, struct oci_resources *res, struct sbx_err *err)
{
	int64_t quota = 0;
	int r = rd_obj(v, path, NULL, err);
	if (r < 0 || (r = OPT(v, path, "quota", rd_i64, -1, INT64_MAX, &quota, err)) < 0 ||
	    (r = OPT(v, path, "period", rd_u64, &res->cpu_period, err)) < 0 ||
	    (r = OPT(v, path, "shares", rd_u64, &res->cpu_shares, err)) < 0 ||
	    (r = OPT(v, path, "cpus", rd_str, &res->cpu_cpus, err)) < 0)
		return r;
	res->cpu_quota = quota > 0 ? (uint64_t)quota : 0;
	return 0;
}

static int rd_pids(yajl_val v, const char *path, struct oci_resources *res, struct sbx_err *err)
{
	int r = rd_obj(v, path, NULL, err);
	return r < 0 ? r : OPT(v, path, "limit", rd_i64, -1, INT64_MAX, &res->pids_limit, err);
}

static int rd_resources(yajl_val v, const char *path, struct oci_resources *res,
			struct sbx_err *err)
{
	int r = rd_obj(v, path, NULL, err);
	if (r < 0 || (r = OPT(v, path, "memory", rd_memory, res, err)) < 0 ||
	    (r = OPT(v, path, "cpu", rd_cpu, res, err)) < 0 ||
	    (r = OPT(v, path, "pids", rd_pids, res, err)) < 0)
		return r;
	return 0;
}

static int rd_seccomp_arg(yajl_val e, const char *path, struct oci_seccomp_arg *a,
			  struct sbx_err *err)
{
	int r =
	    rd_obj(e, path, (const char *const[]){"index", "value", "valueTwo", "op", NULL}, err);
	if (r < 0 || (r = OPT(e, path, "index", rd_u32, &a->index, err)) < 0 ||
	    (r = OPT(e, path, "value", rd_u64_full, &a->value, err)) < 0 ||
	    (r = OPT(e, path, "valueTwo", rd_u64_full, &a->value_two, err)) < 0 ||
	    (r = OPT(e, path, "op", rd_str, &a->op, err)) < 0)
		return r;
	if (!a->op)
		return sbx_err_setx(err, EINVAL, "%s.op: missing", path);
	return 0;
}

static int rd_seccomp_rule(yajl_val e, const char *path, struct oci_seccomp_rule *s,
			   struct sbx_err *err)
{
	static const char *const known[] = {"names",   "action",   "errnoRet", "args",
					    "comment", "includes", "excludes", NULL};
	int r = rd_obj(e, path, known, err);
	if (r < 0 || (r = OPT(e, path, "names", rd_strv, &s->names, &s->n_names, err)) < 0 ||
	    (r = OPT(e, path, "action", rd_str, &s->action, err)) < 0 ||
	    (r = OPT(e, path, "errnoRet", rd_u32, &s->errno_ret, err)) < 0)
		return r;
	s->has_errno_ret = member(e, "errnoRet") && !YAJL_IS_NULL(member(e, "errnoRet"));
	if (!s->action)
		return sbx_err_setx(err, EINVAL, "%s.action: missing", path);
	yajl_val args = member(e, "args");
	if (!args || YAJL_IS_NULL(args))
		return 0;
	char ap[PATH_BUF];
	child_path(ap, path, "args");
	if (!YAJL_IS_ARRAY(args))
		return type_err(ap, "array", err);
	if (!(s->args = calloc(args->u.array.len + 1, sizeof(*s->args))))
		return sbx_err_set(err, ENOMEM, "%s", ap);
	for (size_t i = 0; i < args->u.array.len; i++) {
		char ep[PATH_BUF];
		snprintf(ep, sizeof(ep), "%s[%zu]", ap, i);
		if ((r = rd_seccomp_arg(args->u.array.values[i], ep, &s->args[s->n_args++], err)) <
		    0)
			return r;
	}
	return 0;
}

static int rd_seccomp(yajl_val v, const char *path, struct oci_spec *s, struct sbx_err *err)
{
	static const char *const known[] = {
	    "defaultAction", "defaultErrnoRet", "architectures",    "flags",
	    "syscalls",	     "listenerPath",	"listenerMetadata", NULL};
	struct oci_seccomp *sc = &s->seccomp;
	int r = rd_obj(v, path, known, err);
	if (r < 0 || (r = OPT(v, path, "defaultAction", rd_str, &sc->default_action, err)) < 0 ||
	    (r = OPT(v, path, "defaultErrnoRet", rd_u32, &sc->default_errno_ret, err)) < 0 ||
	    (r = OPT(v, path, "architectures", rd_strv, &sc->architectures, &sc->n_architectures,
		     err)) < 0 ||
	    (r = OPT(v, path, "flags", rd_strv, &sc->flags, &sc->n_flags, err)) < 0)
		return r;
	sc->has_default_errno_ret =
	    member(v, "defaultErrnoRet") && !YAJL_IS_NULL(member(v, "defaultErrnoRet"));
	s->has_seccomp = true;
	if (!sc->default_action)
		return sbx_err_setx(err, EINVAL, "%s.defaultAction: missing", path);
	yajl_val list = member(v, "syscalls");
	if (!list || YAJL_IS_NULL(list))
		return 0;
	char lp[PATH_BUF];
	child_path(lp, path, "syscalls");
	if (!YAJL_IS_ARRAY(list))
		return type_err(lp, "array", err);
	if (!(sc->syscalls = calloc(list->u.array.len + 1, sizeof(*sc->syscalls))))
		return sbx_err_set(err, ENOMEM, "%s", lp);
	for (size_t i = 0; i < list->u.array.len; i++) {
		char ep[PATH_BUF];
		snprintf(ep, sizeof(ep), "%s[%zu]", lp, i);
		r = rd_seccomp_rule(list->u.array.values[i], ep, &sc->syscalls[sc->n_syscalls++],
				    err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int rd_linux(yajl_val v, const char *path, struct oci_spec *s, struct sbx_err *err)
{
	static const char *const known[] = {"namespaces",  "resources",		"seccomp",
					    "maskedPaths", "readonlyPaths",	"sysctl",
					    "uidMappings", "gidMappings",	"devices",
					    "cgroupsPath", "rootfsPropagation", "mountLabel",
					    "personality", "intelRdt",		NULL};
	int r = rd_obj(v, path, known, err);
	if (r < 0 || (r = OPT(v, path, "namespaces", rd_namespaces, s, err)) < 0 ||
	    (r = OPT(v, path, "resources", rd_resources, &s->resources, err)) < 0 ||
	    (r = OPT(v, path, "seccomp", rd_seccomp, s, err)) < 0 ||
	    (r = OPT(v, path, "maskedPaths", rd_strv, &s->masked_paths, &s->n_masked_paths, err)) <
		0 ||
	    (r = OPT(v, path, "readonlyPaths", rd_strv, &s->readonly_paths, &s->n_readonly_paths,
		     err)) < 0 ||
	    (r = OPT(v, path, "sysctl", rd_kv_obj, &s->sysctl, &s->n_sysctl, err)) < 0 ||
	    (r = OPT(v, path, "cgroupsPath", rd_str, &s->cgroups_path, err)) < 0)
		return r;
	return 0;
}

/* ---- annotations and policy ---- */

static int apply_annotations(struct oci_spec *s, struct sbx_err *err)
{
	for (size_t i = 0; i < s->n_annotations; i++) {
		const struct oci_kv *kv = &s->annotations[i];
		int r = 0;
		if (!strcmp(kv->key, "io.sandbox.vcpus"))
			r = parse_cpus(kv->value, &s->vcpus, err);
		else if (!strcmp(kv->key, "io.sandbox.memory"))
			r = parse_memory_mib(kv->value, &s->memory_mib, err);
		if (r < 0)
			return sbx_err_wrap(err, "config.json: annotations.%s", kv->key);
	}
	return 0;
}

static int rd_top(yajl_val root, struct oci_spec *s, struct sbx_err *err)
{
	static const char *const known[] = {"ociVersion",  "process", "root",	  "hostname",
					    "domainname",  "mounts",  "hooks",	  "linux",
					    "annotations", "vm",      "solaris",  "windows",
					    "zos",	   "hooks",   "platform", NULL};
	const char *doc = "config.json:";
	int r = rd_obj(root, doc, known, err);
	if (r < 0)
		return sbx_err_setx(err, EINVAL, "config.json: expected a JSON object");
	if ((r = OPT(root, doc, "ociVersion", rd_str, &s->oci_version, err)) < 0 ||
	    (r = OPT(root, doc, "process", rd_process, &s->process, err)) < 0 ||
	    (r = OPT(root, doc, "root", rd_root, s, err)) < 0 ||
	    (r = OPT(root, doc, "hostname", rd_str, &s->hostname, err)) < 0 ||
	    (r = OPT(root, doc, "domainname", rd_str, &s->domainname, err)) < 0 ||
	    (r = OPT(root, doc, "mounts", rd_mounts, s, err)) < 0 ||
	    (r = OPT(root, doc, "hooks", rd_hooks, s, err)) < 0 ||
	    (r = OPT(root, doc, "linux", rd_linux, s, err)) < 0 ||
	    (r = OPT(root, doc, "annotations", rd_kv_obj, &s->annotations, &s->n_annotations,
		     err)) < 0)
		return r;
	if (!s->oci_version)
		return sbx_err_setx(err, EINVAL, "config.json: ociVersion: missing");
	if (strncmp(s->oci_version, "1.", 2))
		return sbx_err_setx(
		    err, EINVAL, "config.json: ociVersion: '%s' is not a 1.x runtime-spec version",
		    s->oci_version);
	if (!s->root_path)
		return sbx_err_setx(err, EINVAL, "config.json: root: missing");
	/* The kernel's limit (HOST_NAME_MAX, __NEW_UTS_LEN): refused here, not in the guest. */
	if (s->hostname && strlen(s->hostname) > 64)
		return sbx_err_setx(err, EINVAL, "config.json: hostname: longer than 64 bytes");
	if (s->domainname && strlen(s->domainname) > 64)
		return sbx_err_setx(err, EINVAL, "config.json: domainname: longer than 64 bytes");
	if (!s->process.present)
		return sbx_err_setx(err, EINVAL, "config.json: process: missing");
	return apply_annotations(s, err);
}

/* The tree of document doc ("config.json"); a NUL inside is refused, not parsed up to. */
static int parse_doc(const char *doc, const char *text, size_t len, yajl_val *root,
		     struct sbx_err *err)
{
	if (len > SPEC_MAX_BYTES)
		return sbx_err_setx(err, E2BIG, "%s: larger than %u bytes", doc, SPEC_MAX_BYTES);
	cleanup_free char *copy = strndup(text, len); /* yajl_tree_parse wants a C string */
	if (!copy)
		return sbx_err_set(err, ENOMEM, "%s", doc);
	if (strlen(copy) != len)
		return sbx_err_setx(err, EINVAL, "%s: contains a NUL byte", doc);
	char ebuf[256] = "";
	*root = yajl_tree_parse(copy, ebuf, sizeof(ebuf));
	if (!*root) {
		ebuf[strcspn(ebuf, "\n")] = '\0';
		return sbx_err_setx(err, EINVAL, "%s: invalid JSON: %s", doc,
				    ebuf[0] ? ebuf : "parse error");
	}
	return 0;
}

int oci_spec_parse(const char *text, size_t len, struct oci_spec *spec, struct sbx_err *err)
{
	memset(spec, 0, sizeof(*spec));
	yajl_val root = NULL;
	int r = parse_doc("config.json", text, len, &root, err);
	if (r < 0)
		return r;
	r = rd_top(root, spec, err);
	yajl_tree_free(root);
	if (r < 0) {
		oci_spec_free(spec);
		return r;
	}
	return 0;
}

int oci_spec_load(const char *bundle, struct oci_spec *spec, struct sbx_err *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f)
		return sbx_err_set(err, errno, "open '%s'", path);
	cleanup_free char *buf = malloc(SPEC_MAX_BYTES + 1);
	if (!buf)
		return sbx_err_set(err, ENOMEM, "read '%s'", path);
	size_t n = fread(buf, 1, SPEC_MAX_BYTES + 1, f);
	if (ferror(f))
		return sbx_err_set(err, EIO, "read '%s'", path);
	return oci_spec_parse(buf, n, spec, err);
}

static void kv_free(struct oci_kv *kv, size_t n)
{
	for (size_t i = 0; kv && i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static void seccomp_free(struct oci_seccomp *sc)
{
	free(sc->default_action);
	strv_free(sc->architectures, sc->n_architectures);
	strv_free(sc->flags, sc->n_flags);
	for (size_t i = 0; sc->syscalls && i <= sc->n_syscalls; i++) {
		struct oci_seccomp_rule *rule = &sc->syscalls[i];
		strv_free(rule->names, rule->n_names);
		free(rule->action);
		for (size_t j = 0; rule->args && j <= rule->n_args; j++)
			free(rule->args[j].op);
		free(rule->args);
	}
	free(sc->syscalls);
}

void oci_spec_free(struct oci_spec *s)
{
	struct oci_process *p = &s->process;
	free(s->oci_version);
	strv_free(p->args, p->n_args);
	strv_free(p->env, p->n_env);
	free(p->cwd);
	for (size_t i = 0; p->rlimits && i < p->n_rlimits; i++)
		free(p->rlimits[i].type);
	free(p->rlimits);
	strv_free(p->caps_bounding, p->n_caps_bounding);
	strv_free(p->caps_effective, p->n_caps_effective);
	strv_free(p->caps_inheritable, p->n_caps_inheritable);
	strv_free(p->caps_permitted, p->n_caps_permitted);
	strv_free(p->caps_ambient, p->n_caps_ambient);
	free(s->root_path);
	free(s->hostname);
	free(s->domainname);
	for (size_t i = 0; s->mounts && i < s->n_mounts; i++) {
		free(s->mounts[i].destination);
		free(s->mounts[i].type);
		free(s->mounts[i].source);
		strv_free(s->mounts[i].options, s->mounts[i].n_options);
	}
	free(s->mounts);
	for (int k = 0; k < OCI_HOOK_KINDS; k++) {
		for (size_t i = 0; s->hooks[k].v && i < s->hooks[k].n; i++) {
			free(s->hooks[k].v[i].path);
			strv_free(s->hooks[k].v[i].args, s->hooks[k].v[i].n_args);
			strv_free(s->hooks[k].v[i].env, s->hooks[k].v[i].n_env);
		}
		free(s->hooks[k].v);
	}
	for (size_t i = 0; s->namespaces && i < s->n_namespaces; i++) {
		free(s->namespaces[i].type);
		free(s->namespaces[i].path);
	}
	free(s->namespaces);
	free(s->resources.cpu_cpus);
	free(s->cgroups_path);
	seccomp_free(&s->seccomp);
	strv_free(s->masked_paths, s->n_masked_paths);
	strv_free(s->readonly_paths, s->n_readonly_paths);
	kv_free(s->sysctl, s->n_sysctl);
	kv_free(s->annotations, s->n_annotations);
	memset(s, 0, sizeof(*s));
}

int oci_process_parse(const char *text, size_t len, struct oci_process *p, struct sbx_err *err)
{
	struct oci_spec s = {0};
	yajl_val root = NULL;
	int r = parse_doc("process.json", text, len, &root, err);
	if (r < 0)
		return r;
	/* Paths as in config.json ("process.args"), so a message reads the same in both. */
	r = rd_process(root, "process.json: process", &s.process, err);
	yajl_tree_free(root);
	if (r < 0) {
		oci_spec_free(&s);
		return r;
	}
	*p = s.process;
	return 0;
}

void oci_process_free(struct oci_process *p)
{
	struct oci_spec s = {.process = *p};
	oci_spec_free(&s);
	memset(p, 0, sizeof(*p));
}

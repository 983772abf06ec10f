#include "image_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cleanup.h"
#include "image_json.h"

static void free_list(char **l, size_t n)
{
	for (size_t i = 0; l && i < n; i++)
		free(l[i]);
	free(l);
}

/* A member that is absent, null or an array of strings; anything else is an error. */
static int read_list(json_val cfg, const char *key, char ***out, size_t *n, struct sbx_err *err)
{
	*out = NULL;
	*n = 0;
	json_val v = json_get(cfg, key);
	size_t len = json_array_len(v);
	if (!len)
		return 0;
	if (len > IMAGE_CONFIG_MAX_LIST)
		return sbx_err_setx(err, E2BIG, "image config: config.%s has %zu entries (max %d)",
				    key, len, IMAGE_CONFIG_MAX_LIST);
	char **l = calloc(len + 1, sizeof(*l));
	if (!l)
		return sbx_err_set(err, ENOMEM, "image config");
	for (size_t i = 0; i < len; i++) {
		const char *s = json_str(json_array_at(v, i));
		if (!s || !(l[i] = strdup(s))) {
			free_list(l, i);
			return sbx_err_setx(err, s ? ENOMEM : EINVAL,
					    "image config: config.%s[%zu] is not a string", key, i);
		}
	}
	*out = l;
	*n = len;
	return 0;
}

/* A member that is absent, null, "" or a string. */
static int read_str(json_val cfg, const char *key, char **out, struct sbx_err *err)
{
	*out = NULL;
	json_val v = json_get(cfg, key);
	const char *s = json_str(v);
	if (!s || !s[0])
		return 0;
	if (!(*out = strdup(s)))
		return sbx_err_set(err, ENOMEM, "image config");
	return 0;
}

static int check_env(const struct image_config *c, struct sbx_err *err)
{
	for (size_t i = 0; i < c->n_env; i++) {
		const char *eq = strchr(c->env[i], '=');
		if (!eq || eq == c->env[i])
			return sbx_err_setx(
			    err, EINVAL, "image config: config.Env entry '%.64s' is not KEY=VALUE",
			    c->env[i]);
	}
	return 0;
}

/* Images built by hand may say "app"; docker's builder always writes an absolute path. */
static int absolute_workdir(struct image_config *c, struct sbx_err *err)
{
	if (!c->workdir || c->workdir[0] == '/')
		return 0;
	char *abs;
	if (asprintf(&abs, "/%s", c->workdir) < 0)
		return sbx_err_set(err, ENOMEM, "image config");
	free(c->workdir);
	c->workdir = abs;
	return 0;
}

int image_config_parse(const char *json, size_t len, struct image_config *out, struct sbx_err *err)
{
	memset(out, 0, sizeof(*out));
	cleanup_json_val json_val root = NULL;
	int r = json_parse(json, len, &root, "image config", err);
	if (r < 0)
		return r;
	if (!json_is_object(root))
		return sbx_err_setx(err, EINVAL, "image config: not a JSON object");
	/* "config" may be absent or null: an image with no defaults at all. */
	json_val cfg = json_get(root, "config");
	if (cfg && !json_is_object(cfg) && (json_str(cfg) || json_array_len(cfg)))
		return sbx_err_setx(err, EINVAL, "image config: 'config' is not an object");
	if ((r = read_list(cfg, "Entrypoint", &out->entrypoint, &out->n_entrypoint, err)) < 0 ||
	    (r = read_list(cfg, "Cmd", &out->cmd, &out->n_cmd, err)) < 0 ||
	    (r = read_list(cfg, "Env", &out->env, &out->n_env, err)) < 0 ||
	    (r = read_str(cfg, "WorkingDir", &out->workdir, err)) < 0 ||
	    (r = read_str(cfg, "User", &out->user, err)) < 0 || (r = check_env(out, err)) < 0 ||
	    (r = absolute_workdir(out, err)) < 0) {
		image_config_free(out);
		return r;
	}
	return 0;
}

void image_config_free(struct image_config *c)
{
	free_list(c->entrypoint, c->n_entrypoint);
	free_list(c->cmd, c->n_cmd);
	free_list(c->env, c->n_env);
	free(c->workdir);
	free(c->user);
	memset(c, 0, sizeof(*c));
}

static bool env_overridden(const struct image_overrides *o, const char *kv)
{
	size_t kl = strcspn(kv, "=");
	for (size_t i = 0; i < o->n_env; i++)
		if (!strncmp(o->env[i], kv, kl) && o->env[i][kl] == '=')
			return true;
	return false;
}

static int build_argv(const struct image_config *c, const struct image_overrides *o,
		      struct image_process *p, struct sbx_err *err)
{
	char *const *ep = c->entrypoint, *const *cmd = c->cmd;
	size_t n_ep = c->n_entrypoint, n_cmd = c->n_cmd;
	char *flag_ep[1] = {(char *)o->entrypoint};
	if (o->entrypoint) {
		/* docker: setting the entrypoint resets the image's Cmd too. */
		ep = flag_ep;
		n_ep = o->entrypoint[0] ? 1 : 0;
		n_cmd = 0;
	}
	if (o->n_args) {
		cmd = o->args;
		n_cmd = o->n_args;
	}
	if (!n_ep && !n_cmd)
		return sbx_err_setx(
		    err, EINVAL,
		    "no command: the image sets no Entrypoint or Cmd; give one after "
		    "the image name");
	if (!(p->argv = calloc(n_ep + n_cmd + 1, sizeof(*p->argv))))
		return sbx_err_set(err, ENOMEM, "argv");
	for (size_t i = 0; i < n_ep; i++)
		p->argv[p->argc++] = ep[i];
	for (size_t i = 0; i < n_cmd; i++)
		p->argv[p->argc++] = cmd[i];
	return 0;
}

int image_config_apply(const struct image_config *c, const struct image_overrides *o,
		       struct image_process *out, struct sbx_err *err)
{
	memset(out, 0, sizeof(*out));
	int r = build_argv(c, o, out, err);
	if (r < 0)
		return r;
	if (!(out->env = calloc(c->n_env + o->n_env + 1, sizeof(*out->env)))) {
		image_process_free(out);
		return sbx_err_set(err, ENOMEM, "env");
	}
	for (size_t i = 0; i < c->n_env; i++)
		if (!env_overridden(o, c->env[i]))
			out->env[out->n_env++] = c->env[i];
	for (size_t i = 0; i < o->n_env; i++)
		out->env[out->n_env++] = o->env[i];
	out->workdir = o->workdir ? o->workdir : c->workdir ? c->workdir : "/";
	out->user = o->user ? o->user : c->user;
	return 0;
}

void image_process_free(struct image_process *p)
{
	free(p->argv);
	free(p->env);
	memset(p, 0, sizeof(*p));
}

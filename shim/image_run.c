#include "image_run.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../common/cleanup.h"

/* Configs carry history and labels; anything near this is not a real image config. */
#define IMAGE_CONFIG_MAX (4u << 20)

static int load_config(struct image_store *s, const struct image_record *img,
		       struct image_config *out, struct sbx_err *err)
{
	cleanup_free char *json = NULL;
	size_t len = 0;
	int r = image_store_read_blob(s, img->config_digest, IMAGE_CONFIG_MAX, &json, &len, err);
	if (r < 0)
		return r;
	return image_config_parse(json, len, out, err);
}

/* Points o at the process the image config and the command line make together. */
static int apply_process(struct run_opts *o, struct image_run *ir, struct sbx_err *err)
{
	struct image_overrides ov = {
	    .entrypoint = o->entrypoint,
	    .args = o->argv,
	    .n_args = (size_t)o->argc,
	    .env = o->env,
	    .n_env = o->n_env,
	    .workdir = o->workdir,
	    .user = o->user,
	};
	int r = image_config_apply(&ir->config, &ov, &ir->proc, err);
	if (r < 0)
		return sbx_err_wrap(err, "image '%s'", o->image);
	if (ir->proc.n_env > RUN_MAX_ENV)
		return sbx_err_setx(err, E2BIG, "image '%s': %zu environment variables (max %d)",
				    o->image, ir->proc.n_env, RUN_MAX_ENV);
	o->argv = ir->proc.argv;
	o->argc = (int)ir->proc.argc;
	memcpy(o->env, ir->proc.env, ir->proc.n_env * sizeof(*o->env));
	o->n_env = ir->proc.n_env;
	o->workdir = ir->proc.workdir;
	o->user = ir->proc.user;
	return 0;
}

int image_run_prepare(struct run_opts *o, struct image_run *ir, struct sbx_err *err)
{
	memset(ir, 0, sizeof(*ir));
	struct image_store s;
	int r = image_store_open(&s, o->store_root, err);
	if (r < 0)
		return r;
	struct image_record img = {0};
	r = image_store_find(&s, o->image, &img, err);
	/* The config first: a run with nothing to run must not cost an erofs build. */
	if (r == 0 && (r = load_config(&s, &img, &ir->config, err)) < 0)
		sbx_err_wrap(err, "image '%s'", o->image);
	if (r == 0)
		r = apply_process(o, ir, err);
	if (r == 0 && (r = image_rootfs_get(&s, &img, &ir->rootfs, err)) < 0)
		sbx_err_wrap(err, "image '%s'", o->image);
	if (r == 0 && ir->rootfs.built)
		fprintf(stderr,
			"sandbox: built the root filesystem of %s (cached for later runs)\n",
			o->image);
	o->user_db = ir->rootfs.userdb;
	image_record_free(&img);
	image_store_close(&s);
	return r;
}

void image_run_free(struct image_run *ir)
{
	image_process_free(&ir->proc);
	image_config_free(&ir->config);
}

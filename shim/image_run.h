/*
 * The IMAGE form of `sandbox run`: finds the image in the store, gets its cached erofs (built on
 * first use) and turns its config plus the command line into the process to run.
 */
#ifndef SANDBOX_IMAGE_RUN_H
#define SANDBOX_IMAGE_RUN_H

#include "../common/error.h"
#include "image_config.h"
#include "image_rootfs.h"
#include "run_opts.h"

struct image_run {
	struct image_rootfs rootfs;
	struct image_config config;
	struct image_process proc;
};

/*
 * o->image names the image; rewrites o's argv, env, workdir, user and user_db from the image
 * config and o's own overrides (docker's rules, image_config.h). o keeps pointing into ir.
 */
int image_run_prepare(struct run_opts *o, struct image_run *ir, struct sbx_err *err);
/* Accepts a zeroed, half-prepared or prepared ir. */
void image_run_free(struct image_run *ir);

#endif

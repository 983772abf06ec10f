/*
 * The OCI image config (application/vnd.oci.image.config.v1+json, docker's container config):
 * the part `sandbox run IMAGE` uses (Entrypoint, Cmd, Env, WorkingDir, User), parsed once into
 * C strings, and docker's rules for combining it with the command line.
 */
#ifndef SANDBOX_IMAGE_CONFIG_H
#define SANDBOX_IMAGE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/error.h"

/* More argv or Env entries than this in a config is refused (the run request carries them). */
#define IMAGE_CONFIG_MAX_LIST 1024

struct image_config {
	char **entrypoint;
	size_t n_entrypoint;
	char **cmd;
	size_t n_cmd;
	char **env; /* "KEY=VALUE" */
	size_t n_env;
	char *workdir; /* absolute, NULL when the image sets none */
	char *user;    /* NULL when the image sets none */
};

/* Parses len bytes of config JSON; errors name the field that is wrong. */
int image_config_parse(const char *json, size_t len, struct image_config *out, struct sbx_err *err);
void image_config_free(struct image_config *c);

/* What the command line says; NULL / 0 where it says nothing. */
struct image_overrides {
	const char *entrypoint; /* --entrypoint; "" clears the image's */
	char *const *args;	/* CMD... after IMAGE */
	size_t n_args;
	const char *const *env; /* -e KEY=VALUE */
	size_t n_env;
	const char *workdir; /* -w */
	const char *user;    /* -u */
};

/* The process to start; strings point into the config and the overrides (arrays are owned). */
struct image_process {
	char **argv; /* NULL-terminated */
	size_t argc;
	const char **env; /* image Env not overridden by -e, then -e, in order */
	size_t n_env;
	const char *workdir; /* never NULL */
	const char *user;    /* NULL: root */
};

/*
 * Docker's rules: --entrypoint replaces the image's Entrypoint and drops its Cmd; CMD args replace
 * Cmd; argv = Entrypoint + Cmd (an error if empty); -e wins over Env by key; -w over WorkingDir
 * ("/" by default); -u over User.
 */
int image_config_apply(const struct image_config *c, const struct image_overrides *o,
		       struct image_process *out, struct sbx_err *err);
void image_process_free(struct image_process *p);

#endif

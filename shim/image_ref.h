/*
 * Image references, the way docker spells them: [domain[:port]/]path[:tag][@digest].
 * A reference without a domain is on docker.io; a one-component docker.io path is under
 * "library/". "busybox" normalises to docker.io/library/busybox:latest.
 */
#ifndef SANDBOX_IMAGE_REF_H
#define SANDBOX_IMAGE_REF_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/error.h"

#define IMAGE_REF_NAME_MAX 256 /* docker's limit on the whole name is 255 */
#define IMAGE_REF_TAG_MAX 129  /* 128 characters */
#define IMAGE_REF_DIGEST_MAX 136

#define IMAGE_REF_DEFAULT_DOMAIN "docker.io"
#define IMAGE_REF_DEFAULT_TAG "latest"

struct image_ref {
	char domain[IMAGE_REF_NAME_MAX];   /* "docker.io", "127.0.0.1:5000" */
	char path[IMAGE_REF_NAME_MAX];	   /* "library/busybox" */
	char name[IMAGE_REF_NAME_MAX];	   /* domain + "/" + path */
	char tag[IMAGE_REF_TAG_MAX];	   /* "" when none was given */
	char digest[IMAGE_REF_DIGEST_MAX]; /* "" when none was given */
};

/* Parses and normalises s. A reference with neither tag nor digest gets tag "latest" when
 * default_tag is true. Errors name what is wrong with s (-EINVAL). */
int image_ref_parse(const char *s, bool default_tag, struct image_ref *out, struct sbx_err *err);

/* The host to talk to for domain: docker.io is served by registry-1.docker.io. */
const char *image_ref_registry_host(const struct image_ref *ref);

/* True for hosts reached over plain http without --insecure: localhost and 127.0.0.0/8, ::1. */
bool image_ref_is_loopback(const char *domain);

/* "name:tag", "name@digest" or "name:tag@digest" into buf. */
int image_ref_format(const struct image_ref *ref, char *buf, size_t len);

/* A docker tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
bool image_ref_tag_valid(const char *tag);

#endif

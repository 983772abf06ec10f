/*
 * Error contract (docs/architecture.md): fallible functions return a negative errno-style int
 * (or NULL) and fill a struct sbx_err once, where the context is known. Callers add context with
 * sbx_err_wrap() on the way up; the top level prints it once.
 */
#ifndef SANDBOX_ERROR_H
#define SANDBOX_ERROR_H

#include <stdarg.h>

#define SBX_ERR_MSG_MAX 512

struct sbx_err {
	int code; /* positive errno value, 0 when unset */
	char msg[SBX_ERR_MSG_MAX];
};

/* Sets err (if non-NULL) to "<fmt>: strerror(code)" and returns -code. */
int sbx_err_set(struct sbx_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, without the strerror suffix. */
int sbx_err_setx(struct sbx_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with "<fmt>: "; returns -err->code. */
int sbx_err_wrap(struct sbx_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

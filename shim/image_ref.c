/* Docker image reference parsing and docker.io normalisation (image_ref.h). */
#include "image_ref.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static bool component_valid(const char *s, size_t n)
{
	if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i < n; i++) {
		if (is_lower_alnum(s[i]))
			continue;
		if (s[i] == '.' || s[i] == '_') {
			size_t run = 1;
			while (i + run < n && s[i + run] == '_' && s[i] == '_')
				run++;
			if (run > 2 || !is_lower_alnum(s[i + run]))
				return false;
			i += run - 1;
		} else if (s[i] == '-') {
			while (i + 1 < n && s[i + 1] == '-')
				i++;
			if (!is_lower_alnum(s[i + 1]))
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* host[:port]: letters, digits, '-', '.', or a bracketed IPv6 literal. */
static bool domain_valid(const char *s, size_t n)
{
	if (n == 0)
		return false;
	size_t host_end = n;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return false;
		host_end = (size_t)(close - s) + 1;
		for (size_t i = 1; i + 1 < host_end; i++)
			if (!isxdigit((unsigned char)s[i]) && s[i] != ':')
				return false;
	} else {
		const char *colon = memchr(s, ':', n);
		if (colon)
			host_end = (size_t)(colon - s);
		if (host_end == 0)
			return false;
		for (size_t i = 0; i < host_end; i++)
			if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
				return false;
	}
	if (host_end == n)
		return true;
	if (s[host_end] != ':' || host_end + 1 == n || n - host_end - 1 > 5)
		return false;
	unsigned port = 0;
	for (size_t i = host_end + 1; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		port = port * 10 + (unsigned)(s[i] - '0');
	}
	return port >= 1 && port <= 65535; /* else curl's "bad/illegal format" much later */
}

bool image_ref_tag_valid(const char *tag)
{
	size_t n = strlen(tag);
	if (n == 0 || n > IMAGE_REF_TAG_MAX - 1)
		return false;
	if (!isalnum((unsigned char)tag[0]) && tag[0] != '_')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)tag[i]) && !strchr("_.-", tag[i]))
			return false;
	return true;
}

/* algorithm ":" hex; sha256 must be exactly 64 lowercase hex digits. */
static bool digest_valid(const char *d)
{
	const char *colon = strchr(d, ':');
	if (!colon || colon == d || strlen(d) >= IMAGE_REF_DIGEST_MAX)
		return false;
	for (const char *p = d; p < colon; p++)
		if (!is_lower_alnum(*p) && !strchr("+._-", *p))
			return false;
	size_t hex = strlen(colon + 1);
	if (hex < 32)
		return false;
	for (const char *p = colon + 1; *p; p++)
		if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p))
			return false;
	if (!strncmp(d, "sha256:", 7) && hex != 64)
		return false;
	return true;
}

/* Docker's rule: the first component is a domain when it has a '.' or ':' or is "localhost". */
static bool looks_like_domain(const char *s, size_t n)
{
	return memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && !memcmp(s, "localhost", 9));
}

static int split_tail(char *buf, struct image_ref *out, const char *s, struct sbx_err *err)
{
	char *at = strchr(buf, '@');
	if (at) {
		*at = '\0';
		if (!digest_valid(at + 1))
			return sbx_err_setx(err, EINVAL,
					    "invalid image reference '%s': bad digest '%s' (want "
					    "sha256:<64 hex digits>)",
					    s, at + 1);
		snprintf(out->digest, sizeof(out->digest), "%s", at + 1);
	}
	/* A ':' after the last '/' starts the tag; earlier ones belong to a domain's port. */
	char *slash = strrchr(buf, '/');
	char *colon = strrchr(slash ? slash : buf, ':');
	if (colon) {
		*colon = '\0';
		if (!image_ref_tag_valid(colon + 1))
			return sbx_err_setx(err, EINVAL,
					    "invalid image reference '%s': bad tag '%s'", s,
					    colon + 1);
		snprintf(out->tag, sizeof(out->tag), "%s", colon + 1);
	}
	return 0;
}

static int split_name(const char *name, struct image_ref *out, const char *s, struct sbx_err *err)
{
	const char *slash = strchr(name, '/');
	const char *path = name;
	if (slash && looks_like_domain(name, (size_t)(slash - name))) {
		if (!domain_valid(name, (size_t)(slash - name)))
			return sbx_err_setx(err, EINVAL,
					    "invalid image reference '%s': bad registry "
					    "host '%.*s'",
					    s, (int)(slash - name), name);
		snprintf(out->domain, sizeof(out->domain), "%.*s", (int)(slash - name), name);
		path = slash + 1;
	} else {
		snprintf(out->domain, sizeof(out->domain), IMAGE_REF_DEFAULT_DOMAIN);
	}
	if (!strcmp(out->domain, "index.docker.io"))
		snprintf(out->domain, sizeof(out->domain), IMAGE_REF_DEFAULT_DOMAIN);
	for (const char *c = path;;) {
		const char *end = strchr(c, '/');
		size_t n = end ? (size_t)(end - c) : strlen(c);
		if (!component_valid(c, n))
			return sbx_err_setx(
			    err, EINVAL,
			    "invalid image reference '%s': bad name component '%.*s' "
			    "(lowercase letters, digits and . _ - separators)",
			    s, (int)n, c);
		if (!end)
			break;
		c = end + 1;
	}
	bool official = !strcmp(out->domain, IMAGE_REF_DEFAULT_DOMAIN) && !strchr(path, '/');
	int n = snprintf(out->path, sizeof(out->path), "%s%s", official ? "library/" : "", path);
	int m = snprintf(out->name, sizeof(out->name), "%s/%s", out->domain, out->path);
	if (n < 0 || m < 0 || (size_t)m >= sizeof(out->name))
		return sbx_err_setx(err, EINVAL, "invalid image reference '%s': name too long", s);
	return 0;
}

int image_ref_parse(const char *s, bool default_tag, struct image_ref *out, struct sbx_err *err)
{
	memset(out, 0, sizeof(*out));
	char buf[IMAGE_REF_NAME_MAX + IMAGE_REF_TAG_MAX + IMAGE_REF_DIGEST_MAX];
	if (!s || !*s)
		return sbx_err_setx(err, EINVAL, "invalid image reference: empty");
	if (strlen(s) >= sizeof(buf))
		return sbx_err_setx(err, EINVAL, "invalid image reference '%.64s...': too long", s);
	snprintf(buf, sizeof(buf), "%s", s);
	int r = split_tail(buf, out, s, err);
	if (r < 0)
		return r;
	if (!buf[0])
		return sbx_err_setx(err, EINVAL, "invalid image reference '%s': no name", s);
	if ((r = split_name(buf, out, s, err)) < 0)
		return r;
	if (default_tag && !out->tag[0] && !out->digest[0])
		snprintf(out->tag, sizeof(out->tag), IMAGE_REF_DEFAULT_TAG);
	return 0;
}

const char *image_ref_registry_host(const struct image_ref *ref)
{
	if (!strcmp(ref->domain, IMAGE_REF_DEFAULT_DOMAIN))
		return "registry-1.docker.io";
	return ref->domain;
}

bool image_ref_is_loopback(const char *domain)
{
	size_t n = strcspn(domain, ":");
	if (domain[0] == '[')
		return !strncmp(domain, "[::1]", 5);
	if (n == 9 && !strncmp(domain, "localhost", 9))
		return true;
	if (n < 4 || strncmp(domain, "127.", 4))
		return false;
	return strspn(domain, "0123456789.") == n; /* an address, not a name like 127.example */
}

int image_ref_format(const struct image_ref *ref, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s%s%s%s", ref->name, ref->tag[0] ? ":" : "", ref->tag,
			 ref->digest[0] ? "@" : "", ref->digest);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

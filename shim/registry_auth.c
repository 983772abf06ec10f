/*
 * Registry authentication: credentials from a docker-style auth config ("auths" in
 * $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or ~/.docker/config.json), and the answer to
 * a WWW-Authenticate challenge: Basic with those credentials, or Bearer with a token fetched
 * from the challenge's realm (the docker token protocol), scoped to pulling this repository.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/cleanup.h"
#include "image_json.h"
#include "registry.h"

#define AUTH_CONFIG_MAX (1u << 20)
#define TOKEN_MAX (1u << 20)

static int auth_config_path(char *buf, size_t len)
{
	const char *f = getenv("REGISTRY_AUTH_FILE"), *dir = getenv("DOCKER_CONFIG");
	const char *home = getenv("HOME");
	if (f && *f)
		return snprintf(buf, len, "%s", f) < (int)len ? 0 : -ENAMETOOLONG;
	if (dir && *dir)
		return snprintf(buf, len, "%s/config.json", dir) < (int)len ? 0 : -ENAMETOOLONG;
	if (home && *home)
		return snprintf(buf, len, "%s/.docker/config.json", home) < (int)len
			   ? 0
			   : -ENAMETOOLONG;
	return -ENOENT;
}

/* An "auths" key names domain: "host[:port]", maybe with a scheme and a path around it. */
static bool key_matches(const char *key, const char *domain)
{
	if (!strncmp(key, "https://", 8))
		key += 8;
	else if (!strncmp(key, "http://", 7))
		key += 7;
	size_t n = strcspn(key, "/");
	if (!strcmp(domain, IMAGE_REF_DEFAULT_DOMAIN))
		return (n == 15 && !strncmp(key, "index.docker.io", n)) ||
		       (n == 9 && !strncmp(key, "docker.io", n)) ||
		       (n == 20 && !strncmp(key, "registry-1.docker.io", n));
	return strlen(domain) == n && !strncmp(key, domain, n);
}

static char *decode_auth(const char *b64)
{
	size_t len = strlen(b64);
	if (len == 0 || len % 4 || len > 4096)
		return NULL;
	unsigned char *out = malloc(len / 4 * 3 + 1);
	if (!out)
		return NULL;
	int n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
	if (n < 0) {
		free(out);
		return NULL;
	}
	n -= (b64[len - 1] == '=') + (b64[len - 2] == '=');
	out[n] = '\0';
	if ((int)strlen((char *)out) != n || !strchr((char *)out, ':')) {
		free(out);
		return NULL;
	}
	return (char *)out;
}

static char *entry_credentials(json_val e)
{
	const char *auth = json_get_str(e, "auth");
	const char *user = json_get_str(e, "username"), *pass = json_get_str(e, "password");
	if (auth && *auth)
		return decode_auth(auth);
	char *s = NULL;
	if (user && pass && asprintf(&s, "%s:%s", user, pass) < 0)
		return NULL;
	return s;
}

int registry_load_credentials(struct registry *r, struct sbx_err *err)
{
	char path[PATH_MAX];
	if (auth_config_path(path, sizeof(path)) < 0)
		return 0;
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : sbx_err_set(err, errno, "open auth config '%s'", path);
	cleanup_free char *text = malloc(AUTH_CONFIG_MAX);
	if (!text)
		return sbx_err_set(err, ENOMEM, "read '%s'", path);
	size_t len = fread(text, 1, AUTH_CONFIG_MAX, f);
	cleanup_json_val json_val doc = NULL;
	int rc = json_parse(text, len, &doc, path, err);
	if (rc < 0)
		return rc;
	json_val auths = json_get(doc, "auths");
	for (size_t i = 0; i < json_object_len(auths); i++) {
		if (!key_matches(json_object_key(auths, i), r->ref.domain))
			continue;
		r->credentials = entry_credentials(json_object_value(auths, i));
		if (!r->credentials)
			return sbx_err_setx(err, EINVAL,
					    "auth config '%s': entry for %s has no "
					    "valid \"auth\" (base64 user:password)",
					    path, r->ref.domain);
		return 0;
	}
	return 0;
}

/* Value of param in a challenge's `k="v", k2=v2` list, unescaped, into out. */
static bool challenge_param(const char *p, const char *param, char *out, size_t cap)
{
	size_t plen = strlen(param);
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *k = p;
		while (*p && *p != '=' && *p != ',')
			p++;
		bool hit = (size_t)(p - k) == plen && !strncasecmp(k, param, plen);
		if (*p != '=')
			continue;
		p++;
		size_t n = 0;
		bool quoted = *p == '"';
		p += quoted;
		for (; *p && (quoted ? *p != '"' : *p != ','); p++) {
			if (quoted && *p == '\\' && p[1])
				p++;
			if (hit && n + 1 < cap)
				out[n++] = *p;
		}
		p += quoted && *p == '"';
		if (hit) {
			out[n] = '\0';
			return true;
		}
	}
	return false;
}

static bool header_safe(const char *s)
{
	for (; *s; s++)
		if (!isprint((unsigned char)*s))
			return false;
	return true;
}

static int set_authorization(struct registry *r, const char *scheme, const char *value,
			     struct sbx_err *err)
{
	free(r->authorization);
	r->authorization = NULL;
	if (!header_safe(value))
		return sbx_err_setx(err, EPROTO, "%s: %s credential has control characters",
				    r->ref.domain, scheme);
	if (asprintf(&r->authorization, "Authorization: %s %s", scheme, value) < 0) {
		r->authorization = NULL;
		return sbx_err_set(err, ENOMEM, "authorization");
	}
	return 0;
}

static int basic_auth(struct registry *r, struct sbx_err *err)
{
	if (!r->credentials)
		return sbx_err_setx(err, EACCES,
				    "%s requires authentication and the auth config "
				    "has no credentials for it (see docs/images.md)",
				    r->ref.domain);
	size_t len = strlen(r->credentials);
	cleanup_free char *b64 = malloc(4 * ((len + 2) / 3) + 1);
	if (!b64)
		return sbx_err_set(err, ENOMEM, "authorization");
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)r->credentials, (int)len);
	return set_authorization(r, "Basic", b64, err);
}

static size_t token_data(char *p, size_t size, size_t n, void *opaque)
{
	struct http_body *b = opaque;
	size_t len = size * n;
	if (b->len + len > TOKEN_MAX)
		return 0;
	char *d = realloc(b->data, b->len + len + 1);
	if (!d)
		return 0;
	memcpy(d + b->len, p, len);
	b->data = d;
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

/* The realm is where credentials go: https, or http only when the registry itself is. */
static int token_url(struct registry *r, const char *challenge, char *url, size_t cap,
		     struct sbx_err *err)
{
	char realm[512], service[256] = "";
	if (!challenge_param(challenge, "realm", realm, sizeof(realm)))
		return sbx_err_setx(err, EPROTO, "%s: Bearer challenge without a realm",
				    r->ref.domain);
	if (strncmp(realm, "https://", 8) && !(r->insecure && !strncmp(realm, "http://", 7)))
		return sbx_err_setx(err, EPROTO, "%s: token realm '%s' is not https", r->ref.domain,
				    realm);
	challenge_param(challenge, "service", service, sizeof(service));
	char *svc = curl_easy_escape(NULL, service, 0);
	char scope[IMAGE_REF_NAME_MAX + 32];
	snprintf(scope, sizeof(scope), "repository:%s:pull", r->ref.path);
	char *sc = curl_easy_escape(NULL, scope, 0);
	int n = svc && sc ? snprintf(url, cap, "%s%cservice=%s&scope=%s", realm,
				     strchr(realm, '?') ? '&' : '?', svc, sc)
			  : -1;
	curl_free(svc);
	curl_free(sc);
	if (n < 0 || (size_t)n >= cap)
		return sbx_err_setx(err, ENAMETOOLONG, "%s: token URL too long", r->ref.domain);
	return 0;
}

static int bearer_auth(struct registry *r, const char *challenge, struct sbx_err *err)
{
	char url[2048];
	int rc = token_url(r, challenge, url, sizeof(url), err);
	if (rc < 0)
		return rc;
	free(r->authorization); /* the token request carries basic credentials, not a token */
	r->authorization = NULL;
	struct curl_slist *headers = NULL;
	CURL *h = registry_easy(r, url, &headers);
	if (!h)
		return sbx_err_setx(err, ENOMEM, "token request: cannot set up libcurl");
	struct http_body b = {0};
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, token_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (r->credentials) {
		curl_easy_setopt(h, CURLOPT_USERPWD, r->credentials);
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	}
	CURLcode c = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	cleanup_json_val json_val doc = NULL;
	if (c != CURLE_OK)
		rc = sbx_err_setx(err, EIO, "token from %s: %s", url, curl_easy_strerror(c));
	else if (status != 200)
		rc = sbx_err_setx(err, EACCES, "token from %s: HTTP %ld%s", url, status,
				  r->credentials ? " (credentials rejected?)" : "");
	else
		rc = json_parse(b.data ? b.data : "", b.len, &doc, "token response", err);
	const char *token = json_get_str(doc, "token") ?: json_get_str(doc, "access_token");
	if (rc == 0 && (!token || !*token))
		rc = sbx_err_setx(err, EPROTO, "token from %s: no token in the response", url);
	if (rc == 0)
		rc = set_authorization(r, "Bearer", token, err);
	free(b.data);
	return rc;
}

int registry_authenticate(struct registry *r, const char *challenge, struct sbx_err *err)
{
	if (!strncasecmp(challenge, "Bearer ", 7))
		return bearer_auth(r, challenge + 7, err);
	if (!strncasecmp(challenge, "Basic", 5))
		return basic_auth(r, err);
	return sbx_err_setx(err, ENOTSUP, "%s: unsupported authentication '%.40s'", r->ref.domain,
			    challenge);
}

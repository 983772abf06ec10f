/* Registry v2 client: ping, scheme, requests into memory, manifests (registry.h). */
#include "registry.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/cleanup.h"
#include "image_manifest.h"

#define USER_AGENT "sandbox/0.1"

struct http_req {
	struct http_body *body;
	size_t cap, max;
	bool too_big;
	char www_auth[1024];
};

void http_body_free(struct http_body *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static size_t on_data(char *p, size_t size, size_t n, void *opaque)
{
	struct http_req *q = opaque;
	struct http_body *b = q->body;
	size_t len = size * n;
	if (b->len + len > q->max) {
		q->too_big = true;
		return 0;
	}
	if (b->len + len + 1 > q->cap) {
		size_t cap = (b->len + len + 1) * 2;
		char *d = realloc(b->data, cap);
		if (!d)
			return 0;
		b->data = d;
		q->cap = cap;
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

/* Copies a header's value (trimmed) into dst when line is "<name>: value". */
static void header_value(const char *line, size_t len, const char *name, char *dst, size_t cap)
{
	size_t nl = strlen(name);
	if (len <= nl + 1 || strncasecmp(line, name, nl) || line[nl] != ':')
		return;
	const char *v = line + nl + 1, *end = line + len;
	while (v < end && isspace((unsigned char)*v))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	snprintf(dst, cap, "%.*s", (int)(end - v), v);
}

static size_t on_header(char *p, size_t size, size_t n, void *opaque)
{
	struct http_req *q = opaque;
	size_t len = size * n;
	/* A redirect's headers come first: only the last response's count. */
	if (len > 5 && !strncmp(p, "HTTP/", 5)) {
		q->www_auth[0] = '\0';
		q->body->content_type[0] = '\0';
		q->body->digest[0] = '\0';
	}
	header_value(p, len, "WWW-Authenticate", q->www_auth, sizeof(q->www_auth));
	header_value(p, len, "Content-Type", q->body->content_type, sizeof(q->body->content_type));
	header_value(p, len, "Docker-Content-Digest", q->body->digest, sizeof(q->body->digest));
	return len;
}

void *registry_easy(struct registry *r, const char *url, struct curl_slist **headers)
{
	CURL *h = curl_easy_init();
	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, r->insecure ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, r->insecure ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	/* A stalled transfer (under 1 KB/s for 60 s) fails instead of hanging the pull. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	if (r->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (r->authorization)
		*headers = curl_slist_append(*headers, r->authorization);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *headers);
	return h;
}

/* GET url into out (at most max bytes). Returns the HTTP status, or < 0 with err set. */
static long http_get(struct registry *r, const char *url, const char *accept, size_t max,
		     struct http_body *out, char *www_auth, size_t www_len, struct sbx_err *err)
{
	struct curl_slist *headers = NULL;
	char accept_h[512];
	if (accept) {
		snprintf(accept_h, sizeof(accept_h), "Accept: %s", accept);
		headers = curl_slist_append(headers, accept_h);
	}
	memset(out, 0, sizeof(*out));
	struct http_req q = {.body = out, .max = max};
	CURL *h = registry_easy(r, url, &headers);
	if (!h) {
		curl_slist_free_all(headers);
		return sbx_err_setx(err, ENOMEM, "GET %s: cannot set up libcurl", url);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &q);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &q);
	CURLcode c = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	if (www_auth)
		snprintf(www_auth, www_len, "%s", q.www_auth);
	if (q.too_big) {
		http_body_free(out);
		return sbx_err_setx(err, EFBIG, "GET %s: response larger than %zu bytes", url, max);
	}
	if (c != CURLE_OK) {
		http_body_free(out);
		return sbx_err_setx(err, EIO, "GET %s: %s", url, curl_easy_strerror(c));
	}
	return status;
}

/* The registry's error body ({"errors":[{"code","message"}]}) is not parsed: its status says
 * enough, and the body is shown shortened when it is text. */
static int http_status_err(const char *url, long status, const struct http_body *b,
			   struct sbx_err *err)
{
	int code = status == 404 ? ENOENT : status == 401 || status == 403 ? EACCES : EIO;
	char snippet[160] = "";
	if (b->data && b->len) {
		size_t n = 0;
		for (size_t i = 0; i < b->len && n + 1 < sizeof(snippet); i++)
			if (isprint((unsigned char)b->data[i]))
				snippet[n++] = b->data[i];
		snippet[n] = '\0';
	}
	return sbx_err_setx(err, code, "GET %s: HTTP %ld%s%s", url, status, snippet[0] ? ": " : "",
			    snippet);
}

/* A GET that answers one authentication challenge (401) and retries once. */
static int get_authed(struct registry *r, const char *url, const char *accept, size_t max,
		      struct http_body *out, struct sbx_err *err)
{
	char www_auth[1024];
	for (int attempt = 0;; attempt++) {
		long status = http_get(r, url, accept, max, out, www_auth, sizeof(www_auth), err);
		if (status < 0)
			return (int)status;
		if (status == 200)
			return 0;
		if (status == 401 && attempt == 0 && www_auth[0]) {
			http_body_free(out);
			int rc = registry_authenticate(r, www_auth, err);
			if (rc < 0)
				return rc;
			continue;
		}
		int rc = http_status_err(url, status, out, err);
		http_body_free(out);
		return rc;
	}
}

static int ping(struct registry *r, const char *scheme, struct sbx_err *err)
{
	struct http_body b;
	char www_auth[1024];
	snprintf(r->base, sizeof(r->base), "%s://%s", scheme, image_ref_registry_host(&r->ref));
	char url[sizeof(r->base) + 8];
	snprintf(url, sizeof(url), "%s/v2/", r->base);
	long status = http_get(r, url, NULL, 1 << 16, &b, www_auth, sizeof(www_auth), err);
	http_body_free(&b);
	if (status < 0)
		return (int)status;
	if (status == 401 && www_auth[0])
		return registry_authenticate(r, www_auth, err);
	if (status != 200)
		return sbx_err_setx(err, EPROTO, "GET %s: HTTP %ld (not a registry v2 endpoint?)",
				    url, status);
	return 0;
}

int registry_open(struct registry *r, const struct image_ref *ref, bool insecure,
		  struct sbx_err *err)
{
	static bool curl_ready;
	if (!curl_ready && curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return sbx_err_setx(err, EIO, "libcurl initialisation failed");
	curl_ready = true;
	bool quiet = r->quiet;
	memset(r, 0, sizeof(*r));
	r->quiet = quiet;
	r->ref = *ref;
	/* Loopback registries get docker's treatment: http allowed, as if --insecure. */
	r->insecure = insecure || image_ref_is_loopback(ref->domain);
	int rc = registry_load_credentials(r, err);
	if (rc < 0)
		return rc;
	struct sbx_err https_err = {0};
	rc = ping(r, "https", &https_err);
	if (rc < 0 && r->insecure && https_err.code == EIO)
		rc = ping(r, "http", err);
	else if (rc < 0)
		*err = https_err;
	if (rc < 0)
		return sbx_err_wrap(err, "registry %s", ref->domain);
	return 0;
}

void registry_close(struct registry *r)
{
	free(r->authorization);
	free(r->credentials);
	r->authorization = r->credentials = NULL;
}

int registry_get_manifest(struct registry *r, const char *reference, struct http_body *out,
			  char digest[IMAGE_DIGEST_MAX], struct sbx_err *err)
{
	char url[1024];
	snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", r->base, r->ref.path, reference);
	int rc = get_authed(r, url, MANIFEST_ACCEPT, MANIFEST_MAX_BYTES, out, err);
	if (rc < 0)
		return rc;
	image_sha256_buf(out->data ? out->data : "", out->len, digest);
	const char *want = !strncmp(reference, "sha256:", 7) ? reference : out->digest;
	if (want[0] && !strncmp(want, "sha256:", 7) && strcmp(want, digest)) {
		http_body_free(out);
		return sbx_err_setx(err, EBADMSG, "manifest %s: content has digest %s (corrupted)",
				    want, digest);
	}
	return 0;
}

int registry_get_blob(struct registry *r, const char *digest, size_t max, struct http_body *out,
		      struct sbx_err *err)
{
	char url[1024], actual[IMAGE_DIGEST_MAX];
	snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", r->base, r->ref.path, digest);
	int rc = get_authed(r, url, NULL, max, out, err);
	if (rc < 0)
		return rc;
	image_sha256_buf(out->data ? out->data : "", out->len, actual);
	if (strcmp(actual, digest)) {
		http_body_free(out);
		return sbx_err_setx(err, EBADMSG, "blob %s: content has digest %s (corrupted)",
				    digest, actual);
	}
	return 0;
}

/*
 * Layer blobs into the store: REGISTRY_PARALLEL downloads at once on one curl multi handle,
 * each into its own temp file under <root>/tmp. A transfer cut short is resumed with a Range
 * request (a server answering 200 instead of 206 restarts it); a blob enters the store only
 * once its sha256 matched (image_store_commit_blob). On any failure every temp file goes.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "image_progress.h"
#include "registry.h"

struct xfer {
	const struct blob_job *job;
	struct progress *progress;
	char tmp[PATH_MAX];
	int fd;
	uint64_t got; /* bytes in tmp */
	int attempts;
	CURL *h;
	struct curl_slist *headers;
	bool checked;  /* the response status was looked at */
	bool unwanted; /* body of an error response: discarded */
	bool too_big;
	bool write_failed;
	bool done;
};

static size_t on_write(char *p, size_t size, size_t n, void *opaque)
{
	struct xfer *x = opaque;
	size_t len = size * n;
	if (!x->checked) {
		long status = 0;
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
		x->checked = true;
		x->unwanted = status != 200 && status != 206;
		if (status == 200 && x->got) { /* Range ignored: start over */
			x->progress->done -= x->got;
			x->got = 0;
			if (ftruncate(x->fd, 0) < 0)
				return 0;
		}
	}
	if (x->unwanted)
		return len;
	if (x->got + len > x->job->size) {
		x->too_big = true;
		return 0;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = pwrite(x->fd, p + off, len - off, (off_t)(x->got + off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			x->write_failed = true;
			return 0;
		}
		off += (size_t)w;
	}
	x->got += len;
	progress_add(x->progress, len);
	return len;
}

static int xfer_start(struct registry *r, CURLM *m, struct xfer *x, struct sbx_err *err)
{
	char url[1024], range[64];
	snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", r->base, r->ref.path, x->job->digest);
	x->headers = NULL;
	if (x->got) {
		snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long)x->got);
		x->headers = curl_slist_append(x->headers, range);
	}
	x->h = registry_easy(r, url, &x->headers);
	if (!x->h)
		return sbx_err_setx(err, ENOMEM, "blob %s: cannot set up libcurl", x->job->digest);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	x->checked = x->unwanted = false;
	x->attempts++;
	if (curl_multi_add_handle(m, x->h) != CURLM_OK)
		return sbx_err_setx(err, EIO, "blob %s: curl_multi_add_handle", x->job->digest);
	return 0;
}

static void xfer_stop(CURLM *m, struct xfer *x)
{
	if (x->h) {
		curl_multi_remove_handle(m, x->h);
		curl_easy_cleanup(x->h);
	}
	curl_slist_free_all(x->headers);
	x->h = NULL;
	x->headers = NULL;
}

/* What to do once a transfer ended: 0 done (committed), 1 retry, < 0 failed. */
static int xfer_finished(struct image_store *s, struct xfer *x, CURLcode c, struct sbx_err *err)
{
	const char *d = x->job->digest;
	long status = 0;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (x->too_big)
		return sbx_err_setx(err, EBADMSG,
				    "blob %s: the registry sent more than the %llu "
				    "bytes the manifest lists",
				    d, (unsigned long long)x->job->size);
	if (x->write_failed)
		return sbx_err_set(err, errno ?: EIO, "blob %s: write '%s'", d, x->tmp);
	if (c == CURLE_OK && status != 200 && status != 206)
		return sbx_err_setx(err, status == 404 ? ENOENT : EIO, "blob %s: HTTP %ld", d,
				    status);
	if (c == CURLE_OK && x->got == x->job->size) {
		close(x->fd);
		x->fd = -1;
		int rc = image_store_commit_blob(s, x->tmp, d, x->job->size, err);
		x->tmp[0] = '\0'; /* commit renamed or removed it */
		x->done = rc == 0;
		return rc;
	}
	if (x->attempts < REGISTRY_ATTEMPTS)
		return 1;
	return sbx_err_setx(err, EIO,
			    "blob %s: download incomplete after %d attempts: got %llu "
			    "of %llu bytes (%s)",
			    d, x->attempts, (unsigned long long)x->got,
			    (unsigned long long)x->job->size,
			    c == CURLE_OK ? "connection closed early" : curl_easy_strerror(c));
}

static void xfers_free(CURLM *m, struct xfer *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		xfer_stop(m, &v[i]);
		if (v[i].fd >= 0)
			close(v[i].fd);
		if (v[i].tmp[0])
			unlink(v[i].tmp);
	}
	free(v);
}

/* Runs the multi handle until every transfer is done or one failed. */
static int run(struct registry *r, struct image_store *s, CURLM *m, struct xfer *v, size_t n,
	       struct progress *p, struct sbx_err *err)
{
	size_t next = 0, active = 0, done = 0;
	int rc = 0;
	while (rc == 0 && done < n) {
		while (rc == 0 && active < REGISTRY_PARALLEL && next < n) {
			v[next].fd = image_store_tmpfile(s, v[next].tmp, sizeof(v[next].tmp), err);
			rc = v[next].fd < 0 ? v[next].fd : xfer_start(r, m, &v[next], err);
			next++;
			active++;
		}
		int running = 0;
		if (rc < 0 || curl_multi_perform(m, &running) != CURLM_OK ||
		    curl_multi_poll(m, NULL, 0, 100, NULL) != CURLM_OK)
			return rc < 0 ? rc : sbx_err_setx(err, EIO, "curl multi transfer failed");
		progress_draw(p, false);
		CURLMsg *msg;
		int left;
		while (rc == 0 && (msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct xfer *x;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			rc = xfer_finished(s, x, msg->data.result, err);
			xfer_stop(m, x);
			if (rc == 1)
				rc = xfer_start(r, m, x, err);
			else if (rc == 0) {
				progress_blob_done(p);
				active--;
				done++;
			}
		}
	}
	return rc;
}

int registry_fetch_blobs(struct registry *r, struct image_store *s, const struct blob_job *jobs,
			 size_t n, struct sbx_err *err)
{
	struct xfer *v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return sbx_err_set(err, ENOMEM, "download blobs");
	size_t todo = 0;
	uint64_t total = 0;
	struct progress p;
	for (size_t i = 0; i < n; i++) {
		if (image_store_has_blob(s, jobs[i].digest))
			continue;
		v[todo] = (struct xfer){.job = &jobs[i], .progress = &p, .fd = -1};
		total += jobs[i].size;
		todo++;
	}
	char label[64];
	snprintf(label, sizeof(label), "%.63s", r->ref.path);
	progress_begin(&p, r->quiet, label, total, (unsigned)todo);
	CURLM *m = curl_multi_init();
	int rc = m ? run(r, s, m, v, todo, &p, err)
		   : sbx_err_setx(err, ENOMEM, "download blobs: curl_multi_init");
	progress_end(&p, rc == 0);
	xfers_free(m, v, todo);
	if (m)
		curl_multi_cleanup(m);
	return rc;
}

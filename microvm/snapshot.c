/*
 * Snapshot state format: writer, bounds-checked reader, header (docs/snapshot.md "state").
 * All integers are little-endian (the only byte order KVM x86 has); KVM structs are stored as
 * the kernel ABI defines them, each as a length-prefixed blob whose length the reader checks.
 */
#include "snapshot.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"

/* On-disk header: magic, version, ncpus, ndevices, mem_size, build_id, payload len + hash. */
#define SNAP_HDR_SIZE (SNAP_MAGIC_LEN + 4 + 4 + 4 + 4 + 8 + 8 + 8 + 8)
#define SNAP_SECTION_HDR 8u
#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull
#define SNAP_W_MIN_CAP 4096u

void snap_w_free(struct snap_w *w)
{
	free(w->buf);
	*w = (struct snap_w){0};
}

void snap_put(struct snap_w *w, const void *p, size_t n)
{
	if (w->err)
		return;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : SNAP_W_MIN_CAP;
		while (cap < w->len + n)
			cap *= 2;
		uint8_t *b = realloc(w->buf, cap);
		if (!b) {
			w->err = -ENOMEM;
			return;
		}
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void snap_put_u32(struct snap_w *w, uint32_t v)
{
	v = htole32(v);
	snap_put(w, &v, sizeof(v));
}

void snap_put_u64(struct snap_w *w, uint64_t v)
{
	v = htole64(v);
	snap_put(w, &v, sizeof(v));
}

void snap_put_blob(struct snap_w *w, const void *p, size_t n)
{
	snap_put_u32(w, (uint32_t)n);
	snap_put(w, p, n);
}

size_t snap_section_begin(struct snap_w *w, uint32_t tag)
{
	size_t at = w->len;
	snap_put_u32(w, tag);
	snap_put_u32(w, 0);
	return at;
}

void snap_section_end(struct snap_w *w, size_t at)
{
	if (w->err)
		return;
	uint32_t len = htole32((uint32_t)(w->len - at - SNAP_SECTION_HDR));
	memcpy(w->buf + at + 4, &len, sizeof(len));
}

static int snap_truncated(const struct snap_rd *r, struct sbx_err *err)
{
	return sbx_err_setx(err, EINVAL,
			    "snapshot state is truncated or corrupt (in %s at byte %zu)", r->what,
			    r->off);
}

int snap_get(struct snap_rd *r, void *dst, size_t n, struct sbx_err *err)
{
	if (n > r->len - r->off)
		return snap_truncated(r, err);
	memcpy(dst, r->p + r->off, n);
	r->off += n;
	return 0;
}

int snap_get_u32(struct snap_rd *r, uint32_t *v, struct sbx_err *err)
{
	int ret = snap_get(r, v, sizeof(*v), err);
	*v = le32toh(*v);
	return ret;
}

int snap_get_u64(struct snap_rd *r, uint64_t *v, struct sbx_err *err)
{
	int ret = snap_get(r, v, sizeof(*v), err);
	*v = le64toh(*v);
	return ret;
}

int snap_get_blob_max(struct snap_rd *r, void *dst, size_t max, size_t *got, struct sbx_err *err)
{
	uint32_t n = 0;
	int ret = snap_get_u32(r, &n, err);
	if (ret < 0)
		return ret;
	if (n > max)
		return sbx_err_setx(
		    err, EINVAL,
		    "snapshot state is corrupt (in %s: a %u-byte item, at most %zu expected)",
		    r->what, n, max);
	*got = n;
	return snap_get(r, dst, n, err);
}

int snap_get_blob(struct snap_rd *r, void *dst, size_t n, struct sbx_err *err)
{
	size_t got = 0;
	int ret = snap_get_blob_max(r, dst, n, &got, err);
	if (ret < 0)
		return ret;
	if (got != n)
		return sbx_err_setx(
		    err, EINVAL, "snapshot state is corrupt (in %s: a %zu-byte item, %zu expected)",
		    r->what, got, n);
	return 0;
}

int snap_section(struct snap_rd *r, uint32_t tag, const char *what, struct snap_rd *sub,
		 struct sbx_err *err)
{
	uint32_t t = 0, len = 0;
	const char *outer = r->what;
	r->what = what;
	int ret = snap_get_u32(r, &t, err);
	if (ret >= 0)
		ret = snap_get_u32(r, &len, err);
	if (ret >= 0 && t != tag)
		ret = sbx_err_setx(err, EINVAL, "snapshot state is corrupt (section %s expected)",
				   what);
	if (ret >= 0 && len > r->len - r->off)
		ret = snap_truncated(r, err);
	r->what = outer;
	if (ret < 0)
		return ret;
	*sub = (struct snap_rd){.p = r->p + r->off, .len = len, .what = what};
	r->off += len;
	return 0;
}

int snap_end(const struct snap_rd *r, struct sbx_err *err)
{
	if (r->off != r->len)
		return sbx_err_setx(err, EINVAL,
				    "snapshot state is corrupt (%zu stray bytes in %s)",
				    r->len - r->off, r->what);
	return 0;
}

uint64_t snap_hash(const void *p, size_t len, uint64_t seed)
{
	const uint8_t *b = p;
	uint64_t h = FNV64_OFFSET ^ seed;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, b + i, 8);
		h = (h ^ w) * FNV64_PRIME;
		h ^= h >> 29; /* spread the high bits down: word-wise FNV mixes them poorly */
	}
	for (; i < len; i++)
		h = (h ^ b[i]) * FNV64_PRIME;
	return h ^ len;
}

uint64_t snap_build_id(void)
{
	static uint64_t id;
	if (id)
		return id;
	cleanup_close int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0)
		return 0;
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return 0;
	id = snap_hash(p, (size_t)st.st_size, 0);
	munmap(p, (size_t)st.st_size);
	return id;
}

static uint8_t *hdr_put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
	return p + 4;
}

static uint8_t *hdr_put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
	return p + 8;
}

int snap_encode(const struct snap_info *info, const struct snap_w *payload, uint8_t **out,
		size_t *out_len, struct sbx_err *err)
{
	if (payload->err)
		return sbx_err_set(err, -payload->err, "snapshot state buffer");
	uint8_t *buf = malloc(SNAP_HDR_SIZE + payload->len);
	if (!buf)
		return sbx_err_set(err, ENOMEM, "snapshot state buffer");
	memcpy(buf, SNAP_MAGIC, SNAP_MAGIC_LEN);
	uint8_t *p = hdr_put32(buf + SNAP_MAGIC_LEN, SNAP_VERSION);
	p = hdr_put32(p, info->ncpus);
	p = hdr_put32(p, info->ndevices);
	p = hdr_put32(p, 0); /* reserved, keeps the 64-bit fields aligned */
	p = hdr_put64(p, info->mem_size);
	p = hdr_put64(p, info->build_id);
	p = hdr_put64(p, payload->len);
	p = hdr_put64(p, snap_hash(payload->buf, payload->len, 0));
	memcpy(p, payload->buf, payload->len);
	*out = buf;
	*out_len = SNAP_HDR_SIZE + payload->len;
	return 0;
}

int snap_decode(const uint8_t *buf, size_t len, uint64_t build_id, struct snap_info *info,
		struct snap_rd *payload, struct sbx_err *err)
{
	struct snap_rd r = {.p = buf, .len = len, .what = "header"};
	char magic[SNAP_MAGIC_LEN];
	uint32_t version = 0, reserved;
	uint64_t plen = 0, phash = 0;
	if (len < SNAP_HDR_SIZE || snap_get(&r, magic, sizeof(magic), err) < 0 ||
	    memcmp(magic, SNAP_MAGIC, SNAP_MAGIC_LEN) != 0)
		return sbx_err_setx(err, EINVAL, "not a sandbox snapshot (bad magic)");
	snap_get_u32(&r, &version, err);
	if (version != SNAP_VERSION)
		return sbx_err_setx(err, EINVAL, "snapshot format version %u, this VMM reads %u",
				    version, SNAP_VERSION);
	/* Cannot fail: len >= SNAP_HDR_SIZE was checked above. */
	snap_get_u32(&r, &info->ncpus, err);
	snap_get_u32(&r, &info->ndevices, err);
	snap_get_u32(&r, &reserved, err);
	snap_get_u64(&r, &info->mem_size, err);
	snap_get_u64(&r, &info->build_id, err);
	snap_get_u64(&r, &plen, err);
	snap_get_u64(&r, &phash, err);
	if (info->build_id != build_id)
		return sbx_err_setx(
		    err, EINVAL,
		    "snapshot was taken by another sandbox-vmm build (%016llx, this is %016llx)",
		    (unsigned long long)info->build_id, (unsigned long long)build_id);
	if (plen != len - SNAP_HDR_SIZE)
		return sbx_err_setx(err, EINVAL, "snapshot state is truncated (%zu of %llu bytes)",
				    len - SNAP_HDR_SIZE, (unsigned long long)plen);
	if (snap_hash(buf + SNAP_HDR_SIZE, (size_t)plen, 0) != phash)
		return sbx_err_setx(err, EINVAL, "snapshot state is corrupt (checksum mismatch)");
	*payload = (struct snap_rd){.p = buf + SNAP_HDR_SIZE, .len = (size_t)plen, .what = "state"};
	return 0;
}

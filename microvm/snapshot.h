/*
 * The VM snapshot format (docs/snapshot.md): DIR/state is a header followed by tagged sections,
 * DIR/memory is guest RAM as a sparse file. This header has the byte-level writer and the
 * bounds-checked reader (the state file is untrusted input: every length read from it is
 * checked), the header check, and the file-level helpers (snapshot_file.c).
 */
#ifndef SANDBOX_SNAPSHOT_H
#define SANDBOX_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "guest_mem.h"

#define SNAP_MAGIC "SBXSNAP" /* 8 bytes with the NUL */
#define SNAP_MAGIC_LEN 8u
#define SNAP_VERSION 1u
#define SNAP_STATE_FILE "state"
#define SNAP_MEMORY_FILE "memory"
/* A state file is a few tens of KiB per vCPU; anything far larger is not ours. */
#define SNAP_STATE_MAX (16u << 20)

/* Section tags: four ASCII characters, little-endian, for hexdump readability. */
#define SNAP_TAG(a, b, c, d)                                                                       \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define SNAP_TAG_VM SNAP_TAG('K', 'V', 'M', ' ')
#define SNAP_TAG_VCPU SNAP_TAG('V', 'C', 'P', 'U')
#define SNAP_TAG_SERIAL SNAP_TAG('U', 'A', 'R', 'T')
#define SNAP_TAG_LEGACY SNAP_TAG('L', 'P', 'C', ' ')
#define SNAP_TAG_DEVICE SNAP_TAG('V', 'I', 'O', ' ')

/* What the header says about the VM (checked against the command line on restore). */
struct snap_info {
	uint32_t ncpus;
	uint32_t ndevices;
	uint64_t mem_size;
	uint64_t build_id;
};

/* Growable output buffer; the first allocation failure sticks in `err` (-ENOMEM). */
struct snap_w {
	uint8_t *buf;
	size_t len, cap;
	int err;
};

void snap_w_free(struct snap_w *w);
void snap_put(struct snap_w *w, const void *p, size_t n);
void snap_put_u32(struct snap_w *w, uint32_t v);
void snap_put_u64(struct snap_w *w, uint64_t v);
/* u32 length, then the bytes: the reader checks the length against what it expects. */
void snap_put_blob(struct snap_w *w, const void *p, size_t n);
/* Starts a section (u32 tag, u32 length patched by snap_section_end); returns its offset. */
size_t snap_section_begin(struct snap_w *w, uint32_t tag);
void snap_section_end(struct snap_w *w, size_t at);

/* Bounds-checked reader over [p, p + len). `what` names the section in error messages. */
struct snap_rd {
	const uint8_t *p;
	size_t len, off;
	const char *what;
};

int snap_get(struct snap_rd *r, void *dst, size_t n, struct sbx_err *err);
int snap_get_u32(struct snap_rd *r, uint32_t *v, struct sbx_err *err);
int snap_get_u64(struct snap_rd *r, uint64_t *v, struct sbx_err *err);
/* A blob whose stored length must be exactly n. */
int snap_get_blob(struct snap_rd *r, void *dst, size_t n, struct sbx_err *err);
/* A blob of at most max bytes; *got receives its length. */
int snap_get_blob_max(struct snap_rd *r, void *dst, size_t max, size_t *got, struct sbx_err *err);
/* The next section must carry `tag`; *sub then reads exactly its payload. */
int snap_section(struct snap_rd *r, uint32_t tag, const char *what, struct snap_rd *sub,
		 struct sbx_err *err);
/* Every byte of the section was consumed (a longer section is from another format). */
int snap_end(const struct snap_rd *r, struct sbx_err *err);

/* Serialises header + payload into *out (malloc'd). */
int snap_encode(const struct snap_info *info, const struct snap_w *payload, uint8_t **out,
		size_t *out_len, struct sbx_err *err);
/*
 * Checks magic, version, build id (must equal `build_id`), payload length and checksum; on
 * success *info is the header and *payload reads the sections.
 */
int snap_decode(const uint8_t *buf, size_t len, uint64_t build_id, struct snap_info *info,
		struct snap_rd *payload, struct sbx_err *err);

/* 64-bit hash of a byte range (FNV-1a over 8-byte words): corruption check and build id. */
uint64_t snap_hash(const void *p, size_t len, uint64_t seed);
/* Hash of this process's executable (/proc/self/exe), computed once. 0 on failure. */
uint64_t snap_build_id(void);

/* ---- snapshot_file.c: the snapshot directory ---- */

/*
 * Creates the temp dir ".<name>.tmp-<pid>" next to `dir` (after removing such dirs left by
 * processes that no longer exist); its path goes to tmp.
 */
int snap_dir_begin(const char *dir, char *tmp, size_t tmp_len, struct sbx_err *err);
/* Writes and fsyncs dir/name. */
int snap_write_file(const char *dir, const char *name, const void *buf, size_t len,
		    struct sbx_err *err);
/* Writes guest RAM to dir/memory as a sparse file (all-zero pages are holes), fsynced. */
int snap_write_memory(const char *dir, const struct guest_mem *m, struct sbx_err *err);
/* fsyncs tmp, puts it at dir atomically (replacing an old dir), removes the old one. */
int snap_dir_commit(const char *tmp, const char *dir, struct sbx_err *err);
/* Removes a temp dir and its files (best effort). */
void snap_dir_remove(const char *path);
/* Reads dir/state (at most SNAP_STATE_MAX bytes) into *buf (malloc'd). */
int snap_read_state(const char *dir, uint8_t **buf, size_t *len, struct sbx_err *err);
/* Opens dir/memory and checks it holds exactly `size` bytes; returns the fd. */
int snap_open_memory(const char *dir, uint64_t size, struct sbx_err *err);

#endif

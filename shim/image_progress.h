/*
 * The download progress bar `sandbox pull` draws on a terminal: one line on stderr, redrawn
 * at most every 100 ms. Disabled (every call a no-op) when stderr is not a tty or with --quiet.
 */
#ifndef SANDBOX_IMAGE_PROGRESS_H
#define SANDBOX_IMAGE_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	bool enabled;
	const char *label;
	uint64_t total, done;
	unsigned blobs_total, blobs_done;
	double start, last_draw;
};

void progress_begin(struct progress *p, bool quiet, const char *label, uint64_t total,
		    unsigned blobs);
void progress_add(struct progress *p, uint64_t bytes);
void progress_blob_done(struct progress *p);
void progress_draw(struct progress *p, bool force);
/* Ends the line (ok: full bar; otherwise leaves it as it was). */
void progress_end(struct progress *p, bool ok);

#endif

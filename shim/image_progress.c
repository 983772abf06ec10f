/* The pull progress bar (image_progress.h). */
#include "image_progress.h"

#include <stdio.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define DRAW_INTERVAL 0.1

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void human(uint64_t n, char *buf, size_t len)
{
	if (n >= 1000000000)
		snprintf(buf, len, "%.2f GB", (double)n / 1e9);
	else if (n >= 1000000)
		snprintf(buf, len, "%.1f MB", (double)n / 1e6);
	else
		snprintf(buf, len, "%.1f kB", (double)n / 1e3);
}

void progress_begin(struct progress *p, bool quiet, const char *label, uint64_t total,
		    unsigned blobs)
{
	*p = (struct progress){.enabled = !quiet && isatty(STDERR_FILENO),
			       .label = label,
			       .total = total,
			       .blobs_total = blobs};
	p->start = now();
	progress_draw(p, true);
}

void progress_add(struct progress *p, uint64_t bytes)
{
	p->done += bytes;
}

void progress_blob_done(struct progress *p)
{
	p->blobs_done++;
}

void progress_draw(struct progress *p, bool force)
{
	if (!p->enabled)
		return;
	double t = now();
	if (!force && t - p->last_draw < DRAW_INTERVAL)
		return;
	p->last_draw = t;
	struct winsize ws = {0};
	int cols = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 80;
	char done[16], total[16], rate[16];
	human(p->done, done, sizeof(done));
	human(p->total, total, sizeof(total));
	double secs = t - p->start;
	human(secs > 0.05 ? (uint64_t)((double)p->done / secs) : 0, rate, sizeof(rate));
	char tail[96];
	int tl = snprintf(tail, sizeof(tail), " %s/%s %s/s layers %u/%u", done, total, rate,
			  p->blobs_done, p->blobs_total);
	int width = cols - (int)tl - 4 - 24;
	if (width > 40)
		width = 40;
	fprintf(stderr, "\r\033[K%.24s ", p->label);
	if (width >= 10) {
		uint64_t total_b = p->total ? p->total : 1;
		int fill = (int)((double)width * (double)(p->done > total_b ? total_b : p->done) /
				 (double)total_b);
		fputc('[', stderr);
		for (int i = 0; i < width; i++)
			fputc(i < fill ? '=' : i == fill ? '>' : ' ', stderr);
		fputc(']', stderr);
	}
	fputs(tail, stderr);
	fflush(stderr);
}

void progress_end(struct progress *p, bool ok)
{
	if (!p->enabled)
		return;
	if (ok) {
		p->done = p->total;
		p->blobs_done = p->blobs_total;
	}
	progress_draw(p, true);
	fputc('\n', stderr);
}

/*
 * Token buckets for a virtio-net device (docs/networking.md "Rate limits"): one for bytes and one
 * for packets per direction. Each bucket holds at most one second of its rate and refills
 * continuously. The clock is passed in, so the arithmetic is tested with a fake one.
 */
#ifndef SANDBOX_RATE_LIMITER_H
#define SANDBOX_RATE_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

/* Largest rate accepted (per second): keeps rate * 1e9 inside 64 bits. */
#define RATE_MAX 10000000000ull

struct rate_bucket {
	uint64_t rate;	  /* tokens per second; 0: unlimited */
	uint64_t nanotok; /* tokens * 1e9 (sub-token precision for slow rates) */
	uint64_t last_ns; /* time of the last refill */
};

struct rate_limiter {
	struct rate_bucket bytes, packets;
	uint64_t throttled; /* times a packet had to wait (counted for tests and debug) */
};

/* Both buckets start full. Rates above RATE_MAX are clamped. */
void rate_limiter_init(struct rate_limiter *rl, uint64_t bytes_per_s, uint64_t packets_per_s,
		       uint64_t now_ns);
bool rate_limiter_unlimited(const struct rate_limiter *rl);
/*
 * Takes `bytes` and one packet if both buckets hold enough, and returns true; otherwise takes
 * nothing and returns false. A packet larger than one second of byte rate passes once the byte
 * bucket is full, and empties it.
 */
bool rate_limiter_consume(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns);
/* Nanoseconds until rate_limiter_consume(bytes) would succeed (0: it would now). */
uint64_t rate_limiter_wait_ns(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns);

#endif

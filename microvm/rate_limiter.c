/* Token buckets (microvm/rate_limiter.h). All arithmetic in nanotokens: tokens * 1e9. */
#include "rate_limiter.h"

#define NS_PER_S 1000000000ull

static void bucket_init(struct rate_bucket *b, uint64_t rate, uint64_t now_ns)
{
	b->rate = rate > RATE_MAX ? RATE_MAX : rate;
	b->nanotok = b->rate * NS_PER_S;
	b->last_ns = now_ns;
}

static void bucket_refill(struct rate_bucket *b, uint64_t now_ns)
{
	if (!b->rate || now_ns <= b->last_ns)
		return;
	uint64_t cap = b->rate * NS_PER_S;
	uint64_t dt = now_ns - b->last_ns;
	b->last_ns = now_ns;
	if (dt >= NS_PER_S) { /* a full second refills any bucket; also avoids overflow */
		b->nanotok = cap;
		return;
	}
	uint64_t add = dt * b->rate;
	b->nanotok = add >= cap - b->nanotok ? cap : b->nanotok + add;
}

/* Nanotokens n tokens cost, capped at the bucket's size so oversized packets can pass. */
static uint64_t bucket_cost(const struct rate_bucket *b, uint64_t n)
{
	uint64_t cap = b->rate * NS_PER_S;
	return n >= b->rate ? cap : n * NS_PER_S;
}

static uint64_t bucket_wait(const struct rate_bucket *b, uint64_t n)
{
	if (!b->rate)
		return 0;
	uint64_t cost = bucket_cost(b, n);
	if (b->nanotok >= cost)
		return 0;
	return (cost - b->nanotok + b->rate - 1) / b->rate; /* ns: nanotokens / (tokens/s) */
}

void rate_limiter_init(struct rate_limiter *rl, uint64_t bytes_per_s, uint64_t packets_per_s,
		       uint64_t now_ns)
{
	bucket_init(&rl->bytes, bytes_per_s, now_ns);
	bucket_init(&rl->packets, packets_per_s, now_ns);
	rl->throttled = 0;
}

bool rate_limiter_unlimited(const struct rate_limiter *rl)
{
	return !rl->bytes.rate && !rl->packets.rate;
}

uint64_t rate_limiter_wait_ns(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns)
{
	bucket_refill(&rl->bytes, now_ns);
	bucket_refill(&rl->packets, now_ns);
	uint64_t a = bucket_wait(&rl->bytes, bytes), b = bucket_wait(&rl->packets, 1);
	return a > b ? a : b;
}

bool rate_limiter_consume(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns)
{
	if (rate_limiter_unlimited(rl))
		return true;
	if (rate_limiter_wait_ns(rl, bytes, now_ns)) {
		rl->throttled++;
		return false;
	}
	if (rl->bytes.rate)
		rl->bytes.nanotok -= bucket_cost(&rl->bytes, bytes);
	if (rl->packets.rate)
		rl->packets.nanotok -= bucket_cost(&rl->packets, 1);
	return true;
}

/*
 * memcpy/memmove/memset for the agent, built without SSE (see the Makefile's flags for this file).
 *
 * Why: on hosts whose KVM is software emulation (kvm_pvm, shadow paging), a guest user-mode store
 * that lands on a page KVM has write-protected is emulated by the host, and 16-byte SSE stores in
 * glibc's memmove loops were seen to be lost there: a 10 MiB stream relayed by the agent arrived
 * with 16-byte runs of zeros (docs/guest-kernel.md). The agent moves every byte of the
 * container's stdio, so its copies use plain 8-byte general-register moves, which the emulator
 * handles like the guest kernel's own. The static link makes every call in the agent (including
 * common/ code and compiler-generated copies) use these; glibc's internal calls keep their own.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	for (; n >= 8; n -= 8, d += 8, s += 8) {
		uint64_t w;
		__builtin_memcpy(&w, s, 8);
		__builtin_memcpy(d, &w, 8);
	}
	while (n--)
		*d++ = *s++;
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	if (d == s || n == 0)
		return dst;
	if (d < s || d >= s + n)
		return memcpy(dst, src, n);
	/* Overlap with dst after src: copy backwards. */
	d += n;
	s += n;
	for (; n >= 8; n -= 8) {
		uint64_t w;
		d -= 8;
		s -= 8;
		__builtin_memcpy(&w, s, 8);
		__builtin_memcpy(d, &w, 8);
	}
	while (n--)
		*--d = *--s;
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;
	uint64_t w = 0x0101010101010101ull * (unsigned char)c;
	for (; n >= 8; n -= 8, d += 8)
		__builtin_memcpy(d, &w, 8);
	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

/* Guest RAM: one shared memfd mapping, reached only through bounds-checked helpers. */
#ifndef SANDBOX_GUEST_MEM_H
#define SANDBOX_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"

struct guest_mem {
	uint8_t *host; /* mapping of guest-physical [0, size) */
	uint64_t size;
	int memfd; /* -1 when the memory is not memfd-backed (unit tests) */
};

/* memfd_create + ftruncate + mmap(MAP_SHARED); size is a multiple of 4 KiB. */
int guest_mem_create(struct guest_mem *m, uint64_t size, struct sbx_err *err);
/*
 * Guest RAM as a private copy-on-write mapping of `fd` (a snapshot's memory file): pages are
 * read from the file on first touch and shared with every other mapping until written.
 * memfd is then -1. The fd is not kept.
 */
int guest_mem_map_private(struct guest_mem *m, int fd, uint64_t size, struct sbx_err *err);
/*
 * Moves a private mapping of the file fd (guest_mem_map_private) into a fresh memfd, in place:
 * same host address, so the KVM memslot stays valid. For vhost-user back ends, which map guest
 * RAM from an fd. Only the file's data extents are copied (holes stay holes). Call before
 * anything has written guest RAM (restore, before any vCPU runs): the copy comes from the file.
 */
int guest_mem_share(struct guest_mem *m, int fd, struct sbx_err *err);
void guest_mem_destroy(struct guest_mem *m);

/*
 * Host pointer for guest-physical [gpa, gpa+len), or NULL if any byte of it lies outside guest
 * RAM (overflow-safe). len == 0 is valid when gpa <= size.
 */
void *gpa_to_hva(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Copy helpers; return 0 or -EFAULT when the range is not inside guest RAM. */
int guest_mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len);
int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len);

#endif

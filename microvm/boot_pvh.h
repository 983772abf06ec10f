/*
 * PVH direct boot of an uncompressed vmlinux (Xen PVH ABI, xen/include/public/arch-x86/hvm/
 * start_info.h, and Linux Documentation/x86/boot.rst): the kernel's 32-bit entry named by the
 * XEN_ELFNOTE_PHYS32_ENTRY note is entered in flat protected mode with EBX = &hvm_start_info.
 */
#ifndef SANDBOX_BOOT_PVH_H
#define SANDBOX_BOOT_PVH_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "guest_mem.h"

#define HVM_START_MAGIC 0x336ec578u
#define HVM_START_VERSION 1u
#define XEN_ELFNOTE_PHYS32_ENTRY 18u
/* E820 types used in the memmap (ACPI spec "Address Range Types"). */
#define E820_RAM 1u
#define E820_RESERVED 2u

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;   /* 0: no ACPI */
	uint64_t memmap_paddr; /* version >= 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info v1 is 56 bytes");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry is 32 bytes");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "memmap entry is 24 bytes");

struct pvh_boot {
	uint64_t entry;	     /* guest-physical 32-bit PVH entry point */
	uint64_t kernel_end; /* first byte after the highest PT_LOAD segment */
	uint64_t initrd_addr, initrd_size;
};

/*
 * Checks an ELF image (64-bit x86-64 executable) held in memory and finds its PVH entry; loads
 * nothing. Pure: unit-tested with fabricated images.
 */
int pvh_parse_elf(const uint8_t *img, size_t len, uint64_t *entry, struct sbx_err *err);

/* Maps the vmlinux at `path`, copies its PT_LOAD segments to their physical addresses. */
int pvh_load_kernel(struct guest_mem *m, const char *path, struct pvh_boot *b, struct sbx_err *err);

/* Reads the initrd into the top of guest RAM (page-aligned, above the kernel). */
int pvh_load_initrd(struct guest_mem *m, const char *path, struct pvh_boot *b, struct sbx_err *err);

/* The e820 map for a guest with mem_size bytes of RAM; returns the number of entries. */
size_t pvh_build_memmap(uint64_t mem_size, struct hvm_memmap_table_entry *out, size_t max);

/* Writes the command line, memmap, module list, start info and boot GDT into guest RAM. */
int pvh_write_boot_info(struct guest_mem *m, const char *cmdline, const struct pvh_boot *b,
			struct sbx_err *err);

/* Puts the boot vCPU in flat 32-bit protected mode at the PVH entry (registers and GDT). */
int pvh_setup_bsp(int vcpu_fd, const struct pvh_boot *b, struct sbx_err *err);

#endif

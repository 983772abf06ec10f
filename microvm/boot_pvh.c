/*
 * PVH boot: vmlinux PT_LOAD segments at their physical addresses, the initrd at the top of RAM,
 * hvm_start_info + memmap + command line in low memory, and the boot vCPU in flat 32-bit mode.
 * Everything read from the kernel image is bounds-checked against the file and guest RAM: the
 * image is an input, not trusted code, until the guest runs it.
 */
#include "boot_pvh.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "kvm_ioctl.h"
#include "layout.h"

#define PAGE_SIZE_4K 4096ull
#define ALIGN_UP(x, a) (((x) + (a)-1) & ~((a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((a)-1))
#define ELF_NOTE_ALIGN 4u

/* Boot GDT: selectors 0x10 (code) and 0x18 (data) as the PVH ABI requires; 0x20 is a TSS. */
#define BOOT_GDT_CODE_SEL 0x10
#define BOOT_GDT_DATA_SEL 0x18
#define BOOT_GDT_TSS_SEL 0x20
#define BOOT_GDT_ENTRIES 5
/* Descriptor flag words (Intel SDM vol. 3A §3.4.5): G=1 D=1 P=1 S=1 + access type. */
#define GDT_FLAGS_CODE32 0xc09bu /* execute/read, accessed */
#define GDT_FLAGS_DATA32 0xc093u /* read/write, accessed */
#define GDT_FLAGS_TSS32 0x008bu	 /* busy 32-bit TSS, byte granular */
#define SEG_TYPE_CODE 0xb
#define SEG_TYPE_DATA 0x3
#define SEG_TYPE_TSS_BUSY 0xb
#define TSS_LIMIT 0x67
#define X86_CR0_PE 0x1ull
#define X86_CR0_ET 0x10ull
#define X86_RFLAGS_RESERVED 0x2ull /* bit 1 always reads 1 */

/* True when [off, off+size) lies in [0, len), without overflow. */
static bool in_bounds(uint64_t off, uint64_t size, uint64_t len)
{
	return off <= len && size <= len - off;
}

static int check_ehdr(const uint8_t *img, size_t len, struct sbx_err *err)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return sbx_err_setx(err, ENOEXEC,
				    "not an ELF file (boot the vmlinux, not a bzImage)");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC)
		return sbx_err_setx(err, ENOEXEC, "not a 64-bit x86-64 ELF executable");
	if (eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    !in_bounds(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), len))
		return sbx_err_setx(err, ENOEXEC, "ELF program headers out of bounds");
	return 0;
}

/* Walks one PT_NOTE segment for Xen's PHYS32_ENTRY note; returns 1 when found. */
static int find_pvh_note(const uint8_t *p, uint64_t size, uint64_t *entry)
{
	uint64_t pos = 0;
	while (in_bounds(pos, sizeof(Elf64_Nhdr), size)) {
		const Elf64_Nhdr *nh = (const Elf64_Nhdr *)(p + pos);
		uint64_t name_off = pos + sizeof(*nh);
		uint64_t desc_off = name_off + ALIGN_UP((uint64_t)nh->n_namesz, ELF_NOTE_ALIGN);
		uint64_t next = desc_off + ALIGN_UP((uint64_t)nh->n_descsz, ELF_NOTE_ALIGN);
		if (!in_bounds(desc_off, nh->n_descsz, size))
			return 0;
		if (nh->n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh->n_namesz == 4 &&
		    memcmp(p + name_off, "Xen", 4) == 0) {
			uint64_t v = 0;
			if (nh->n_descsz != 4 && nh->n_descsz != 8)
				return 0;
			memcpy(&v, p + desc_off, nh->n_descsz); /* little-endian, 32 or 64 bits */
			*entry = v;
			return 1;
		}
		pos = next;
	}
	return 0;
}

int pvh_parse_elf(const uint8_t *img, size_t len, uint64_t *entry, struct sbx_err *err)
{
	int r = check_ehdr(img, len, err);
	if (r < 0)
		return r;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(img + eh->e_phoff);
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_NOTE || !in_bounds(ph[i].p_offset, ph[i].p_filesz, len))
			continue;
		if (find_pvh_note(img + ph[i].p_offset, ph[i].p_filesz, entry)) {
			if (*entry < LAYOUT_HIGHMEM_START || *entry > UINT32_MAX)
				return sbx_err_setx(err, ENOEXEC, "PVH entry 0x%llx out of range",
						    (unsigned long long)*entry);
			return 0;
		}
	}
	return sbx_err_setx(
	    err, ENOEXEC,
	    "no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): kernel built without CONFIG_PVH?");
}

static int load_segments(struct guest_mem *m, const uint8_t *img, size_t len, struct pvh_boot *b,
			 struct sbx_err *err)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(img + eh->e_phoff);
	b->kernel_end = 0;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		if (p->p_type != PT_LOAD)
			continue;
		if (!in_bounds(p->p_offset, p->p_filesz, len) || p->p_filesz > p->p_memsz)
			return sbx_err_setx(err, ENOEXEC,
					    "ELF segment %u out of bounds of the file", i);
		/* Below 1 MiB live the VMM's boot structures; a kernel never loads there. */
		uint8_t *dst = p->p_paddr >= LAYOUT_HIGHMEM_START
				   ? gpa_to_hva(m, p->p_paddr, p->p_memsz)
				   : NULL;
		if (!dst)
			return sbx_err_setx(
			    err, E2BIG,
			    "ELF segment %u at 0x%llx+0x%llx does not fit in %llu MiB of guest RAM",
			    i, (unsigned long long)p->p_paddr, (unsigned long long)p->p_memsz,
			    (unsigned long long)(m->size >> 20));
		memcpy(dst, img + p->p_offset, p->p_filesz);
		memset(dst + p->p_filesz, 0, p->p_memsz - p->p_filesz);
		if (p->p_paddr + p->p_memsz > b->kernel_end)
			b->kernel_end = p->p_paddr + p->p_memsz;
	}
	if (b->kernel_end == 0)
		return sbx_err_setx(err, ENOEXEC, "ELF has no PT_LOAD segment");
	return 0;
}

struct file_map {
	void *p;
	size_t len;
};

static void file_map_release(struct file_map *f)
{
	if (f->p && f->p != MAP_FAILED)
		munmap(f->p, f->len);
}

int pvh_load_kernel(struct guest_mem *m, const char *path, struct pvh_boot *b, struct sbx_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sbx_err_set(err, errno, "open kernel '%s'", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return sbx_err_set(err, errno, "stat kernel '%s'", path);
	if (!S_ISREG(st.st_mode) || st.st_size == 0)
		return sbx_err_setx(err, ENOEXEC, "kernel '%s': not a regular, non-empty file",
				    path);
	__attribute__((cleanup(file_map_release))) struct file_map fm = {NULL, (size_t)st.st_size};
	fm.p = mmap(NULL, fm.len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (fm.p == MAP_FAILED)
		return sbx_err_set(err, errno, "mmap kernel '%s'", path);
	int r = pvh_parse_elf(fm.p, fm.len, &b->entry, err);
	if (r >= 0)
		r = load_segments(m, fm.p, fm.len, b, err);
	return r < 0 ? sbx_err_wrap(err, "kernel '%s'", path) : 0;
}

static int read_full(int fd, uint8_t *dst, uint64_t len)
{
	uint64_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, dst + done, len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* file shrank under us */
		done += (uint64_t)n;
	}
	return 0;
}

int pvh_load_initrd(struct guest_mem *m, const char *path, struct pvh_boot *b, struct sbx_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sbx_err_set(err, errno, "open initrd '%s'", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return sbx_err_set(err, errno, "stat initrd '%s'", path);
	if (!S_ISREG(st.st_mode) || st.st_size == 0)
		return sbx_err_setx(err, EINVAL, "initrd '%s': not a regular, non-empty file",
				    path);
	uint64_t size = (uint64_t)st.st_size;
	uint64_t low = ALIGN_UP(b->kernel_end, PAGE_SIZE_4K);
	/* Top of RAM, page-aligned, like QEMU and Firecracker: leaves the most room to the kernel.
	 */
	if (size > m->size || ALIGN_DOWN(m->size - size, PAGE_SIZE_4K) < low)
		return sbx_err_setx(
		    err, E2BIG,
		    "initrd '%s' (%llu bytes) does not fit in guest RAM above the kernel", path,
		    (unsigned long long)size);
	uint64_t addr = ALIGN_DOWN(m->size - size, PAGE_SIZE_4K);
	uint8_t *dst = gpa_to_hva(m, addr, size);
	int r = dst ? read_full(fd, dst, size) : -EFAULT;
	if (r < 0)
		return sbx_err_set(err, -r, "read initrd '%s'", path);
	b->initrd_addr = addr;
	b->initrd_size = size;
	return 0;
}

size_t pvh_build_memmap(uint64_t mem_size, struct hvm_memmap_table_entry *out, size_t max)
{
	struct hvm_memmap_table_entry all[] = {
	    {0, LAYOUT_MPTABLE_START, E820_RAM, 0},
	    {LAYOUT_MPTABLE_START, LAYOUT_LOWMEM_END - LAYOUT_MPTABLE_START, E820_RESERVED, 0},
	    {LAYOUT_HIGHMEM_START, mem_size - LAYOUT_HIGHMEM_START, E820_RAM, 0},
	};
	size_t n = mem_size > LAYOUT_HIGHMEM_START ? 3 : 2;
	if (n > max)
		n = max;
	memcpy(out, all, n * sizeof(all[0]));
	return n;
}

static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (limit & 0xffffu) | ((uint64_t)(limit & 0xf0000u) << 32) | ((uint64_t)flags << 40);
}

static int write_gdt(struct guest_mem *m)
{
	uint64_t gdt[BOOT_GDT_ENTRIES] = {
	    [BOOT_GDT_CODE_SEL / 8] = gdt_entry(GDT_FLAGS_CODE32, 0, 0xfffff),
	    [BOOT_GDT_DATA_SEL / 8] = gdt_entry(GDT_FLAGS_DATA32, 0, 0xfffff),
	    [BOOT_GDT_TSS_SEL / 8] = gdt_entry(GDT_FLAGS_TSS32, 0, TSS_LIMIT),
	};
	return guest_mem_write(m, LAYOUT_BOOT_GDT, gdt, sizeof(gdt));
}

int pvh_write_boot_info(struct guest_mem *m, const char *cmdline, const struct pvh_boot *b,
			struct sbx_err *err)
{
	size_t clen = strlen(cmdline) + 1;
	if (clen > LAYOUT_CMDLINE_MAX)
		return sbx_err_setx(err, E2BIG, "kernel command line is %zu bytes (max %u)", clen,
				    LAYOUT_CMDLINE_MAX);
	struct hvm_memmap_table_entry mm[4];
	size_t nmm = pvh_build_memmap(m->size, mm, 4);
	struct hvm_modlist_entry mod = {b->initrd_addr, b->initrd_size, 0, 0};
	struct hvm_start_info si = {
	    .magic = HVM_START_MAGIC,
	    .version = HVM_START_VERSION,
	    .nr_modules = b->initrd_size ? 1 : 0,
	    .modlist_paddr = b->initrd_size ? LAYOUT_PVH_MODLIST : 0,
	    .cmdline_paddr = LAYOUT_CMDLINE,
	    .memmap_paddr = LAYOUT_PVH_MEMMAP,
	    .memmap_entries = (uint32_t)nmm,
	};
	if (guest_mem_write(m, LAYOUT_CMDLINE, cmdline, clen) < 0 ||
	    guest_mem_write(m, LAYOUT_PVH_MEMMAP, mm, nmm * sizeof(mm[0])) < 0 ||
	    guest_mem_write(m, LAYOUT_PVH_MODLIST, &mod, sizeof(mod)) < 0 ||
	    guest_mem_write(m, LAYOUT_PVH_START_INFO, &si, sizeof(si)) < 0 || write_gdt(m) < 0)
		return sbx_err_setx(err, EFAULT, "boot structures do not fit in guest RAM");
	return 0;
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	*s = (struct kvm_segment){.base = 0,
				  .limit = 0xffffffffu,
				  .selector = sel,
				  .type = type,
				  .present = 1,
				  .dpl = 0,
				  .db = 1,
				  .s = 1,
				  .l = 0,
				  .g = 1};
}

int pvh_setup_bsp(int vcpu_fd, const struct pvh_boot *b, struct sbx_err *err)
{
	struct kvm_sregs sr;
	int r = KVM_IOCTL_PTR(vcpu_fd, KVM_GET_SREGS, &sr, err);
	if (r < 0)
		return r;
	flat_segment(&sr.cs, BOOT_GDT_CODE_SEL, SEG_TYPE_CODE);
	flat_segment(&sr.ds, BOOT_GDT_DATA_SEL, SEG_TYPE_DATA);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	sr.tr = (struct kvm_segment){.limit = TSS_LIMIT,
				     .selector = BOOT_GDT_TSS_SEL,
				     .type = SEG_TYPE_TSS_BUSY,
				     .present = 1};
	sr.gdt.base = LAYOUT_BOOT_GDT;
	sr.gdt.limit = BOOT_GDT_ENTRIES * 8 - 1;
	sr.idt.base = 0;
	sr.idt.limit = 0;
	sr.cr0 = X86_CR0_PE | X86_CR0_ET; /* protected mode, paging off, caches on */
	sr.cr3 = sr.cr4 = sr.efer = 0;
	r = KVM_IOCTL_PTR(vcpu_fd, KVM_SET_SREGS, &sr, err);
	if (r < 0)
		return r;
	struct kvm_regs regs = {
	    .rip = b->entry, .rbx = LAYOUT_PVH_START_INFO, .rflags = X86_RFLAGS_RESERVED};
	return KVM_IOCTL_PTR(vcpu_fd, KVM_SET_REGS, &regs, err);
}

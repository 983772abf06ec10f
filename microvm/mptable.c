/*
 * MP spec 1.4 tables. Layout: the 16-byte floating pointer structure ("_MP_", §4.1), then the
 * configuration table ("PCMP", §4.2) with its entries (§4.3): processors, the ISA bus, the
 * IOAPIC, one I/O interrupt entry per IOAPIC pin, and the two local interrupt entries.
 */
#include "mptable.h"

#include <errno.h>
#include <string.h>

#include "layout.h"

#define MP_SPEC_REV 4 /* 1.4 */
#define MP_ENTRY_PROCESSOR 0
#define MP_ENTRY_BUS 1
#define MP_ENTRY_IOAPIC 2
#define MP_ENTRY_IOINT 3
#define MP_ENTRY_LOCALINT 4
#define MP_CPU_ENABLED 0x01
#define MP_CPU_BSP 0x02
#define MP_IOAPIC_ENABLED 0x01
#define MP_LAPIC_VERSION 0x14  /* integrated APIC, as KVM's LAPIC reports */
#define MP_IOAPIC_VERSION 0x11 /* 82093AA, as KVM's IOAPIC reports */
#define MP_INT_INT 0	       /* vectored interrupt (table 4-9) */
#define MP_INT_NMI 1
#define MP_INT_EXTINT 3
#define MP_IRQ_FLAGS_CONFORM 0 /* polarity/trigger "conforms to bus": ISA = edge, active high */
#define MP_ISA_BUS_ID 0
#define MP_ALL_LAPICS 0xff
/* CPU signature and feature flags of the processor entries: family 6, FPU + APIC present. */
#define MP_CPU_SIGNATURE 0x600
#define MP_CPU_FEATURES 0x201

struct mpf_intel {
	char signature[4];
	uint32_t physptr;
	uint8_t length; /* in 16-byte units */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature[5]; /* feature[0] == 0: a configuration table is present */
} __attribute__((packed));

struct mpc_table {
	char signature[4];
	uint16_t length; /* base table, header included */
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount; /* number of entries */
	uint32_t lapic;
	uint16_t reserved_ext_len;
	uint8_t reserved_ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type, apicid, apicver, cpuflag;
	uint32_t cpufeature_signature, featureflag;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type, busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type, apicid, apicver, flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc { /* both I/O (type 3) and local (type 4) interrupt entries */
	uint8_t type, irqtype;
	uint16_t irqflag;
	uint8_t srcbus, srcbusirq, dstapic, dstirq;
} __attribute__((packed));

_Static_assert(sizeof(struct mpf_intel) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mpc_table) == 44, "MP config header is 44 bytes");
_Static_assert(sizeof(struct mpc_cpu) == 20, "processor entry is 20 bytes");
_Static_assert(sizeof(struct mpc_intsrc) == 8, "interrupt entry is 8 bytes");

#define MP_LOCAL_INTS 2

size_t mptable_size(unsigned ncpus)
{
	return sizeof(struct mpf_intel) + sizeof(struct mpc_table) +
	       ncpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +
	       (LAYOUT_IOAPIC_PINS + MP_LOCAL_INTS) * sizeof(struct mpc_intsrc);
}

uint8_t mptable_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;
	while (len--)
		sum += *p++;
	return sum;
}

/* Appends one entry at *pos; the caller sized buf with mptable_size(). */
static void put(uint8_t *buf, size_t *pos, const void *entry, size_t len)
{
	memcpy(buf + *pos, entry, len);
	*pos += len;
}

static void put_interrupts(uint8_t *buf, size_t *pos, uint8_t ioapic_id)
{
	for (unsigned pin = 0; pin < LAYOUT_IOAPIC_PINS; pin++) {
		/* ISA IRQ n -> IOAPIC pin n: KVM's default GSI routing is the identity. */
		struct mpc_intsrc io = {MP_ENTRY_IOINT, MP_INT_INT,   MP_IRQ_FLAGS_CONFORM,
					MP_ISA_BUS_ID,	(uint8_t)pin, ioapic_id,
					(uint8_t)pin};
		put(buf, pos, &io, sizeof(io));
	}
	/* Local APIC LINT0 receives the 8259 (ExtINT), LINT1 the NMI: the PC-AT wiring (§5.1). */
	struct mpc_intsrc lint0 = {MP_ENTRY_LOCALINT,
				   MP_INT_EXTINT,
				   MP_IRQ_FLAGS_CONFORM,
				   MP_ISA_BUS_ID,
				   0,
				   MP_ALL_LAPICS,
				   0};
	struct mpc_intsrc lint1 = {
	    MP_ENTRY_LOCALINT, MP_INT_NMI, MP_IRQ_FLAGS_CONFORM, MP_ISA_BUS_ID, 0,
	    MP_ALL_LAPICS,     1};
	put(buf, pos, &lint0, sizeof(lint0));
	put(buf, pos, &lint1, sizeof(lint1));
}

int mptable_build(uint8_t *buf, size_t buflen, uint32_t gpa, unsigned ncpus, struct sbx_err *err)
{
	if (ncpus == 0 || ncpus > MPTABLE_MAX_CPUS)
		return sbx_err_setx(err, EINVAL, "MP table: %u vCPUs (1..%u supported)", ncpus,
				    MPTABLE_MAX_CPUS);
	size_t total = mptable_size(ncpus);
	if (buflen < total)
		return sbx_err_setx(err, ENOSPC, "MP table: %zu bytes needed, %zu available", total,
				    buflen);
	memset(buf, 0, total);
	size_t pos = sizeof(struct mpf_intel) + sizeof(struct mpc_table);
	uint8_t ioapic_id = (uint8_t)ncpus; /* APIC ids 0..ncpus-1 are the CPUs */

	for (unsigned i = 0; i < ncpus; i++) {
		struct mpc_cpu cpu = {MP_ENTRY_PROCESSOR,
				      (uint8_t)i,
				      MP_LAPIC_VERSION,
				      MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
				      MP_CPU_SIGNATURE,
				      MP_CPU_FEATURES,
				      {0, 0}};
		put(buf, &pos, &cpu, sizeof(cpu));
	}
	struct mpc_bus bus = {MP_ENTRY_BUS, MP_ISA_BUS_ID, {'I', 'S', 'A', ' ', ' ', ' '}};
	put(buf, &pos, &bus, sizeof(bus));
	struct mpc_ioapic ioapic = {MP_ENTRY_IOAPIC, ioapic_id, MP_IOAPIC_VERSION,
				    MP_IOAPIC_ENABLED, LAYOUT_IOAPIC_ADDR};
	put(buf, &pos, &ioapic, sizeof(ioapic));
	put_interrupts(buf, &pos, ioapic_id);

	struct mpc_table *mpc = (struct mpc_table *)(buf + sizeof(struct mpf_intel));
	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(total - sizeof(struct mpf_intel));
	mpc->spec = MP_SPEC_REV;
	memcpy(mpc->oem, "SANDBOX ", 8);
	memcpy(mpc->productid, "MICROVM     ", 12);
	mpc->oemcount = (uint16_t)(ncpus + 1 + 1 + LAYOUT_IOAPIC_PINS + MP_LOCAL_INTS);
	mpc->lapic = LAYOUT_LAPIC_ADDR;
	mpc->checksum = (uint8_t)-mptable_checksum((uint8_t *)mpc, mpc->length);

	struct mpf_intel *mpf = (struct mpf_intel *)buf;
	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = gpa + sizeof(struct mpf_intel);
	mpf->length = 1;
	mpf->specification = MP_SPEC_REV;
	mpf->checksum = (uint8_t)-mptable_checksum(buf, sizeof(*mpf));
	return (int)total;
}

int mptable_write(struct guest_mem *m, unsigned ncpus, struct sbx_err *err)
{
	uint8_t buf[LAYOUT_LOWMEM_END - LAYOUT_MPTABLE_START];
	int n = mptable_build(buf, sizeof(buf), (uint32_t)LAYOUT_MPTABLE_START, ncpus, err);
	if (n < 0)
		return n;
	if (guest_mem_write(m, LAYOUT_MPTABLE_START, buf, (uint64_t)n) < 0)
		return sbx_err_setx(err, EFAULT, "MP table at 0x%llx: outside guest RAM",
				    (unsigned long long)LAYOUT_MPTABLE_START);
	return 0;
}

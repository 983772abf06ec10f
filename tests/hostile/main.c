/*
 * The hostile guest's main: reads `hostile=NAME[,NAME...]` (or `hostile=all`, or
 * `hostile=bystander`, `hostile=console-flood`, or `hostile=panic`) from the kernel command line
 * the VMM built, runs those attacks, after each one checks that every device still serves a sane
 * request, prints "HOSTILE DONE" and resets the VM. Console protocol (read by
 * tests/integration/test_hostile.c): ATTACK <name> begin|end   CHECK <dev>@<base> ok|FAIL <why> BAD
 * <what>   HOSTILE DONE
 */
#include "attacks.h"

struct attack {
	const char *name;
	void (*run)(void);
};

static const struct attack attacks[] = {
    {"regs", attack_regs},
    {"features", attack_features},
    {"queues", attack_queues},
    {"mmio", attack_mmio_unclaimed},
    {"pio", attack_pio},
    {"legacy", attack_legacy},
    {"desc-addr", attack_desc_addr},
    {"desc-loop", attack_desc_loop},
    {"desc-len", attack_desc_len},
    {"indirect", attack_indirect},
    {"chains", attack_chains},
    {"notify-flood", attack_notify_flood},
    {"vsock", attack_vsock},
    {"net", attack_net},
    {"width", attack_width},
    {"race", attack_race},
};
#define NATTACKS (sizeof(attacks) / sizeof(attacks[0]))

#define E820_RAM 1u
struct memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

static void read_boot_info(const struct hvm_start_info *si)
{
	cmdline = (const char *)(uint32_t)si->cmdline_paddr;
	const struct memmap_entry *m = (const struct memmap_entry *)(uint32_t)si->memmap_paddr;
	for (uint32_t i = 0; i < si->memmap_entries && i < 16; i++)
		if (m[i].type == E820_RAM && m[i].addr + m[i].size > ram_end)
			ram_end = (uint32_t)(m[i].addr + m[i].size);
}

static void run_attack(const struct attack *a)
{
	con_printf("ATTACK %s begin\n", a->name);
	a->run();
	con_printf("ATTACK %s end\n", a->name);
	/* hostile.skipcheck=NAME: a device whose back end is expected to have given up (virtiofsd
	 * stops serving a queue after one bad chain). */
	char skip[16] = "";
	cmdline_get("hostile.skipcheck", skip, sizeof(skip));
	for (unsigned i = 0; i < ndevices; i++)
		if (strlen(skip) != strlen(devices[i].name) ||
		    memcmp(skip, devices[i].name, strlen(skip)) != 0)
			check_device(&devices[i]);
}

/* Runs each name of the comma-separated list; "all" is every attack in table order. */
static void run_list(const char *list)
{
	while (*list) {
		size_t n = 0;
		while (list[n] && list[n] != ',')
			n++;
		bool found = false;
		for (unsigned i = 0; i < NATTACKS; i++) {
			bool all = n == 3 && memcmp(list, "all", 3) == 0;
			if (all || (strlen(attacks[i].name) == n &&
				    memcmp(list, attacks[i].name, n) == 0)) {
				run_attack(&attacks[i]);
				found = true;
			}
		}
		if (!found)
			con_printf("BAD unknown attack '%s'\n", list);
		list += n + (list[n] == ',');
	}
}

void hostile_main(const struct hvm_start_info *si)
{
	read_boot_info(si);
	virtio_discover();
	con_printf("HOSTILE guest: RAM end %x, %u virtio devices:", ram_end, ndevices);
	for (unsigned i = 0; i < ndevices; i++)
		con_printf(" %s@%x", devices[i].name, devices[i].base);
	con_puts("\n");
	char list[256];
	if (!cmdline_get("hostile", list, sizeof(list)))
		list[0] = '\0';
	if (memcmp(list, "bystander", 10) == 0)
		bystander();
	else if (memcmp(list, "race-reset", 11) == 0)
		attack_race_reset(); /* not in the table: the VM ends in the middle of it */
	else if (memcmp(list, "console-flood", 14) == 0)
		attack_console_flood(); /* not in the table: the log is cut, so no CHECK lines */
	else if (memcmp(list, "panic", 6) == 0)
		con_puts(
		    "Kernel panic - hostile guest says so\n"); /* the VMM must stop us: exit 3 */
	else
		run_list(list);
	con_puts("HOSTILE DONE\n");
}

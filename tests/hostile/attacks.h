/*
 * The attack classes of the hostile guest. Each runs against every device present (or the one
 * it needs), prints "BAD ..." when the VMM answers in a way docs/virtio.md says it must not, and
 * leaves the devices for main.c's service checks.
 */
#ifndef HOSTILE_ATTACKS_H
#define HOSTILE_ATTACKS_H

#include "virtio.h"

void attack_regs(void);
void attack_features(void);
void attack_queues(void);
void attack_mmio_unclaimed(void);
void attack_pio(void);
void attack_legacy(void);
void attack_console_flood(void);
void attack_desc_addr(void);
void attack_desc_loop(void);
void attack_desc_len(void);
void attack_indirect(void);
void attack_chains(void);
void attack_notify_flood(void);
void attack_vsock(void);
void attack_net(void);
void attack_width(void);
void attack_race(void);
/* Not in the table: ends the VM (main.c). */
void attack_race_reset(void);
/* Not an attack: the well-behaved neighbour VM (main.c). */
void bystander(void);

#endif

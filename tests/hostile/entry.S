/*
 * Entry of the hostile test guest (tests/hostile/README in docs/security.md "Hostile guest").
 * The VMM enters through the PVH note in flat 32-bit protected mode, paging off, interrupts
 * off, EBX = hvm_start_info (microvm/boot_pvh.c). We set a stack, run the attacks, and end the
 * VM the way Linux does with reboot=k: 0xfe to the i8042 command port.
 */
	.section .note.Xen, "a"
	.balign 4
	.long 4			/* namesz: "Xen\0" */
	.long 4			/* descsz: 32-bit entry address */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long _start

	.text
	.code32
	.globl _start
_start:
	cli
	mov	$stack_top, %esp
	push	%ebx
	call	hostile_main
	.globl guest_reset
guest_reset:
	mov	$0xfe, %al
	outb	%al, $0x64
1:	hlt
	jmp	1b

/*
 * Every interrupt vector lands here (the bystander's LAPIC timer). KVM's emulator on kvm_pvm
 * cannot execute a 32-bit IRET (emulation failure, measured), so the return is done by hand:
 * interrupts are only ever enabled around one HLT (bystander.c, which lets EAX be clobbered),
 * so pop EIP, drop CS and EFLAGS (IF stays clear, as the interrupt gate left it), EOI, jump back.
 */
	.globl irq_stub
irq_stub:
	popl	%eax
	addl	$8, %esp
	movl	$0, 0xfee000b0
	jmp	*%eax

/*
 * Second vCPU (smp.c): an AP wakes from INIT/SIPI in real mode at CS = vector << 8, IP = 0.
 * smp.c copies these bytes to AP_TRAMPOLINE (0x8000, vector 8); they load the VMM's flat boot
 * GDT (0x500: code 0x10, data 0x18, microvm/boot_pvh.c), enter protected mode and jump to
 * ap_entry32 in this image, which runs ap_main() on its own stack.
 */
	.code16
	.globl ap_trampoline, ap_trampoline_end
ap_trampoline:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	lgdtl	0x8000 + (ap_gdtr - ap_trampoline)
	movl	%cr0, %eax
	orl	$1, %eax
	movl	%eax, %cr0
	ljmpl	$0x10, $ap_entry32
	.balign 4
ap_gdtr:
	.word	5 * 8 - 1
	.long	0x500
ap_trampoline_end:

	.code32
ap_entry32:
	movw	$0x18, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	mov	$ap_stack_top, %esp
	call	ap_main
1:	cli
	hlt
	jmp	1b

	.bss
	.balign 16
	.space 32768
stack_top:
	.space 16384
ap_stack_top:
	.section .note.GNU-stack, "", @progbits

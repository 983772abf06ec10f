/*
 * The smallest useful guest init for boot benchmarks: reboot at once. With reboot=k the kernel
 * writes 0xfe to port 0x64 and the VMM (ours or QEMU with -no-reboot) exits.
 */
#include <sys/reboot.h>
#include <unistd.h>

int main(void)
{
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

/*
 * devmem-hold [--no-sync] ADDRESS COMMAND: a test helper for the emulated host.
 *
 * Maps the 4 KiB page at ADDRESS from /dev/mem (O_RDWR, plus O_SYNC unless --no-sync;
 * MAP_SHARED), reads its first 8 bytes, runs COMMAND with sh while the mapping is held, and
 * reads again. Prints "mapped VALUE", COMMAND's output, then "after VALUE" or, when the
 * mapping was revoked under it, "SIGBUS" (exit 3). Exit 2 when the page cannot be mapped.
 * Used by Tests/HostTests/PlanCheckFlushTests.swift to observe /dev/mem revocation and the
 * PAT memory type of a mapping (/sys/kernel/debug/x86/pat_memtype_list) while it exists.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void on_sigbus(int signo)
{
	(void)signo;
	static const char text[] = "SIGBUS\n";
	(void)!write(STDOUT_FILENO, text, sizeof text - 1);
	_exit(3);
}

int main(int argc, char **argv)
{
	int sync = 1, arg = 1;
	if (argc > 1 && !strcmp(argv[1], "--no-sync")) {
		sync = 0;
		arg++;
	}
	if (argc - arg != 2) {
		fprintf(stderr, "usage: devmem-hold [--no-sync] ADDRESS COMMAND\n");
		return 2;
	}
	char *end;
	errno = 0;
	unsigned long long address = strtoull(argv[arg], &end, 0);
	if (errno || *end || address % 4096) {
		fprintf(stderr, "devmem-hold: %s is not a page-aligned address\n", argv[arg]);
		return 2;
	}
	int fd = open("/dev/mem", O_RDWR | (sync ? O_SYNC : 0));
	if (fd < 0) {
		fprintf(stderr, "devmem-hold: open /dev/mem: %s\n", strerror(errno));
		return 2;
	}
	volatile uint64_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)address);
	if (page == MAP_FAILED) {
		fprintf(stderr, "devmem-hold: mmap 0x%llx: %s\n", address, strerror(errno));
		return 2;
	}
	signal(SIGBUS, on_sigbus);
	printf("mapped 0x%llx\n", (unsigned long long)page[0]);
	fflush(stdout);
	int status = system(argv[arg + 1]);
	printf("after 0x%llx\n", (unsigned long long)page[0]);
	return status == 0 ? 0 : 1;
}

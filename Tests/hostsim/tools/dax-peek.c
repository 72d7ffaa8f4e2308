/*
 * dax-peek PATH MAPSIZE OFFSET LENGTH: a test helper for the emulated host.
 *
 * Maps the first MAPSIZE bytes of the device-dax device PATH (MAP_SHARED, read-only; device
 * dax has no read(2), and MAPSIZE must be a multiple of its alignment) and writes the LENGTH
 * bytes at OFFSET to stdout as they are. Exit 2 when PATH cannot be opened or mapped, or the
 * range lies outside MAPSIZE. Used by Tests/HostTests/GuestPassthroughTests.swift to read on
 * the host what a guest wrote into its pmem.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: dax-peek PATH MAPSIZE OFFSET LENGTH\n");
		return 2;
	}
	unsigned long long size = strtoull(argv[2], NULL, 0);
	unsigned long long offset = strtoull(argv[3], NULL, 0);
	unsigned long long length = strtoull(argv[4], NULL, 0);
	if (size == 0 || offset > size || length > size - offset) {
		fprintf(stderr, "dax-peek: %llu bytes at %llu do not lie in %llu\n", length, offset, size);
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "dax-peek: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "dax-peek: mmap %s (%llu bytes): %s\n", argv[1], size, strerror(errno));
		return 2;
	}
	const char *bytes = (const char *)p + offset;
	size_t done = 0;
	while (done < length) {
		ssize_t n = write(STDOUT_FILENO, bytes + done, length - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return 2;
		}
		done += (size_t)n;
	}
	return 0;
}

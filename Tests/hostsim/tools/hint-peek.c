/* hint-peek: reads (and with -z first zeroes) 8-byte flush hints through a mapping of PATH at
 * each hint's page, as flushctl maps them: the flushhint node or /dev/mem, the page's physical
 * address as the offset. One line per hint, "0xADDRESS 0xVALUE", as busybox devmem prints
 * values; "0xADDRESS ERROR" when the page cannot be mapped. Exits 1 if any line is an error.
 *
 *   hint-peek [-z] PATH ADDRESS...
 *
 * Static: gcc -static -O2 -o hint-peek hint-peek.c */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int zero = 0, first = 1, failed = 0;
    if (argc > 1 && strcmp(argv[1], "-z") == 0) {
        zero = 1;
        first = 2;
    }
    if (argc - first < 2) {
        fprintf(stderr, "usage: hint-peek [-z] PATH ADDRESS...\n");
        return 2;
    }
    int fd = open(argv[first], O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "hint-peek: %s: %s\n", argv[first], strerror(errno));
        return 1;
    }
    for (int i = first + 1; i < argc; i++) {
        uint64_t address = strtoull(argv[i], NULL, 0);
        uint64_t page = address & ~(uint64_t)0xfff;
        void *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)page);
        if (map == MAP_FAILED) {
            printf("0x%llx %s\n", (unsigned long long)address, strerror(errno));
            failed = 1;
            continue;
        }
        volatile uint64_t *hint = (volatile uint64_t *)((char *)map + (address - page));
        if (zero)
            *hint = 0;
        printf("0x%llx 0x%llx\n", (unsigned long long)address, (unsigned long long)*hint);
        munmap(map, 4096);
    }
    close(fd);
    return failed;
}

/*
 * guest-flush: times N durable-write flushes of one kind inside a guest (Tests/bench/guest-flush.sh,
 * docs/performance.md "A guest's flush, each way"). Built static (gcc -static -O2) and put into the
 * inner guest of the emulated host; run as root.
 *
 *   guest-flush [-n N] null                  two store fences and nothing between (clock and loop floor)
 *   guest-flush [-n N] passthrough           sfence, one 8-byte store to the first hint of every DIMM
 *                                            in the guest's NFIT (through /dev/mem), sfence: what
 *                                            Linux's nvdimm_flush() does
 *   guest-flush [-n N] trapped ADDR          the same store to the guest-physical page ADDR, which the
 *                                            VMM does not back: every store exits to the VMM
 *   guest-flush [-n N] write1 NAME PATH      pwrite "1" to PATH (a region's deep_flush), timed as NAME
 *   guest-flush [-n N] fsync NAME PATH       fsync(2) of PATH (a pmem block device), timed as NAME
 *
 * Prints one line `method NAME count N clock_ns C min_ns .. p50_ns .. p99_ns .. p999_ns .. max_ns ..
 * mean_ns ..` and one line `hist NAME B:COUNT ...`, B the bucket floor(20 * log10(ns)), so bucket B
 * holds latencies from 10^(B/20) ns up to 10^((B+1)/20) ns. Exit 1 on any error (nothing timed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_DIMMS 64
#define BUCKETS 200 /* 20 per decade: 1 ns to 10^10 ns */

static void die(const char *what)
{
    fprintf(stderr, "guest-flush: %s: %s\n", what, strerror(errno));
    exit(1);
}

static inline uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* As Linux's wmb() and writeq() on x86_64 (arch/x86/include/asm/barrier.h, io.h). */
static inline void sfence(void) { __asm__ __volatile__("sfence" ::: "memory"); }
static inline void writeq(uint64_t value, volatile uint64_t *address)
{
    __asm__ __volatile__("movq %0, %1" : : "r"(value), "m"(*address) : "memory");
}

/* Maps the page holding physical address `address` from /dev/mem (O_SYNC: uncached) and returns the
 * address's register. */
static volatile uint64_t *map_register(uint64_t address)
{
    static int fd = -1;
    if (fd < 0 && (fd = open("/dev/mem", O_RDWR | O_SYNC)) < 0)
        die("open /dev/mem");
    uint64_t page = address & ~(uint64_t)4095;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)page);
    if (p == MAP_FAILED) {
        char what[64];
        snprintf(what, sizeof what, "mmap /dev/mem at 0x%llx", (unsigned long long)page);
        die(what);
    }
    return (volatile uint64_t *)((char *)p + (address - page));
}

/* The first flush hint of every DIMM in the guest's NFIT (flush hint address structures, type 6:
 * type u16, length u16, handle u32, count u16, 6 reserved bytes, count u64 addresses), in table
 * order. Returns the number of DIMMs. */
static int nfit_first_hints(uint64_t *hints)
{
    static unsigned char table[1 << 16];
    int fd = open("/sys/firmware/acpi/tables/NFIT", O_RDONLY);
    if (fd < 0)
        die("open /sys/firmware/acpi/tables/NFIT");
    ssize_t size = 0, got;
    while ((got = read(fd, table + size, sizeof table - size)) > 0)
        size += got;
    if (got < 0)
        die("read NFIT");
    close(fd);
    int dimms = 0;
    for (ssize_t at = 40; at + 4 <= size;) { /* 36-byte ACPI header, 4 reserved bytes */
        uint16_t type, length;
        memcpy(&type, table + at, 2);
        memcpy(&length, table + at + 2, 2);
        if (length < 4 || at + length > size)
            break;
        if (type == 6 && length >= 24 && dimms < MAX_DIMMS) {
            uint16_t count;
            memcpy(&count, table + at + 8, 2);
            if (count > 0)
                memcpy(&hints[dimms++], table + at + 16, 8);
        }
        at += length;
    }
    return dimms;
}

static int compare(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, uint64_t *samples, long n, uint64_t clock_ns)
{
    long counts[BUCKETS] = {0};
    double sum = 0;
    for (long i = 0; i < n; i++) {
        sum += (double)samples[i];
        int b = samples[i] ? (int)floor(20 * log10((double)samples[i])) : 0;
        counts[b < 0 ? 0 : b >= BUCKETS ? BUCKETS - 1 : b]++;
    }
    qsort(samples, (size_t)n, sizeof *samples, compare);
#define AT(q) samples[(long)ceil((q) * n) - 1]
    printf("method %s count %ld clock_ns %llu min_ns %llu p50_ns %llu p99_ns %llu p999_ns %llu max_ns %llu mean_ns %.0f\n",
           name, n, (unsigned long long)clock_ns, (unsigned long long)samples[0], (unsigned long long)AT(0.5),
           (unsigned long long)AT(0.99), (unsigned long long)AT(0.999), (unsigned long long)samples[n - 1], sum / n);
    printf("hist %s", name);
    for (int b = 0; b < BUCKETS; b++)
        if (counts[b])
            printf(" %d:%ld", b, counts[b]);
    printf("\n");
}

int main(int argc, char **argv)
{
    long n = 10000;
    int opt;
    while ((opt = getopt(argc, argv, "+n:")) != -1) {
        if (opt != 'n' || (n = atol(optarg)) < 1) {
            fprintf(stderr, "usage: guest-flush [-n N] null|passthrough|trapped ADDR|write1 NAME PATH|fsync NAME PATH\n");
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "guest-flush: no method\n");
        return 2;
    }
    const char *method = argv[optind];
    char **rest = argv + optind + 1;
    int nrest = argc - optind - 1;

    volatile uint64_t *registers[MAX_DIMMS];
    int nregisters = 0, fd = -1;
    const char *name = method;
    enum { STORE, WRITE1, FSYNC } kind = STORE;
    if (strcmp(method, "null") == 0 && nrest == 0) {
    } else if (strcmp(method, "passthrough") == 0 && nrest == 0) {
        uint64_t hints[MAX_DIMMS];
        nregisters = nfit_first_hints(hints);
        if (nregisters == 0) {
            fprintf(stderr, "guest-flush: the guest's NFIT has no flush hint\n");
            return 1;
        }
        for (int i = 0; i < nregisters; i++)
            registers[i] = map_register(hints[i]);
    } else if (strcmp(method, "trapped") == 0 && nrest == 1) {
        registers[nregisters++] = map_register(strtoull(rest[0], NULL, 0));
    } else if ((strcmp(method, "write1") == 0 || strcmp(method, "fsync") == 0) && nrest == 2) {
        name = rest[0];
        kind = method[0] == 'w' ? WRITE1 : FSYNC;
        if ((fd = open(rest[1], kind == WRITE1 ? O_WRONLY : O_RDWR)) < 0)
            die(rest[1]);
    } else {
        fprintf(stderr, "guest-flush: unknown method or wrong arguments: %s\n", method);
        return 2;
    }

    uint64_t *samples = malloc((size_t)n * sizeof *samples);
    if (!samples)
        die("malloc");
    /* The clock's own cost: the least of 1000 back-to-back readings. */
    uint64_t clock_ns = UINT64_MAX;
    for (int i = 0; i < 1000; i++) {
        uint64_t a = now_ns(), b = now_ns();
        if (b - a < clock_ns)
            clock_ns = b - a;
    }
    for (long i = 0; i < n; i++) {
        uint64_t start = now_ns();
        switch (kind) {
        case STORE:
            sfence();
            for (int d = 0; d < nregisters; d++)
                writeq(1, registers[d]);
            sfence();
            break;
        case WRITE1:
            if (pwrite(fd, "1", 1, 0) != 1)
                die("write 1");
            break;
        case FSYNC:
            if (fsync(fd) != 0)
                die("fsync");
            break;
        }
        samples[i] = now_ns() - start;
    }
    report(name, samples, n, clock_ns);
    return 0;
}

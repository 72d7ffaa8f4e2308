/* flushhint-probe: one mmap of a flush-hint node (or /dev/mem) in the emulated host, one line out.
 *
 *   flushhint-probe [-e] [-p] [-n PAGES] [-w OFFSET] [-x COMMAND] LABEL PATH ADDRESS
 *
 * Opens PATH read-write and maps PAGES pages (default 1) at file offset ADDRESS, MAP_SHARED
 * (-p: MAP_PRIVATE). Prints "LABEL open=ERRNO" when open fails; with -e then
 * " seek_end=ERRNO|SIZE" (what lseek(fd, 0, SEEK_END) returned, as QEMU sizes a mem-path);
 * then " mmap=ERRNO" when mmap fails, else " mmap=ok" followed by
 *   -w OFFSET:  " wrote=1 read=V": 1 written at byte OFFSET of the mapping as a 64-bit store,
 *               read back through it;
 *   -x COMMAND: " command=STATUS access=ok|SIGBUS": COMMAND run with system() while the
 *               mapping lives, then the first word of the mapping read again.
 * Exits 0 whenever it could print its line. Static: gcc -static -O2 -o flushhint-probe flushhint-probe.c */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static sigjmp_buf fault;

static void on_sigbus(int sig)
{
    siglongjmp(fault, sig);
}

/* The word at p, or -1 with "SIGBUS"/"SIGSEGV" in *what when reading it faults. */
static int probe_read(volatile uint64_t *p, uint64_t *value, const char **what)
{
    int sig = sigsetjmp(fault, 1);
    if (sig != 0) {
        *what = sig == SIGBUS ? "SIGBUS" : "SIGSEGV";
        return -1;
    }
    *value = *p;
    *what = "ok";
    return 0;
}

int main(int argc, char **argv)
{
    int opt, private = 0, seek_end = 0;
    long pages = 1, offset = -1;
    static const char *command;  /* static: not clobbered by siglongjmp */

    while ((opt = getopt(argc, argv, "epn:w:x:")) != -1) {
        switch (opt) {
        case 'e': seek_end = 1; break;
        case 'p': private = 1; break;
        case 'n': pages = strtol(optarg, NULL, 0); break;
        case 'w': offset = strtol(optarg, NULL, 0); break;
        case 'x': command = optarg; break;
        default:
            fprintf(stderr, "usage: flushhint-probe [-e] [-p] [-n PAGES] [-w OFFSET] [-x COMMAND] LABEL PATH ADDRESS\n");
            return 2;
        }
    }
    if (argc - optind != 3) {
        fprintf(stderr, "flushhint-probe: expected LABEL PATH ADDRESS\n");
        return 2;
    }
    const char *label = argv[optind], *path = argv[optind + 1];
    off_t address = (off_t)strtoull(argv[optind + 2], NULL, 0);
    size_t length = (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);

    struct sigaction sa = { .sa_handler = on_sigbus };
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);

    int fd = open(path, O_RDWR | O_SYNC);
    if (fd < 0) {
        printf("%s open=%s\n", label, strerrorname_np(errno));
        return 0;
    }
    printf("%s", label);
    if (seek_end) {
        off_t end = lseek(fd, 0, SEEK_END);
        if (end < 0)
            printf(" seek_end=%s", strerrorname_np(errno));
        else
            printf(" seek_end=%lld", (long long)end);
    }
    void *map = mmap(NULL, length, PROT_READ | PROT_WRITE, private ? MAP_PRIVATE : MAP_SHARED, fd, address);
    if (map == MAP_FAILED) {
        printf(" mmap=%s\n", strerrorname_np(errno));
        return 0;
    }
    printf(" mmap=ok");
    if (offset >= 0) {
        volatile uint64_t *word = (volatile uint64_t *)((char *)map + offset);
        uint64_t value = 0;
        const char *what;
        int sig = sigsetjmp(fault, 1);
        if (sig == 0) {
            *word = 1;
            printf(" wrote=1");
        } else {
            printf(" wrote=%s", sig == SIGBUS ? "SIGBUS" : "SIGSEGV");
        }
        if (probe_read(word, &value, &what) == 0)
            printf(" read=%llu", (unsigned long long)value);
        else
            printf(" read=%s", what);
    }
    if (command) {
        uint64_t value;
        const char *what;
        fflush(stdout);
        int status = system(command);
        printf(" command=%d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        probe_read((volatile uint64_t *)map, &value, &what);
        printf(" access=%s", what);
    }
    printf("\n");
    return 0;
}

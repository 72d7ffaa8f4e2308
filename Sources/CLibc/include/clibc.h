#ifndef FLUSHCTL_CLIBC_H
#define FLUSHCTL_CLIBC_H
// The C library for code compiled as Embedded Swift (flushctl-front), which has no Glibc
// module. Regular Swift modules import Glibc instead; shared sources choose with
// `#if hasFeature(Embedded)`.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/// errno, which Swift cannot import from C directly (a macro over a thread-local).
static inline int flushctl_errno(void) { return errno; }

/// open(2) without a mode: Swift cannot call the variadic C `open`.
static inline int flushctl_open(const char *path, int flags) { return open(path, flags); }

#endif

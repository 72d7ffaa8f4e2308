#ifndef FLUSHCTL_CMMIO_H
#define FLUSHCTL_CMMIO_H
// The two machine operations a flush-hint write needs, which Swift cannot spell: a store fence
// that orders every earlier store (non-temporal ones included) as Linux's wmb() does, and a
// volatile 8-byte store to an uncached MMIO mapping as Linux's writeq() does.
#include <stdint.h>

/// Orders all earlier stores, including non-temporal and write-combining ones, before any later
/// store: `sfence` on x86-64 (Linux's wmb()), `dsb st` on arm64.
static inline void flushctl_wmb(void) {
#if defined(__x86_64__)
    __asm__ __volatile__("sfence" ::: "memory");
#elif defined(__aarch64__)
    __asm__ __volatile__("dsb st" ::: "memory");
#else
#error "flushctl_wmb: no store fence defined for this architecture"
#endif
}

/// One 8-byte store of `value` to `address`, which the compiler may neither tear, merge nor drop.
static inline void flushctl_writeq(void *address, uint64_t value) {
    *(volatile uint64_t *)address = value;
}

#endif

#ifndef FLUSHCTL_CZLIB_SHIM_H
#define FLUSHCTL_CZLIB_SHIM_H

#include <zlib.h>

/* inflateInit2 is a macro, which Swift cannot call. windowBits 16 + MAX_WBITS: a gzip header
   and trailer (CRC-32, length) around the deflate data, checked by zlib; no zlib or raw streams. */
static inline int czlib_inflate_init_gzip(z_streamp stream) {
    return inflateInit2(stream, 16 + MAX_WBITS);
}

#endif

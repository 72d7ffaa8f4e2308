// CMMIO is header-only (static inline functions in include/mmio.h); SwiftPM needs one C file.
#include "mmio.h"

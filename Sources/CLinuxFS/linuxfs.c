// CLinuxFS is header-only (static inline functions in include/linuxfs.h); SwiftPM needs one C file.
#include "linuxfs.h"

// Header-only: see include/clibc.h. SwiftPM wants one source file per C target.
#include "clibc.h"

#ifndef FLUSHCTL_CNDCTL_SHIM_H
#define FLUSHCTL_CNDCTL_SHIM_H
// libndctl's headers use uuid_t from <uuid/uuid.h> (uuid-dev), which libndctl-dev does not pull in.
#include <uuid/uuid.h>
#include <ndctl/libndctl.h>
#include <daxctl/libdaxctl.h>
#endif

#ifndef FER_CHIREDIS_SHIM_H
#define FER_CHIREDIS_SHIM_H
// hiredis 0.14 (Debian libhiredis-dev): the synchronous Redis client the publisher speaks through.
#include <hiredis/hiredis.h>
#endif

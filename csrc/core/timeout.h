/*
** timeout.h -- running tasks' time limits (core/timeout.c). Internal.
*/
#ifndef CF_TIMEOUT_H
#define CF_TIMEOUT_H

#include "object.h"

/* Ask f to stop with the timeout reason `seconds` from now, unless it has
** been removed by then (f is retained meanwhile): 0 or -errno. */
int  cf_timeout_add(cf_future *f, double seconds);
void cf_timeout_remove(cf_future *f);

#endif

#ifndef RCPTGUARD_DAEMON_COUNTERS_H
#define RCPTGUARD_DAEMON_COUNTERS_H

#include "counters.h"

extern const struct counter counters_live[];
/* What status and metrics render: the live rows, the pipeline's since
 * start, the pipeline's state now. */
extern const struct counter *const counters_status[];

#endif

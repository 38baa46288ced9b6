/* The live side's clocks, in one place. The core never reads a clock: its
 * time is the packet's timestamp, handed in by whoever feeds it. */
#ifndef RCPTGUARD_CLOCK_H
#define RCPTGUARD_CLOCK_H

#include "util.h"

/* Wall-clock time (CLOCK_REALTIME): what ban times, the state file and
 * the kernel's packet timestamps are measured in. */
usec_t clock_wall(void);
/* Monotonic time (CLOCK_MONOTONIC): for intervals and deadlines, which a
 * change of the system time must not stretch or cut. */
usec_t clock_mono(void);
/* The same in whole seconds. */
static inline int64_t clock_mono_sec(void)
{
	return clock_mono() / USEC_PER_SEC;
}

#endif

#include "clock.h"

#include <time.h>

static usec_t read_clock(clockid_t id)
{
	struct timespec ts;

	/* Cannot fail for these two clocks with a valid pointer. */
	(void)clock_gettime(id, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

usec_t clock_wall(void)
{
	return read_clock(CLOCK_REALTIME);
}

usec_t clock_mono(void)
{
	return read_clock(CLOCK_MONOTONIC);
}

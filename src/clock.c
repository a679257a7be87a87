/*
 * clock: gettimeofday as one number.
 */
#include <sys/time.h>

#include <stddef.h>

#include "clock.h"

double
clock_now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

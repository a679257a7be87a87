/*
 * clock: gettimeofday and CLOCK_MONOTONIC as numbers, and the steady clock made of
 * the two (see clock.h).
 */
#include <sys/time.h>

#include <stddef.h>
#include <time.h>

#include "clock.h"

static int	 clock_faked;
static double	 clock_fake_wall, clock_fake_mono;
static int	 clock_anchored;
static double	 clock_anchor_wall, clock_anchor_mono;

double
clock_now(void)
{
	struct timeval tv;

	if (clock_faked)
		return clock_fake_wall;
	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

/* clock_mono: seconds of CLOCK_MONOTONIC. */
static double
clock_mono(void)
{
	struct timespec ts;

	if (clock_faked)
		return clock_fake_mono;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

double
clock_steady(void)
{
	if (!clock_anchored) {
		clock_anchor_wall = clock_now();
		clock_anchor_mono = clock_mono();
		clock_anchored = 1;
	}
	return clock_anchor_wall + (clock_mono() - clock_anchor_mono);
}

double
clock_to_wall(double steady)
{
	return steady + (clock_now() - clock_steady());
}

void
clock_fake(int on, double wall, double mono)
{
	clock_faked = on;
	clock_fake_wall = wall;
	clock_fake_mono = mono;
}

void
clock_restart(void)
{
	clock_anchored = 0;
}

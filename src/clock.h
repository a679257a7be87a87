/*
 * clock: the wall-clock time with its fraction of a second, for delays in the log
 * and for pauses the scheduler keeps exact (suspensions, min_interval).
 */
#ifndef RELAYD_CLOCK_H
#define RELAYD_CLOCK_H

/* clock_now: seconds since the epoch, with microseconds. */
double	clock_now(void);

#endif

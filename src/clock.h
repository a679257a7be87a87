/*
 * clock: time for the log and for the scheduler.
 *
 * clock_now is the wall clock (what a message's arrival and delay= say). clock_steady
 * is the scheduler's and the ledger's clock: the wall-clock time the process started
 * plus the monotonic time elapsed since, so within a run a step of the wall clock
 * (NTP, an operator, a VM resumed) neither grants quota early nor blocks an account
 * for days. Across a restart it is re-anchored to the wall clock; quota.c bounds
 * what a ledger written under another clock can claim.
 *
 * Tests replace both sources (clock_fake) to step either at will.
 */
#ifndef RELAYD_CLOCK_H
#define RELAYD_CLOCK_H

/* clock_now: the wall clock, seconds since the epoch, with microseconds. */
double	clock_now(void);

/* clock_steady: the start-up wall-clock time plus monotonic seconds elapsed since. */
double	clock_steady(void);

/* clock_to_wall: a clock_steady time as the wall clock shows it now (for status). */
double	clock_to_wall(double steady);

/*
 * clock_fake: from now on the wall clock reads wall and the monotonic one mono
 * (tests only; the anchor of clock_steady is kept if it was taken). on 0 goes back
 * to the real clocks.
 */
void	clock_fake(int on, double wall, double mono);

/* clock_restart: forget the anchor of clock_steady (tests: the process restarted). */
void	clock_restart(void);

#endif

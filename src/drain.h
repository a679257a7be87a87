/*
 * drain: when will the queue be empty? A forward simulation of the accounts' sliding
 * windows (issue 17): each account's ledger (quota.c's records: when each unit was
 * sent) is played forward, event by event, with the account sending whatever its
 * effective limits (planner.c: learned, warm-up, spread) let it, in spill-over order
 * (config order), while its send window (sendwindow.c) is open and it is neither
 * suspended nor disabled. Units free in bursts, as the provider's windows free them,
 * not evenly over the day: 150 a day already used up means nothing until a day after
 * the first of them, however many hours are left. A learned limit is taken as it is
 * (its climbing back is not counted on); a warm-up's growing day limit is.
 *
 * Pure: no clock, no I/O; the caller gives the time and the accounts' state. The work
 * is bounded: time moves from one event to the next (a unit leaving a window, a
 * suspension ending, a window opening), never by fixed steps, at most DRAIN_STEPS
 * events (after that the pace so far is extrapolated), and never beyond DRAIN_HORIZON.
 * Tested in tests/unit/test_drain.c.
 */
#ifndef RELAYD_DRAIN_H
#define RELAYD_DRAIN_H

#include <stddef.h>
#include <time.h>

struct config_account;
struct planner_learned;
struct sendwindow;

#define DRAIN_HORIZON	(60 * 86400)	/* estimates beyond this say "over 60 days" */
#define DRAIN_STEPS	200000		/* events simulated at most */

/* One account as the estimate sees it. Times are on the caller's clock (now's). */
struct drain_account {
	int		 disabled;	/* sends nothing (disabled, retired) */
	double		 free_at;	/* no send before this (throttle, backoff); 0: now */
	int		 per_hour, per_day;	/* effective limits now (0: none) */
	long		 burst;		/* spread: at most burst units in burst_len s */
	time_t		 burst_len;
	const struct config_account *cfg;	/* if set: the limits at later times
					 * come from planner_effective (a warm-up
					 * ramping up); NULL: the ones above hold */
	const struct planner_learned *learned;
	const struct sendwindow *window;	/* NULL: always open */
	int		 min_interval;	/* seconds between two transactions */
	int		 count_recipients;	/* units are recipients, else messages */
	const time_t	*rec_t;		/* the ledger: when each record was sent, */
	const long	*rec_units;	/* and its units; oldest first */
	size_t		 nrec;
};

enum drain_result {
	DRAIN_EMPTY,		/* nothing to send: *at is now */
	DRAIN_AT,		/* the last unit goes at *at */
	DRAIN_NEVER,		/* no account will ever send it (all disabled, all held) */
	DRAIN_OVER,		/* later than DRAIN_HORIZON from now */
};

/*
 * drain_estimate: when msgs messages carrying rcpts recipients (held mail left out
 * by the caller) will all have been handed over by the n accounts a, at the earliest,
 * from now; off is the wall clock minus the caller's clock (for the send windows
 * and warm-ups, which are on the wall clock). A message counts one unit on an account
 * counting messages; each recipient one on the others. Sending itself is taken as
 * instant. Returns the kind of answer, and in *at the time for DRAIN_EMPTY and
 * DRAIN_AT. Pure.
 */
enum drain_result drain_estimate(const struct drain_account *a, size_t n, time_t now,
		    double off, size_t msgs, size_t rcpts, time_t *at);

/* drain_result_name: "empty", "at", "never", "over" (for logs and tests). */
const char	*drain_result_name(enum drain_result);

#endif

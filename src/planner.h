/*
 * planner: the one place that computes an account's effective sending limits, the
 * ones its ledger (quota.c) enforces, from the configured ones and what relayd
 * learned from the provider's refusals (issue 16):
 *
 *   configured  limits = { per_hour; per_day; }
 *   learned     learn = { factor; floor; recover_after; }: after a throttle the
 *               hour limit drops to factor x what got through in the hour before it
 *               (at least floor), and the day limit so too, once an episode, when
 *               more went through in the day than in the hour; every recover_after
 *               hours without a throttle each climbs back a step (divided by
 *               factor), up to the configured limit, where the learned state ends
 *   warm-up     warmup = { start; from; days; }: the day limit ramps from `from` on
 *               its first day (start, 00:00 UTC) to per_day over `days` days
 *   spread      limits.spread: the hour's quota paced evenly, a send every
 *               3600/per_hour seconds with a small burst (planner_spread)
 *
 * The learned state is kept with the account's suspension (scheduler_state) so a
 * restart keeps it. The pure functions take the time from the caller; they are
 * tested in tests/unit/test_planner.c and on the simulation (test_planner_sim.c).
 */
#ifndef RELAYD_PLANNER_H
#define RELAYD_PLANNER_H

#include <time.h>

#include "config.h"

struct quota;

#define PLANNER_WHY	64

/* What the planner learned of an account (all 0: nothing; the configured limits). */
struct planner_learned {
	int		 hour;		/* learned per_hour; 0: the configured one */
	int		 day;		/* learned per_day; 0: the configured one */
	double		 at;		/* wall clock of the last throttle that lowered it */
	double		 step_at;	/* wall clock of its last change (drop or climb) */
	int		 drops;		/* throttles since it was last at the configured */
	char		 why[PLANNER_WHY]; /* the reply of that throttle, cut short */
	int		 warm;		/* the warm-up's day limit last logged (not kept
					 * on disk: a start logs it anew) */
};

/* The limits the ledger enforces now. */
struct planner_limits {
	int		 per_hour;	/* 0: no limit */
	int		 per_day;
	long		 burst;		/* spread: units in any burst_len seconds; 0: off */
	time_t		 burst_len;
};

/*
 * planner_drop: the learned limit of a window after a throttle, when got units went
 * through in that window before it and the limit was current (configured or learned):
 * factor x got rounded up, at least floor, never above current. Pure.
 */
int		 planner_drop(const struct config_learn *, int current, long got);

/*
 * planner_climb: one recovery step of a window's learned limit (current / factor,
 * rounded up, at least one more); 0 when that reaches configured (the learned limit
 * ends). Pure.
 */
int		 planner_climb(const struct config_learn *, int configured, int current);

/*
 * planner_spread: for a limit of per_hour (or, without one, per_day) units, the burst
 * spread allows and the window it is counted over: max(1, per_hour / 20) units per
 * that many intervals of 3600/per_hour seconds. 0 and 0 without a limit. Pure.
 */
void		 planner_spread(int per_hour, int per_day, long *burst, time_t *len);

/*
 * planner_warmup: the day limit a warm-up allows at wall time now (0: it is over, the
 * configured per_day holds), and in *day its day number (1 on its first day, 0 before
 * it starts). from + (per_day - from) x (day - 1) / days, rounded down. Pure.
 */
int		 planner_warmup(const struct config_warmup *, int per_day, double now, int *day);

/*
 * planner_effective: the limits to enforce at wall time now, from the configured,
 * warm-up and learned ones (learned may be NULL): the lowest of each. Pure.
 */
void		 planner_effective(const struct config_account *, const struct planner_learned *,
		    double now, struct planner_limits *);

/*
 * planner_throttled: the provider throttled account name (learn on) at wall time now
 * after hour and day units went through in the hour and day before it: lower the
 * learned limits. Logs one line per limit changed. Returns 1 if anything changed.
 */
int		 planner_throttled(struct planner_learned *, const struct config_account *,
		    long hour, long day, double now, const char *reply);

/*
 * planner_recover: climb the learned limits a step for each recover_after hours
 * without a throttle up to wall time now. Logs one line per change. Returns 1 if
 * anything changed (the caller saves the state).
 */
int		 planner_recover(struct planner_learned *, const struct config_account *,
		    double now);

/* planner_apply: set the ledger's limits to the effective ones at wall time now; a
 * warm-up's step is logged (one line). */
void		 planner_apply(const struct config_account *, struct planner_learned *,
		    struct quota *, double now);

/*
 * planner_explain: why the effective limits differ from the configured ones, as
 * relayctl status says it ("learned after 553 at 2026-12-04 10:12 UTC, recovering in
 * 4h", "warm-up day 3 of 14", joined by "; "), into buf; "" when they do not. now is
 * the wall clock.
 */
void		 planner_explain(const struct config_account *, const struct planner_learned *,
		    double now, char *buf, size_t len);

#endif

/*
 * shared_ledger: one shared account's side in Redis (shared.c): the quota ledger all
 * hosts sending through its mailbox keep together, and its suspensions.
 *
 * Keys (PREFIX from the shared group, ADDRESS the account's address in lower case):
 *   PREFIX quota:ADDRESS   sorted set: member HOST:ID (ID: the reservation's id in
 *                          this host's own ledger, quota.c), score its time (wall
 *                          clock, seconds)
 *   PREFIX units:ADDRESS   hash: member -> units
 *   PREFIX state:ADDRESS   "throttle|disable UNTIL HOST REASON", expiring with it
 * and the channel PREFIX events: "throttle|disable|enable ADDRESS UNTIL HOST REASON".
 *
 * Reserving is one Lua script (shared_ledger_reserve_lua): prune the day window,
 * count the hour and the day, grant what fits or answer when one unit will. What
 * this host sends stays in its own ledger too (quota.c), under the same ids: when
 * Redis returns (or is restarted empty) the host puts its last day into the shared
 * ledger again (shared_ledger_put_lua, idempotent by member), so reservations whose
 * settle was lost and sends made without Redis are counted. A reservation never
 * settled (its host died) counts as sent: the conservative rule.
 *
 * The scheduler's pick stays synchronous: shared_ledger_acquire answers at once from
 * what Redis said last (a grant in hand, "not before T", or unavailable) and asks
 * Redis in the background; the changed callback says when asking again is worth it.
 */
#ifndef RELAYD_SHARED_LEDGER_H
#define RELAYD_SHARED_LEDGER_H

#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "quota.h"
#include "shared.h"

/* The scripts, as sent to EVAL (tests run them on a real server). */
extern const char shared_ledger_reserve_lua[];	/* KEYS quota units; ARGV member units
						 * per_hour per_day now -> {granted, units,
						 * hour, day, "now"|"free_at"} */
extern const char shared_ledger_put_lua[];	/* KEYS quota units; ARGV member time
						 * units, ... (units 0: remove) -> count */

enum shared_ledger_kind { SHARED_THROTTLE, SHARED_DISABLE, SHARED_ENABLE };

struct shared_ledger;

/* What the ledger tells the scheduler. */
struct shared_ledger_cb {
	/* a grant or a refusal came, or Redis came or went: look again */
	void	(*changed)(void *arg);
	/* another host met a throttle or disable (until: wall clock, 0: none), or
	 * enabled the account (relayctl enable) */
	void	(*state)(void *arg, const char *address, enum shared_ledger_kind,
		    double until, const char *reason, const char *host);
	void	*arg;
};

/*
 * shared_ledger_new: the shared side of the account sending as address, whose own
 * ledger is q (both outlive it), over sh. cb is copied.
 */
struct shared_ledger *shared_ledger_new(struct shared *sh, const char *address,
		    struct quota *q, const struct shared_ledger_cb *cb);
void		 shared_ledger_free(struct shared_ledger *);

/*
 * shared_ledger_acquire: may units be sent now? Returns the units granted (at most
 * units; the next quota_reserve must be for no more, and be bound with
 * shared_ledger_bind); 0: not now (asked in the background, or refused until
 * shared_ledger_free_at; changed is called when there is news); -1: Redis is away
 * and on_unavailable is local_share: the own ledger decides alone, with the limits
 * of shared_ledger_limits.
 */
long		 shared_ledger_acquire(struct shared_ledger *, long units, int per_hour,
		    int per_day);

/* shared_ledger_bind: the grant just acquired became the own ledger's reservation
 * id (0: it was not used after all: released). */
void		 shared_ledger_bind(struct shared_ledger *, uint64_t id);

/* shared_ledger_settle: reservation id of the own ledger ended using units at t (the
 * own ledger's clock): the shared ledger follows (or will, when Redis returns). */
void		 shared_ledger_settle(struct shared_ledger *, uint64_t id, long units, time_t t);

/*
 * shared_ledger_free_at: the earliest time (steady clock), not before now, at which
 * the shared ledger may let the account send: now, or what Redis said, or (Redis
 * away, on_unavailable stop) an hour on: changed is called when it returns.
 */
double		 shared_ledger_free_at(const struct shared_ledger *, double now);

/*
 * shared_ledger_limits: the limits the own ledger must enforce now: the effective
 * ones while Redis answers (the shared ledger is stricter), a share of them
 * (limit/peers) while it is away and on_unavailable is local_share. A share of 0
 * stops the account (returns 0); otherwise 1.
 */
int		 shared_ledger_limits(struct shared_ledger *, int *per_hour,
		    int *per_day);

/* shared_ledger_publish: this host met a throttle or disable (until: wall clock; 0:
 * none), or enabled the account: the other hosts are told at once. */
void		 shared_ledger_publish(struct shared_ledger *, enum shared_ledger_kind,
		    double until, const char *reason);

/* shared_ledger_status: {"connected", "hour_all", "day_all", "seen"} (all hosts, as
 * Redis said last; seen: when, wall clock). */
json_t		*shared_ledger_status(const struct shared_ledger *);

#endif

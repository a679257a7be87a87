/*
 * scheduler_domain: per recipient domain pacing across accounts (relay.conf
 * `domains`, issue 16). Each entry has one ledger (quota.c), kept in the spool as
 * SPOOL/ledger/domain_MATCH, so its sliding hour and day survive a restart, and
 * counted in recipients whatever account carries them. The scheduler asks it:
 *
 *   - before an attempt, whether any pending recipient of a message may go now
 *     (scheduler_domain_wait); a message whose every pending recipient waits for its
 *     domain is put back until one may, which is no attempt: no failure, no count
 *     toward its retry lifetime, and the mail behind it goes on (no head-of-line
 *     blocking);
 *   - which recipients a transaction carries (scheduler_domain_pick): those whose
 *     domain has room, the others kept for later; then it reserves them
 *     (scheduler_domain_reserve) and settles them to what the provider took
 *     (scheduler_domain_settle), as the account's ledger does.
 *
 * Times are the scheduler's clock (clock_steady), given by the caller.
 */
#ifndef RELAYD_SCHEDULER_DOMAIN_H
#define RELAYD_SCHEDULER_DOMAIN_H

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "queue.h"
#include "upstream.h"

struct sched_domains;

/*
 * scheduler_domain_new: the domain ledgers of cfg, opened from the spool. Those of
 * old (may be NULL) with the same match are not opened but left for
 * scheduler_domain_adopt (a reload). Returns NULL after logging. cfg must outlive it.
 */
struct sched_domains *scheduler_domain_new(const struct config *cfg,
		    const struct sched_domains *old, time_t now);

/*
 * scheduler_domain_adopt: take over from old (a reload; d made with old) its ledgers
 * and the reservations of transactions in flight, then free old. Nothing fails.
 */
void		 scheduler_domain_adopt(struct sched_domains *d, struct sched_domains *old);

/* scheduler_domain_free: free it (the ledgers' files stay); NULL is a no-op. */
void		 scheduler_domain_free(struct sched_domains *);

/* scheduler_domain_of: the entry whose limit holds for address addr, or -1. */
int		 scheduler_domain_of(const struct sched_domains *, const char *addr);

/*
 * scheduler_domain_wait: 0 if a pending recipient of m may go at now (its domain has
 * no limit or room); else the earliest time one may, and in *entry (may be NULL) the
 * entry whose room comes then.
 */
double		 scheduler_domain_wait(const struct sched_domains *, const struct queue_msg *m,
		    double now, int *entry);

/*
 * scheduler_domain_set_waiting: m waits for entry's limit (m->domain_wait, counted
 * for relayctl status), or no longer waits for any (entry -1).
 */
void		 scheduler_domain_set_waiting(struct sched_domains *, struct queue_msg *m,
		    int entry);

/*
 * scheduler_domain_pick: choose the recipients of m's next transaction: in order, up
 * to max of the pending ones whose domain has room at now. The others are marked
 * later (queue_rcpt.later). Returns how many were chosen.
 */
size_t		 scheduler_domain_pick(struct sched_domains *, struct queue_msg *m, double now,
		    size_t max);

/*
 * scheduler_domain_reserve: record the recipients just picked for m in their
 * domains' ledgers at now, on disk. Returns 0, or -1 after logging (nothing is
 * reserved: the message must not go yet).
 */
int		 scheduler_domain_reserve(struct sched_domains *, const struct queue_msg *m,
		    time_t now);

/*
 * scheduler_domain_settle: m's transaction ended at now with these results: each
 * domain is charged what the provider took, or may have taken (unknown).
 */
void		 scheduler_domain_settle(struct sched_domains *, const struct queue_msg *m,
		    const struct sched_rcpt_result *res, size_t n, time_t now);

/* scheduler_domain_match: entry i's match, as configured ("*.example.com"). */
const char	*scheduler_domain_match(const struct sched_domains *, size_t i);

/* scheduler_domain_count: how many entries there are (relayctl status). */
size_t		 scheduler_domain_count(const struct sched_domains *);

/*
 * scheduler_domain_used: entry i's configuration, its recipients in the hour and the
 * day before now, and the messages waiting for it; returns the earliest time, not
 * before now, a recipient there may go (now when it has room).
 */
time_t		 scheduler_domain_used(const struct sched_domains *, size_t i, time_t now,
		    const struct config_domain **cfg, long *hour, long *day, size_t *waiting);

#endif

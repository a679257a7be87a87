/*
 * quota: an account's sending ledger. Every send is recorded with its time and its
 * units (recipients or messages); the hour and day windows slide over the records.
 * The ledger lives in the spool (SPOOL/ledger/MAILBOX) and survives restarts and
 * crashes, so a restart never hands out a fresh hour: units are reserved, durably,
 * before a transaction starts, and settled to what the provider took when it ends.
 *
 * Every function takes the current time from the caller, so the windows are tested
 * with a clock the tests move.
 */
#ifndef RELAYD_QUOTA_H
#define RELAYD_QUOTA_H

#include <stdint.h>
#include <time.h>

#define QUOTA_HOUR	3600
#define QUOTA_DAY	86400

struct quota;

/*
 * quota_file_name: the file name of a mailbox's records (its ledger; scheduler_state
 * too): the address in lower case, anything but letters, digits and @._+- as '_',
 * never a '/' or a leading dot. The caller frees it.
 */
char		*quota_file_name(const char *key);

/*
 * quota_open: the ledger of the mailbox key (the account's address) under
 * spool_dir/ledger (created if missing; one kept under the account's name legacy,
 * may be NULL, is moved to it), with records older than a day dropped and records
 * after now (a clock stepped back since they were written) counted as made at now.
 * durable 0 keeps the ledger in memory only (an account without limits). Returns
 * NULL after logging.
 */
struct quota	*quota_open(const char *spool_dir, const char *key, const char *legacy,
		    int durable, time_t now);
void		 quota_free(struct quota *);

/* quota_set_limits: units allowed per sliding hour and day (0: no limit). */
void		 quota_set_limits(struct quota *, int per_hour, int per_day);

/*
 * quota_set_burst: besides the hour and the day, at most burst units in any len
 * seconds (limits.spread, planner_spread); 0: no such window.
 */
void		 quota_set_burst(struct quota *, long burst, time_t len);

/* quota_used: units used in the hour and the day before now. */
void		 quota_used(const struct quota *, time_t now, long *hour, long *day);

/*
 * quota_by_hour: the ledger's units in the n hours before now, oldest first:
 * counts[n - 1] is the hour (now - 3600, now] (what quota_used calls the hour),
 * counts[n - 1 - k] the hour k hours before it. With n = 24 the counts add up to
 * quota_used's day. counts holds n longs; nothing is allocated.
 */
void		 quota_by_hour(const struct quota *, time_t now, long *counts, size_t n);

/* quota_room: units that may be sent now without passing either limit. */
long		 quota_room(const struct quota *, time_t now);

/* quota_next_free: the earliest time, not before now, when units may be sent. */
time_t		 quota_next_free(const struct quota *, time_t now, long units);

/*
 * quota_next_id: the id the next quota_reserve will return (shared_ledger names the
 * reservation it asks Redis for after it, before it is made here).
 */
uint64_t	 quota_next_id(const struct quota *);

/*
 * quota_foreach: call fn for every record of the last day, oldest first: its id,
 * time (the caller's clock) and units (0: released). For shared_ledger, which puts
 * them into the shared ledger when Redis returns, and the drain estimate.
 */
void		 quota_foreach(const struct quota *, void (*fn)(uint64_t id, time_t t,
		    long units, void *arg), void *arg);

/* quota_last: when the last reservation was made (0: never). */
time_t		 quota_last(const struct quota *);

/*
 * quota_reserve: record units about to be sent at now, on disk before it returns.
 * Returns the reservation's id for quota_settle, or 0 if it could not be written
 * (then nothing may be sent: the caller waits and tries again).
 */
uint64_t	 quota_reserve(struct quota *, time_t now, long units);

/*
 * quota_settle: reservation id ended up using units (what the provider took, or may
 * have), its transaction ending at now: the windows count it from then, as the
 * provider does. now is not before any time the ledger holds (a monotonic clock).
 */
void		 quota_settle(struct quota *, uint64_t id, long units, time_t now);

#endif

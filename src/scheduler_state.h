/*
 * scheduler_state: an account's suspension on disk, so that a restart never sends
 * into a suspension relayd knew of (Yandex extends a block when one keeps trying,
 * PROVIDERS.md): until when the provider throttled it, the step of its backoff, and
 * whether it is disabled, since when and why. One file per mailbox,
 * SPOOL/account/ADDRESS, replaced durably (temporary file, fsync, rename, fsync of
 * the directory) at each change. The format (version 1, key: value lines):
 *
 *   relayd-account 1
 *   throttled_until: 1796416604.104     wall-clock time, 0 when not throttled
 *   throttles: 2                        backoff steps taken (reset by a success)
 *   disabled: 1796410000.000            wall-clock time it was disabled, 0 if not
 *   config: 9f86d081884c7d65            fingerprint of the settings a disable was about
 *   why: 535 5.7.8 Authentication failed
 *
 * Unknown keys are ignored, so later versions may add some. Added with the planner
 * (issue 16; "format: 2" says so; a version-1 reader ignores them, a file without
 * them learned nothing):
 *
 *   format: 2
 *   learned_hour: 3                     learned per_hour, 0: the configured one
 *   learned_day: 91                     learned per_day, 0: the configured one
 *   learned_at: 1796410000.000          wall clock of the throttle it learned from
 *   learned_step: 1796410000.000        wall clock of its last change
 *   learned_drops: 2                    throttles since it was last as configured
 *   learned_why: 553 5.7.1 ...          that throttle's reply
 */
#ifndef RELAYD_SCHEDULER_STATE_H
#define RELAYD_SCHEDULER_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "planner.h"

#define SCHEDULER_STATE_WHY	512
#define SCHEDULER_STATE_MAX	(SCHEDULER_STATE_WHY + 512)	/* the whole file */

struct scheduler_state {
	double		 throttled_until;	/* wall clock; 0: not throttled */
	int		 throttles;
	double		 disabled_since;	/* wall clock; 0: not disabled */
	uint64_t	 config;		/* fingerprint (scheduler_account.c) */
	char		 why[SCHEDULER_STATE_WHY];
	struct planner_learned learned;		/* times on the wall clock */
};

/* scheduler_state_encode: st as the file's text into buf (len bytes, NUL-terminated);
 * returns its length, or -1 if it does not fit. */
int		 scheduler_state_encode(const struct scheduler_state *, char *buf, size_t len);

/* scheduler_state_decode: parse the file's text (len bytes) into st. Returns 0, or
 * -1 if it is not a state file of this version (st is then all zero). */
int		 scheduler_state_decode(const char *buf, size_t len, struct scheduler_state *);

/* scheduler_state_save: write st for mailbox key under spool_dir, durably. Returns 0,
 * or -1 after logging. */
int		 scheduler_state_save(const char *spool_dir, const char *key,
		    const struct scheduler_state *);

/* scheduler_state_load: read the state of mailbox key. Returns 1 (st filled), 0 when
 * there is none (st all zero), -1 when it is unreadable, after logging. */
int		 scheduler_state_load(const char *spool_dir, const char *key,
		    struct scheduler_state *);

#endif

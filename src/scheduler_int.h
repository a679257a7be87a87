/*
 * scheduler_int: the scheduler's private parts, shared by scheduler.c (the waiting
 * room and the attempts), scheduler_log.c (their log lines and events),
 * scheduler_reconfigure.c (reload) and scheduler_report.c (relayctl status and
 * metrics).
 * Nothing else includes this.
 */
#ifndef RELAYD_SCHEDULER_INT_H
#define RELAYD_SCHEDULER_INT_H

#include "scheduler.h"
#include "scheduler_domain.h"
#include "scheduler_heap.h"
#include "shared_ledger.h"

#define SCHED_STALL_WARN	900	/* seconds between "queue stalled" warnings */
/* At most one "quota used up" line per account (and one "all used up") in this many
 * seconds: with a backlog at its limit an account fills again each time a unit frees. */
#define SCHED_QUOTA_LOG		900

struct scheduler {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct config		*cfg;
	struct queue		*q;
	struct bounce_store	*bounces;
	int			 loading;	/* the spool is still being read */
	struct sched_account	**accounts;	/* in config order */
	struct sched_account	**retired;	/* gone from the config; sessions ending */
	size_t			 nretired;
	size_t			 naccounts;
	struct scheduler_heap	 wait;		/* waiting messages, earliest next_try first */
	struct sched_domains	*domains;	/* per recipient domain ledgers */
	size_t			 ninflight;
	size_t			 nheld;
	size_t			 pending_rcpts;	/* recipients not yet done, all mail */
	unsigned long long	 nreceived;	/* counters for metrics */
	unsigned long long	 ndeferred;	/* messages: attempts that deferred some */
	unsigned long long	 nfailed;	/* messages: attempts that failed some */
	unsigned long long	 nrcpt_deferred; /* recipients deferred (attempts) */
	unsigned long long	 nrcpt_failed;	/* recipients failed for good */
	struct queue_msg	**ids;		/* every message by queue id (chained) */
	size_t			 idcap, nids;
	double			 stalled_since;	/* ready mail no account will send; 0: none */
	double			 stall_warned;	/* when that was last logged */
	int			 all_used_logged; /* "all accounts used up" was logged */
	double			 all_used_at;	/* when (steady) */
	char			*stall_why;
	struct event		*timer;		/* NULL without an event base */
	double			 wake_at;	/* when it is armed for; 0: not */
	const struct scheduler_transport *tr;
	void			*tr_arg;
	struct shared		*shared;	/* Redis for shared accounts, or NULL */
};

/*
 * scheduler_kick: hand ready mail to the first account able to send it now (spill-
 * over in config order); otherwise arm the timer for the first moment one can.
 * Calls made while it runs (from the sessions it wakes) return at once.
 */
void		 scheduler_kick(struct scheduler *);

/* The delivery log and the recipients' events (scheduler_log.c). */

/*
 * scheduler_log: the delivery log line of recipient idx of m (a NULL, relay NULL:
 * none), status "sent", "failed" or "deferred", with the reply. Deferrals of one
 * message through one account and relay with the same reply are joined into one
 * line ("more=N"), written when a different line comes or at scheduler_log_flush.
 */
void		 scheduler_log(const struct queue_msg *m, size_t idx,
		    const struct sched_account *a, const char *relay, const char *status,
		    const char *reply);

/* scheduler_log_flush: write the pending joined deferral line, if any. */
void		 scheduler_log_flush(void);

/* scheduler_log_sent_event: the "sent" event of recipient idx of m. */
void		 scheduler_log_sent_event(const struct queue_msg *m, size_t idx,
		    const char *account, const char *reply, const char *relay);

/* scheduler_log_deferred_event: the "deferred" event of recipient idx of m. */
void		 scheduler_log_deferred_event(const struct queue_msg *m, size_t idx,
		    const char *account, const char *reply);

/* The account's state (scheduler_account.c). */

/* scheduler_account_new: the state of a configured account, or NULL after logging. */
struct sched_account *scheduler_account_new(struct config_account *, const struct config *,
		    time_t now);
/* scheduler_account_free: free it (its sessions are gone); NULL is a no-op. */
void		 scheduler_account_free(struct sched_account *);

/* scheduler_account_save: keep its suspension in the spool (scheduler_state). */
void		 scheduler_account_save(const struct sched_account *);

/* scheduler_account_succeeded: a message went through: the backoffs start over. */
void		 scheduler_account_succeeded(struct sched_account *);

/* scheduler_account_enable: lift a disable, throttle or backoff (relayctl enable, or
 * a configuration changed). */
void		 scheduler_account_enable(struct sched_account *);

/*
 * scheduler_account_free_at: the earliest time, not before now, at which nothing but
 * its min_interval stops the account (throttle, backoff, quota); 0: disabled.
 */
double		 scheduler_account_free_at(const struct sched_account *, double now);

/*
 * scheduler_account_ready_at: the earliest time, not before now, at which account a
 * may start a transaction; 0: not at all (disabled).
 */
double		 scheduler_account_ready_at(const struct sched_account *, double now);

/* scheduler_account_units: quota units a transaction of n recipients uses. */
long		 scheduler_account_units(const struct sched_account *, size_t n);

/* scheduler_account_fits: may the account send m at all (its size)? */
int		 scheduler_account_fits(const struct sched_account *, const struct queue_msg *);

/*
 * scheduler_account_backoff_span: the time n steps of a backoff take, without their
 * jitter: how long a message deferred n times has been failing, by its schedule.
 */
time_t		 scheduler_account_backoff_span(int initial, int max, int n);

/* scheduler_account_backoff: delay before attempt n+1: initial doubling to max, +-10%. */
time_t		 scheduler_account_backoff(int initial, int max, int n);

/*
 * scheduler_account_quota_event: the "account" event when a's quota has just run out
 * (exhausted, until when) or has room again after that (ready); nothing otherwise.
 */
void		 scheduler_account_quota_event(struct sched_account *, double now);

/*
 * scheduler_account_all_used: one log line when every account that is not disabled
 * has used up its hour or day (none can send before the first frees: when), again
 * only after one had room, and not within SCHED_QUOTA_LOG seconds.
 */
void		 scheduler_account_all_used(struct scheduler *, double now);

/*
 * scheduler_account_suspend: the provider told the account to slow down (THROTTLE)
 * or refused it (DISABLE), for reason.
 */
void		 scheduler_account_suspend(struct sched_account *, enum outcome_action,
		    const char *reason);

/*
 * scheduler_account_plan: bring the account's effective limits (planner.c) up to
 * now: a recovery step due is taken (and saved), and the ledger enforces them.
 */
void		 scheduler_account_plan(struct sched_account *);

/* scheduler_account_reset_learned: the configured limits hold again (saved). */
void		 scheduler_account_reset_learned(struct sched_account *);

/*
 * scheduler_account_shared: another host sharing the account (shared_ledger) met a
 * throttle until the wall time until, or a disable, for reason, or enabled it.
 */
void		 scheduler_account_shared(struct sched_account *, enum shared_ledger_kind,
		    double until, const char *reason, const char *host);

/* scheduler_account_changed: do old and new differ in what a disable was about? */
int		 scheduler_account_changed(const struct config_account *,
		    const struct config_account *);

/* scheduler_share: give account a its side in Redis if it is shared, or take it away
 * (start-up and reload). */
void	scheduler_share(struct scheduler *s, struct sched_account *a);

/* scheduler_id_insert, _remove: the id table (scheduler_id.c); scheduler_find reads it. */
void	scheduler_id_insert(struct scheduler *s, struct queue_msg *m);
void	scheduler_id_remove(struct scheduler *s, struct queue_msg *m);

/*
 * scheduler_shared_take (scheduler_shared.c): a shared account asks all hosts' ledger
 * (Redis) for the units of n recipients of m: how many of them it may carry now; 0: not
 * yet (m waits again; the ledger's answer kicks). Redis away under local_share: n, the
 * own ledger decides.
 */
size_t	scheduler_shared_take(struct scheduler *s, struct sched_account *a,
	    struct queue_msg *m, size_t n);

#endif

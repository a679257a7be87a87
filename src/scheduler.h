/*
 * scheduler: decides which queued message goes out when, and through which account.
 * Messages wait in a min-heap ordered by their next attempt (O(log n) per event, no
 * scan of the queue); one timer is armed for the earliest moment anything can move.
 * Accounts are used in config order: the first one able to send takes the mail, and
 * when its quota is used up (or the provider throttles it) the next one does. Quota
 * is reserved in the account's ledger (quota.c) before a transaction starts, so the
 * limits hold with parallel sessions too. Limits per recipient domain hold across
 * the accounts (scheduler_domain.c): mail waiting for its domain steps aside.
 *
 * It also turns the upstream sessions' results into queue state and log lines:
 * the pipeline is listener -> smtp_session -> queue -> scheduler -> upstream -> outcome.
 */
#ifndef RELAYD_SCHEDULER_H
#define RELAYD_SCHEDULER_H

#include <time.h>

#include <jansson.h>

#include <openssl/ssl.h>
#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "config.h"
#include "outcome.h"
#include "planner.h"
#include "queue.h"
#include "quota.h"
#include "upstream.h"

struct bounce_store;
struct shared_ledger;
struct upstream;

#define SCHED_SESSIONS_MAX	16	/* config allows sessions = 1..16 */

/* The scheduler's view of one provider account. */
struct sched_account {
	struct config_account	*cfg;
	SSL_CTX			*ssl_ctx;
	struct upstream		*sess[SCHED_SESSIONS_MAX]; /* live upstream sessions */
	int			 nsessions;
	int			 nbusy;		/* of which in a transaction */
	struct quota		*quota;		/* the sending ledger */
	int			 failures;	/* consecutive session failures */
	double			 retry_at;	/* no new session before this */
	int			 throttles;	/* consecutive throttle replies */
	double			 suspended_until; /* throttled by the provider */
	int			 disabled;	/* until the config changes or enable */
	double			 disabled_since;
	char			*spool;		/* where its state is kept (scheduler_state) */
	char			*why;		/* reason for the last three, or NULL */
	char			*last_reply;	/* last upstream reply, for status */
	int			 quota_durable;	/* the ledger is on disk (limits set) */
	double			 last_send;	/* when it last started a transaction */
	int			 retired;	/* gone from the config after a reload */
	unsigned long long	 nsent;		/* messages sent (metrics) */
	unsigned long long	 nrcpt_sent;	/* recipients sent (metrics) */
	int			 quota_logged;	/* "quota used up" was logged */
	double			 quota_logged_at; /* when (steady); once per SCHED_QUOTA_LOG */
	unsigned long long	 nthrottles;	/* throttle events (metrics) */
	int			 exhausted_told; /* an "exhausted" event went out */
	struct planner_learned	 learned;	/* limits learned from throttles (planner) */
	double			 closed_until;	/* outside its send window until (0: open) */
	double			 window_opens;	/* wall clock of that, kept while shut */
	struct shared_ledger	*shared;	/* shared = true: its side in Redis */
};

/* struct sched_rcpt_result, the result of one upstream attempt for one recipient of
 * a message, is upstream.h's: the session fills it in. */

struct scheduler;

/*
 * How the scheduler starts and drives upstream sessions: upstream.c's by default; a
 * test gives its own to run the scheduler on a virtual clock without sockets. The
 * sessions report back through scheduler_session_* and scheduler_take/_done.
 */
struct scheduler_transport {
	/* start: a new session for account a (it reports back as it goes). */
	struct upstream	*(*start)(struct scheduler *, struct sched_account *, void *arg);
	/* wake: there may be work; an idle session asks for it (scheduler_take). */
	void		 (*wake)(struct upstream *, void *arg);
	/* is_idle: is the session authenticated and waiting for mail? */
	int		 (*is_idle)(const struct upstream *, void *arg);
	/* stop: end the session now (shutdown), without its callbacks. */
	void		 (*stop)(struct upstream *, void *arg);
};

/* scheduler_set_transport: use tr (with arg) for the sessions from now on. */
void		 scheduler_set_transport(struct scheduler *, const struct scheduler_transport *,
		    void *arg);

/* scheduler_wakeup: when the scheduler wants to run next (its timer); 0: not armed. */
double		 scheduler_wakeup(const struct scheduler *);

/*
 * scheduler_new: (the event base may be NULL: then no timer is armed, and the caller
 * runs scheduler_run at scheduler_wakeup) a scheduler over the accounts of cfg and the spool q. Returns NULL
 * after logging (an account's TLS context could not be set up).
 */
struct scheduler *scheduler_new(struct event_base *, struct evdns_base *,
		    struct config *, struct queue *);
void		 scheduler_free(struct scheduler *);

/*
 * scheduler_reconfigure: switch to a reloaded cfg. Accounts kept (by name) keep their
 * ledger, suspension and sessions; new ones start; removed ones send nothing more
 * and are freed when their sessions end. Returns 0, or -1 with nothing changed.
 * cfg must outlive the scheduler (sessions in progress may still read the old one).
 */
int		 scheduler_reconfigure(struct scheduler *, struct config *);

/* scheduler_set_bounces: where sent mail is recorded and suppression is asked. */
void		 scheduler_set_bounces(struct scheduler *, struct bounce_store *);

/*
 * scheduler_set_shared: the Redis connection (shared.c, owned by the caller, freed
 * after the scheduler) through which the accounts with shared = true keep their
 * ledger and suspensions with the other hosts.
 */
struct shared;
void		 scheduler_set_shared(struct scheduler *, struct shared *);

/* scheduler_add: a committed message (new or loaded at start-up), ready now. */
void		 scheduler_add(struct scheduler *, struct queue_msg *);

/* scheduler_msg_loaded: the queue_load_begin callback: a message loaded from the
 * spool at start-up (arg is the scheduler). */
void		 scheduler_msg_loaded(struct queue_msg *, void *);

/* scheduler_run: attempt whatever may go now (after loading the queue). */
void		 scheduler_run(struct scheduler *);

/*
 * scheduler_enable: let a disabled, throttled or backed-off account send again now.
 * Returns 0, or -1 if there is no account called name.
 */
int		 scheduler_enable(struct scheduler *, const char *name);

/* scheduler_account_named: the configured account called name, or NULL. */
struct sched_account *scheduler_account_named(struct scheduler *, const char *name);

/*
 * scheduler_reset_learned: forget what account name learned from throttles: its
 * configured limits hold again (relayctl enable --reset-learned). Returns 0, or -1
 * if there is no account called name.
 */
int		 scheduler_reset_learned(struct scheduler *, const char *name);

/*
 * scheduler_set_loading: the spool is (1) or is no longer (0) being read at start-up;
 * until then the queue's counts in the status cover only what is loaded so far.
 */
void		 scheduler_set_loading(struct scheduler *, int);
/* scheduler_loading: is the spool still being read (what the queue shows is partial)? */
int		 scheduler_loading(const struct scheduler *);

/* scheduler_count: messages queued (waiting, held or in flight). */
size_t		 scheduler_count(struct scheduler *);

/* Queue control (relayctl queue ...). */

/* scheduler_find: the queued message with this queue id, or NULL. */
struct queue_msg *scheduler_find(struct scheduler *, const char *id);

/* scheduler_foreach: call fn for every queued message (waiting, held, in flight). */
void		 scheduler_foreach(struct scheduler *, void (*fn)(struct queue_msg *, void *),
		    void *);

/* scheduler_hold: hold (on 1) or release (on 0) m. Returns 1 if it changed. */
int		 scheduler_hold(struct scheduler *, struct queue_msg *, int on);

/* scheduler_delete: remove m from the queue (after its attempt if one is in flight). */
void		 scheduler_delete(struct scheduler *, struct queue_msg *);

/*
 * scheduler_drop_suppressed_queued: fail at once (suppressed events) the pending
 * recipients of queued mail, held too, that are on the suppression list now (relayctl
 * suppress add); mail in flight is checked when it is next taken. Returns how many
 * recipients were dropped.
 */
size_t		 scheduler_drop_suppressed_queued(struct scheduler *);

/* scheduler_flush: attempt every deferred message now (within quota). Returns how many. */
size_t		 scheduler_flush(struct scheduler *);

/* scheduler_queue: the spool the scheduler works on. */
struct queue	*scheduler_queue(struct scheduler *);

/*
 * scheduler_status: accounts (state, quota windows, last reply) and queue totals,
 * as relayctl status shows them. A new JSON reference; the caller owns it.
 */
json_t		*scheduler_status(struct scheduler *);

/*
 * scheduler_history: each account's units sent in the hours (at most 24: the ledger
 * keeps a day) before now, from its ledger (quota_by_hour): {"end": wall time of now, "hours": hours, "accounts":
 * [{"name", "sends": [hours counts, oldest first]}]}, accounts in status's order.
 * A new reference; the caller owns it.
 */
json_t		*scheduler_history(struct scheduler *, size_t hours);

/* scheduler_metrics: the Prometheus text of what the scheduler counts, into out. */
void		 scheduler_metrics(struct scheduler *, struct evbuffer *out);

/* For upstream sessions. */

/*
 * scheduler_take: the next message for this account, now in flight, or NULL. Its
 * quota is reserved; the transaction carries the pending recipients not marked
 * later (their domain's limit is reached: scheduler_domain.h), in order, and
 * *max_rcpts says how many of those (max_recipients, and what the quota allows).
 */
struct queue_msg *scheduler_take(struct scheduler *, struct sched_account *,
		    size_t *max_rcpts);

/* scheduler_msg_open: open a queued message's file for reading; an fd or -1. */
int		 scheduler_msg_open(struct scheduler *, const struct queue_msg *);

/*
 * scheduler_done: the attempt on msg is over; results hold one entry per recipient
 * tried (the others stay as they were). relay names the server for the log.
 */
void		 scheduler_done(struct scheduler *, struct sched_account *, struct queue_msg *,
		    const struct sched_rcpt_result *, size_t nresults, const char *relay);

/* scheduler_session_ready: the session is authenticated and ready for mail. */
void		 scheduler_session_ready(struct scheduler *, struct sched_account *);

/*
 * scheduler_session_failed: the session ended before it could send (connect, TLS,
 * EHLO, AUTH): action RETRY backs the account off on the retry schedule, THROTTLE
 * suspends it, DISABLE stops it. The first waiting message is deferred with reason,
 * so the trouble shows under a queue id in the log.
 */
void		 scheduler_session_failed(struct scheduler *, struct sched_account *,
		    enum outcome_action, const char *reason, const char *relay);

/* scheduler_session_closed: the session is gone. */
void		 scheduler_session_closed(struct scheduler *, struct sched_account *,
		    struct upstream *);

#endif

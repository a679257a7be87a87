/*
 * events_dsn: mails an RFC 3464 report (dsn.c builds it) of each failed or bounced
 * recipient to events.dsn_to, as ordinary mail: enqueued in relayd's own spool like a
 * submitted message, so it is durable, paced and counted against the accounts' quotas
 * like any mail. It hears of failures through the event journal's tap (events.h), at
 * the moment the failure is recorded.
 *
 * Durability and the idempotency key: the report is written and sealed in the spool
 * (queue_msg_commit) inside the events_emit call of the "failed" or "bounced" event,
 * that is before the state change that event reports (the recipient's "done" record,
 * the bounce record) is written; the spool's group commit makes it durable. A crash
 * before the seal leaves the recipient undone, so the failure happens again and is
 * reported then; a crash after it leaves the report in the spool (recovery keeps a
 * sealed file). The report's Message-ID is a function of the original's queue id and
 * the recipient (dsn_message_id): it is the key, remembered in SPOOL/events/dsn (one
 * "TIME KEY" line per report, forgotten after events.keep), so the same failure seen
 * again (after a crash, or when the report itself comes back into a watched mailbox
 * and is matched as a bounce of the original) makes no second report.
 *
 * No report: of a message that is itself a report or automatic (its header, when the
 * failure happens while it is queued: dsn_is_report; one of relayd's report ids
 * always), of a recipient that is dsn_to (a report that fails makes no other), of a
 * message deleted by relayctl, or when dsn_to is on the suppression list.
 */
#ifndef RELAYD_EVENTS_DSN_H
#define RELAYD_EVENTS_DSN_H

struct events;
struct events_dsn;
struct queue;
struct scheduler;
struct bounce_store;
struct config;

/*
 * events_dsn_new: tap the journal e (events_set_tap) to mail reports to
 * cfg->events.dsn_to (none while it is NULL), enqueueing them in q and handing them
 * to sched once committed; bounces (may be NULL) is asked whether dsn_to is
 * suppressed. cfg must outlive it (or be replaced by events_dsn_reconfigure).
 * Returns NULL (no tap) when e is NULL.
 */
struct events_dsn *events_dsn_new(struct events *e, struct queue *q, struct scheduler *sched,
		    struct bounce_store *bounces, const struct config *cfg);

/* events_dsn_reconfigure: dsn_to, hostname and keep from cfg from now on (reload). */
void		 events_dsn_reconfigure(struct events_dsn *, const struct config *cfg);

/*
 * events_dsn_free: remove the tap and free; NULL is a no-op. Reports being committed
 * still reach the scheduler given to events_dsn_new (it must live until the spool's
 * commits are done: queue_busy).
 */
void		 events_dsn_free(struct events_dsn *);

#endif

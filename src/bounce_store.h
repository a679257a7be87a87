/*
 * bounce_store: what relayd knows about bounces. It remembers what went out (the
 * Message-ID and recipients of every sent message, for matching), records the
 * bounces the IMAP watcher finds and keeps the suppression list; relayctl's
 * "bounces" and "suppress" commands are bounce_store_ctl's. Its state lives in the
 * spool and survives restarts.
 */
#ifndef RELAYD_BOUNCE_STORE_H
#define RELAYD_BOUNCE_STORE_H

#include <stddef.h>

#include <event2/buffer.h>
#include <event2/event.h>

struct config;
struct queue_msg;
struct bounce_report;
struct bounce_store;

/*
 * bounce_store_open: load the state under cfg->spool_dir. Returns NULL after logging
 * (an unreadable state file). Its control commands: bounce_store_ctl.h.
 */
struct bounce_store *bounce_store_open(struct event_base *, struct config *);
void		 bounce_store_close(struct bounce_store *);

/* bounce_store_metrics: relayd_bounces_total{kind} (recorded bounces) into out. */
void		 bounce_store_metrics(struct bounce_store *, struct evbuffer *out);

/*
 * bounce_store_reconfigure: take the suppression rules (suppress.hard, soft_after)
 * from cfg from now on, after a reload. cfg must outlive the store or the next call;
 * its spool_dir must be the one the store was opened with.
 */
void		 bounce_store_reconfigure(struct bounce_store *, struct config *cfg);

/* bounce_store_sent: recipient idx of m was accepted by the provider via account. */
void		 bounce_store_sent(struct bounce_store *, const struct queue_msg *m,
		    size_t idx, const char *account);

/*
 * bounce_store_suppressed: is addr on the suppression list? If so, why receives the
 * text for the refusal, e.g. "suppressed after hard bounce on 2026-11-22".
 * Returns 1 or 0.
 */
int		 bounce_store_suppressed(struct bounce_store *, const char *addr, char *why,
		    size_t whylen);

/*
 * bounce_store_report: record what the notification r, found in account's mailbox,
 * says. key names the notification (a digest of its octets): a (key, recipient)
 * already recorded is not recorded or counted again, so reading a message twice is
 * harmless. Each failed recipient is matched to the mail it reports, recorded
 * (appended and synced before this returns), logged, and suppressed if the rules
 * say so. Reports that are not failures (delays, auto-replies...) record nothing.
 * Returns the number of new bounce records, or -1 when they could not be written
 * (logged): the caller must not count the notification as processed.
 */
int		 bounce_store_report(struct bounce_store *, const char *account,
		    const char *key, const struct bounce_report *r);

#endif

/*
 * imap_watch: one IMAP session per account with a "bounces" group: logs in over TLS,
 * waits with IDLE (or polls), fetches new messages, has bounce_parse read them and
 * hands the results to bounce_store.
 */
#ifndef RELAYD_IMAP_WATCH_H
#define RELAYD_IMAP_WATCH_H

#include <jansson.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>

struct config;
struct bounce_store;
struct imap_watch;

/* imap_watch_start: start watching every account that has bounces configured. */
struct imap_watch *imap_watch_start(struct event_base *, struct evdns_base *,
		    struct config *, struct bounce_store *);

/*
 * imap_watch_stop: close the sessions and free them. It may run from any event
 * callback but a session's own (a reload calls it from a signal or control
 * callback); what a session had fetched but not yet saved is read again by the next
 * one, and not counted twice. NULL is a no-op.
 */
void		 imap_watch_stop(struct imap_watch *);

/*
 * imap_watch_status: each watched account's health, as relayctl status shows it: an
 * array of {account, state, connected, last_success, last_error, last_error_at}
 * (times: Unix seconds or null). NULL w (nothing watched): an empty array. A new
 * reference; the caller owns it.
 */
json_t		*imap_watch_status(const struct imap_watch *w);

/*
 * imap_watch_metrics: relayd_bounce_watch_connected{account} and
 * relayd_bounce_watch_last_success_timestamp_seconds{account} into out (the families'
 * HELP and TYPE also when nothing is watched).
 */
void		 imap_watch_metrics(const struct imap_watch *w, struct evbuffer *out);

#endif

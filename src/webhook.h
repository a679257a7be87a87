/*
 * webhook: delivers the event journal (events.h) to the application: POSTs of JSON
 * arrays of at most batch events, in id order, at least once, signed with
 *   X-Relayd-Signature: t=UNIX,v1=HEX   HEX = HMAC-SHA256(secret, "UNIX.body")
 * A 2xx answer moves the cursor past the batch; anything else (another status, a
 * redirect, which is never followed, a refused connection, no answer within
 * WEBHOOK_TIMEOUT) is a failure: the same events are posted again after a delay that
 * doubles from 1 s up to WEBHOOK_DELAY_MAX. Through http.c (libcurl on the loop).
 */
#ifndef RELAYD_WEBHOOK_H
#define RELAYD_WEBHOOK_H

#include <stddef.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#define WEBHOOK_TIMEOUT		10	/* seconds for one POST */
#define WEBHOOK_DELAY_MAX	300	/* seconds between tries, at most */

struct config_events;
struct events;
struct webhook;

/*
 * webhook_new: start delivering the journal ev to cfg->webhook (cfg is copied). NULL
 * when cfg has no webhook. Delivery starts from the journal's cursor.
 */
struct webhook	*webhook_new(struct event_base *, struct events *ev,
		    const struct config_events *cfg);
void		 webhook_free(struct webhook *);

/* webhook_reconfigure: URL, secret, CA file and batch from cfg from the next POST. */
void		 webhook_reconfigure(struct webhook *, const struct config_events *cfg);

/*
 * webhook_status: {"last_id", "delivered", "backlog", "oldest_age", "state",
 * "failures", "last_error", "next_try"} for relayctl status; w may be NULL (then
 * backlog and age are 0 and state "off"). ev may be NULL (no journal). New reference.
 */
json_t		*webhook_status(const struct webhook *w, const struct events *ev);

/* webhook_metrics: relayd_events_backlog, relayd_events_oldest_age_seconds and
 * relayd_webhook_posts_total{result} into out. */
void		 webhook_metrics(const struct webhook *w, const struct events *ev,
		    struct evbuffer *out);

/*
 * webhook_sign: the signature of body (len octets) at time t with secret: the lower
 * case hex of HMAC-SHA256(secret, "t.body") in hex (65 octets with the NUL).
 * Returns 0, or -1 (OpenSSL failed). Pure.
 */
int		 webhook_sign(const char *secret, long long t, const char *body, size_t len,
		    char hex[65]);

#endif

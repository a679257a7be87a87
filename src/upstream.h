/*
 * upstream: the client side of one SMTP session to a provider account: resolve,
 * connect (trying each address), TLS (implicit or STARTTLS, verified before any
 * command that matters), EHLO, AUTH, then as many transactions as the scheduler has
 * mail for, reusing the one authenticated session, with PIPELINING when offered.
 */
#ifndef RELAYD_UPSTREAM_H
#define RELAYD_UPSTREAM_H

#include <stddef.h>

#include <openssl/ssl.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "outcome.h"

struct config_account;
struct queue_msg;
struct scheduler;		/* opaque here: handed back to the callbacks */
struct sched_account;		/* opaque here: handed back to the callbacks */
struct upstream;

/*
 * The result of one attempt for one recipient of a message, as the session reports
 * it (named for the scheduler, which reads it).
 */
struct sched_rcpt_result {
	size_t			 idx;		/* recipient index in the message */
	enum outcome_action	 action;
	const char		*reply;		/* the reply or the reason */
	int			 unknown;	/* RETRY whose end is unknown: the data and
						 * its final dot went, the reply did not come
						 * (lost connection, timeout): the provider may
						 * have taken it, so it costs quota */
};

/*
 * How a session reports to whoever started it (the scheduler), never calling it by
 * name: every callback gets back the owner and account it was started with, which the
 * session does not look into.
 */
struct upstream_cb {
	/* take: the next message for the account, in flight now, or NULL; *max_rcpts
	 * says how many of its pending recipients (in order) this transaction carries. */
	struct queue_msg *(*take)(struct scheduler *, struct sched_account *,
			    size_t *max_rcpts);
	/* msg_open: open a taken message's file for reading; an fd or -1. */
	int		(*msg_open)(struct scheduler *, const struct queue_msg *);
	/* done: the attempt on a taken message is over: one result per recipient tried. */
	void		(*done)(struct scheduler *, struct sched_account *, struct queue_msg *,
			    const struct sched_rcpt_result *, size_t nresults, const char *relay);
	/* ready: authenticated, ready for mail. */
	void		(*ready)(struct scheduler *, struct sched_account *);
	/* failed: the session ended before it could send (RETRY, THROTTLE, DISABLE). */
	void		(*failed)(struct scheduler *, struct sched_account *,
			    enum outcome_action, const char *reason, const char *relay);
	/* closed: the session is gone (from upstream_stop too). */
	void		(*closed)(struct scheduler *, struct sched_account *, struct upstream *);
	/* retired: has the account left the configuration (an idle session leaves)? */
	int		(*retired)(struct scheduler *, struct sched_account *);
};

/*
 * upstream_new: start a session to the account configured as cfg, with TLS from ctx
 * (NULL without TLS; referenced, not taken). It reports through cb (with owner and
 * acct) as it goes and frees itself when it ends; cb and cfg must outlive it. Replies
 * are classified in their normalised form (outcome.h). A transaction whose final "."
 * was written but whose reply never came whole (lost connection, timeout, a malformed
 * or endless reply) is reported to done as OUTCOME_RETRY with unknown set for each
 * recipient accepted at RCPT: the provider may have taken it. A reply that comes
 * before the "." was written is never taken as the answer (plain RETRY, unknown 0).
 */
struct upstream	*upstream_new(const struct upstream_cb *cb, struct scheduler *owner,
		    struct sched_account *acct, struct config_account *cfg, SSL_CTX *ctx,
		    struct event_base *, struct evdns_base *, const char *helo_name);

/* upstream_wake: there may be work; an idle session asks for it (cb->take). */
void		 upstream_wake(struct upstream *);

/*
 * upstream_state_name: the name of session state s for the log ("mail", "eom"), NULL
 * for a state the table leaves out (a unit test walks them all: 0 up to the first
 * "?"), "?" past the last.
 */
const char	*upstream_state_name(int s);

/* upstream_is_idle: is the session authenticated and waiting for mail? */
int		 upstream_is_idle(const struct upstream *);

struct upstream_probe;

/*
 * upstream_probe_start: relayctl test: a session for the account configured as cfg
 * (TLS from ctx, as upstream_new) that connects, puts
 * TLS up with the same checks, says EHLO and authenticates (password or OAuth token)
 * as a real one, tells p what it sees, then QUITs without sending mail. The scheduler
 * is told nothing. p gets its end (upstream_probe_end) when the session closes; the
 * session frees itself then. upstream_stop ends it early (p is ended too).
 */
struct upstream	*upstream_probe_start(struct config_account *cfg, SSL_CTX *ctx,
		    struct event_base *, struct evdns_base *, const char *helo,
		    struct upstream_probe *p);

/*
 * upstream_stop: end the session now and free it (shutdown; never call it from the
 * session's own callbacks). In-flight mail stays queued as it is on disk: the owner,
 * which is shutting down, keeps it (no done); closed is called.
 */
void		 upstream_stop(struct upstream *);

#endif

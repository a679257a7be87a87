/*
 * upstream: the client side of one SMTP session to a provider account: resolve,
 * connect (trying each address), TLS (implicit or STARTTLS, verified before any
 * command that matters), EHLO, AUTH, then as many transactions as the scheduler has
 * mail for, reusing the one authenticated session, with PIPELINING when offered.
 */
#ifndef RELAYD_UPSTREAM_H
#define RELAYD_UPSTREAM_H

#include <event2/dns.h>
#include <event2/event.h>

struct scheduler;
struct sched_account;
struct upstream;

/*
 * upstream_new: start a session for the account. It reports to the scheduler as it
 * goes (ready, done, failed, idle, closed) and frees itself when it ends. Replies are
 * classified in their normalised form (outcome.h). A transaction whose final "." was
 * written but whose reply never came whole (lost connection, timeout, a malformed or
 * endless reply) is reported to scheduler_done as OUTCOME_RETRY with unknown set for
 * each recipient accepted at RCPT: the provider may have taken it. A reply that comes
 * before the "." was written is never taken as the answer (plain RETRY, unknown 0).
 */
struct upstream	*upstream_new(struct scheduler *, struct sched_account *,
		    struct event_base *, struct evdns_base *, const char *helo_name);

/* upstream_wake: there may be work; an idle session asks the scheduler for it. */
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
 * upstream_probe_start: relayctl test: a session for account a that connects, puts
 * TLS up with the same checks, says EHLO and authenticates (password or OAuth token)
 * as a real one, tells p what it sees, then QUITs without sending mail. The scheduler
 * is told nothing. p gets its end (upstream_probe_end) when the session closes; the
 * session frees itself then. upstream_stop ends it early (p is ended too).
 */
struct upstream	*upstream_probe_start(struct sched_account *a, struct event_base *,
		    struct evdns_base *, const char *helo, struct upstream_probe *p);

/*
 * upstream_stop: end the session now and free it (shutdown; never call it from the
 * session's own callbacks). In-flight mail stays queued as it is on disk.
 */
void		 upstream_stop(struct upstream *);

#endif

/*
 * upstream: the SMTP client session to a provider.
 *
 * An explicit state machine (upstream_enter_state records every transition, with a
 * per-state timeout from one table). upstream_send enters a state and writes that
 * state's command (upstream_write holds the text of each); upstream_response reads a
 * complete reply and chooses the next state (OpenSMTPD's mta_enter_state /
 * mta_response split). MAIL, RCPT and DATA are states of their own; with PIPELINING
 * their commands go out together when MAIL is entered. What a reply means is asked
 * of outcome.c. The socket, TLS and the words for their failures are conn.c's.
 *
 * Security: with tls "implicit" nothing is read or written before the handshake has
 * verified the certificate and host name; with "starttls" only EHLO and STARTTLS go
 * in clear, and a server that does not offer STARTTLS, refuses it, or sends anything
 * after its 220 (a response injection, CVE-2011-0411 class) is left without AUTH.
 */
#include <sys/time.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <stdarg.h>

#include <event2/buffer.h>
#include <event2/util.h>

#include "auth.h"
#include "clock.h"
#include "conn.h"
#include "log.h"
#include "jsonstr.h"
#include "outcome.h"
#include "config.h"
#include "queue.h"
#include "upstream.h"
#include "upstream_body.h"
#include "upstream_probe.h"
#include "xmalloc.h"

#define UPSTREAM_LINE_MAX	4096	/* bound on one reply line we accept */
#define UPSTREAM_IDLE		30	/* seconds an idle session stays open */

enum upstream_state {
	UP_INIT,
	UP_RESOLVE,
	UP_CONNECT,
	UP_TLS,			/* TLS handshake (implicit, or after STARTTLS) */
	UP_BANNER,
	UP_EHLO,
	UP_STARTTLS,
	UP_AUTH,
	UP_READY,		/* authenticated, waiting for mail */
	UP_MAIL,		/* the reply to MAIL FROM */
	UP_RCPT,		/* the replies to RCPT TO, one a recipient */
	UP_DATA,		/* the reply to DATA (354 or a refusal) */
	UP_BODY,		/* message being written, until the final "." is out */
	UP_EOM,			/* "." written; waiting for the final reply */
	UP_RSET,
	UP_QUIT,
	UP_DEAD,
	UP_NSTATES
};

/* Per-state timeouts in seconds: RFC 5321 4.5.3.2 minimums where it gives them. */
static const int upstream_timeouts[] = {
	[UP_INIT] = 0,
	[UP_RESOLVE] = 30,
	[UP_CONNECT] = 30,
	[UP_TLS] = 60,
	[UP_BANNER] = 300,	/* 4.5.3.2.1: initial 220, 5 minutes */
	[UP_EHLO] = 300,
	[UP_STARTTLS] = 120,
	[UP_AUTH] = 120,
	[UP_READY] = UPSTREAM_IDLE,
	[UP_MAIL] = 300,	/* 4.5.3.2.2: MAIL, 5 minutes */
	[UP_RCPT] = 300,	/* 4.5.3.2.3: RCPT, 5 minutes */
	[UP_DATA] = 300,	/* 4.5.3.2.4: DATA initiation, 2 minutes (at least) */
	[UP_BODY] = 180,	/* 4.5.3.2.5: data block, 3 minutes */
	[UP_EOM] = 600,		/* 4.5.3.2.6: DATA termination, 10 minutes */
	[UP_RSET] = 120,
	[UP_QUIT] = 30,
	[UP_DEAD] = 0,
};
_Static_assert(sizeof(upstream_timeouts) / sizeof(upstream_timeouts[0]) == UP_NSTATES,
    "a timeout for every state");

/*
 * States that wait for a reply. There the state's timeout is also a deadline for the
 * whole of each reply (the connection's timeouts restart with every octet read, so a
 * provider trickling "250-" lines would otherwise hold the session for ever).
 */
#define UP_REPLY_STATES	((1u << UP_BANNER) | (1u << UP_EHLO) | (1u << UP_STARTTLS) | \
	(1u << UP_AUTH) | (1u << UP_MAIL) | (1u << UP_RCPT) | (1u << UP_DATA) | \
	(1u << UP_EOM) | (1u << UP_RSET) | (1u << UP_QUIT))

static const char *const upstream_state_names[] = {
	[UP_INIT] = "init", [UP_RESOLVE] = "resolve", [UP_CONNECT] = "connect",
	[UP_TLS] = "tls", [UP_BANNER] = "banner", [UP_EHLO] = "ehlo",
	[UP_STARTTLS] = "starttls", [UP_AUTH] = "auth", [UP_READY] = "ready",
	[UP_MAIL] = "mail", [UP_RCPT] = "rcpt", [UP_DATA] = "data", [UP_BODY] = "body", [UP_EOM] = "eom", [UP_RSET] = "rset",
	[UP_QUIT] = "quit", [UP_DEAD] = "dead",
};
_Static_assert(sizeof(upstream_state_names) / sizeof(upstream_state_names[0]) ==
    UP_NSTATES, "a name for every state");

/* One recipient of the transaction in progress. */
struct upstream_rcpt {
	size_t			 idx;		/* in the message */
	enum outcome_action	 action;
	char			*reply;
	int			 accepted;	/* RCPT got 2xx */
};

struct upstream {
	const struct upstream_cb *cb;		/* reports go here (upstream.h) */
	struct scheduler	*sched;		/* opaque: for the callbacks */
	struct sched_account	*acct;		/* opaque: for the callbacks */
	struct config_account	*cfg;
	struct event_base	*base;
	char			*helo;
	enum upstream_state	 state;
	struct event		*start_ev;	/* deferred start and deferred free */
	struct event		*deadline_ev;	/* for the reply awaited (UP_REPLY_STATES) */

	struct conn		*conn;		/* conn_peer names it: host[address]:port */
	char			 lasterr[512];	/* why the connection was lost */

	/* The reply being read, normalised (outcome.h): r.code, r.text. */
	struct outcome_reply	 r;

	/* What EHLO said. */
	int			 cap_pipelining, cap_starttls, cap_size, cap_8bitmime;
	char			*cap_auth;

	struct auth		*auth;

	/* The transaction in progress. */
	struct queue_msg	*msg;
	struct upstream_rcpt	*rcpts;
	size_t			 nrcpts;
	size_t			 rcpt_cur;	/* UP_RCPT: whose reply is awaited */
	int			 mail_failed;
	int			 guess;		/* a throttle here is a guess (outcome.h) */
	int			 unknown;	/* "." written, final reply lost: end unknown */
	size_t			 naccepted;
	struct upstream_body	 body;		/* after 354 */

	struct upstream_probe	*probe;		/* relayctl test: stop after AUTH */
};

static void upstream_enter_state(struct upstream *, enum upstream_state);
static void upstream_fail(struct upstream *, enum outcome_action, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static void upstream_close(struct upstream *);
static void upstream_next_tx(struct upstream *);
static void upstream_send(struct upstream *, enum upstream_state);
static void upstream_rcpts_done(struct upstream *);
static conn_cb upstream_conn_event;

/* upstream_classify: what a reply means, by the account's rules and the built-ins. */
static enum outcome_action
upstream_classify(struct upstream *u, enum outcome_stage stage, const char *reply)
{
	return outcome_classify(u->cfg->rules, u->cfg->nrules, stage, reply);
}

const char *
upstream_state_name(int s)
{
	return s >= 0 && s < UP_NSTATES ? upstream_state_names[s] : "?";
}

/* upstream_arm_deadline: (re)start the deadline for the reply now awaited, if any. */
static void
upstream_arm_deadline(struct upstream *u)
{
	if (u->deadline_ev == NULL)
		return;
	if (conn_active(u->conn) && (UP_REPLY_STATES & (1u << u->state))) {
		struct timeval tv = { .tv_sec = upstream_timeouts[u->state] };

		evtimer_add(u->deadline_ev, &tv);
	} else
		evtimer_del(u->deadline_ev);
}

/* upstream_enter_state: the one place a session changes state. */
static void
upstream_enter_state(struct upstream *u, enum upstream_state s)
{
	log_debug("upstream: account=%s relay=%s state %s -> %s", u->cfg->name, conn_peer(u->conn),
	    upstream_state_name(u->state), upstream_state_name(s));
	u->state = s;
	if (upstream_timeouts[s] > 0)
		conn_set_timeout(u->conn, upstream_timeouts[s]);
	upstream_arm_deadline(u);
}

/* upstream_printf: write one command line. */
static void __attribute__((format(printf, 2, 3)))
upstream_printf(struct upstream *u, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(conn_output(u->conn), fmt, ap);
	va_end(ap);
}

/* upstream_free_cb: the deferred free of a dead session (never from its own chain). */
static void
upstream_free_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct upstream *u = arg;

	conn_free(u->conn);
	event_free(u->start_ev);
	if (u->deadline_ev != NULL)
		event_free(u->deadline_ev);
	auth_free(u->auth);
	free(u->cap_auth);
	free(u->helo);
	free(u);
}

/* upstream_tx_clear: forget the transaction (the message is the scheduler's again). */
static void
upstream_tx_clear(struct upstream *u)
{
	for (size_t i = 0; i < u->nrcpts; i++)
		free(u->rcpts[i].reply);
	free(u->rcpts);
	u->rcpts = NULL;
	u->nrcpts = 0;
	u->msg = NULL;
	upstream_body_close(&u->body);
}

/*
 * upstream_tx_bound: a message refused in guessed throttles (outcome_is_guess,
 * outcome_all_refused) OUTCOME_GUESS_MAX transactions in a row, over as long as the
 * account's backoff takes for them (outcome_guess_bound), is refused for its own
 * sake, not the account's: its throttled recipients fail, with a log line saying why.
 */
static void
upstream_tx_bound(struct upstream *u)
{
	struct queue_msg *m = u->msg;
	int throttled = 0, n = m->guesses + 1;
	double since = m->guess_since;

	for (size_t i = 0; i < u->nrcpts; i++)
		throttled |= u->rcpts[i].action == OUTCOME_THROTTLE;
	if (!outcome_guess_bound(&m->guesses, &m->guess_since, throttled, u->guess,
	    clock_steady(), u->cfg->backoff_initial, u->cfg->backoff_max))
		return;
	log_warn("%s: account=%s relay=%s refused the same way in %d attempts in a row; "
	    "taken as about the message, not the account: its recipients fail (the first "
	    "of them %.0f s ago)", m->id, u->cfg->name, conn_peer(u->conn), n, clock_steady() - since);
	for (size_t i = 0; i < u->nrcpts; i++) {
		struct upstream_rcpt *r = &u->rcpts[i];

		if (r->action != OUTCOME_THROTTLE)
			continue;
		r->action = OUTCOME_FAIL;
		if (r->reply != NULL) {
			char *why = xasprintf("%s (refused %d times in a row)", r->reply, n);

			free(r->reply);
			r->reply = why;
		}
	}
}

/* upstream_tx_report: hand the transaction's per-recipient results to the scheduler. */
static void
upstream_tx_report(struct upstream *u)
{
	struct sched_rcpt_result *res;
	struct queue_msg *m = u->msg;

	if (m == NULL)
		return;
	upstream_tx_bound(u);
	res = xcalloc(u->nrcpts ? u->nrcpts : 1, sizeof(*res));
	for (size_t i = 0; i < u->nrcpts; i++) {
		res[i].idx = u->rcpts[i].idx;
		res[i].action = u->rcpts[i].action;
		res[i].reply = u->rcpts[i].reply ? u->rcpts[i].reply : "no reply";
		/* Ended in EOM without its reply (lost, timed out): the provider may have it. */
		res[i].unknown = u->unknown && u->rcpts[i].accepted;
	}
	u->msg = NULL;
	upstream_body_close(&u->body);	/* done, its file may be reused (queue.c) */
	u->cb->done(u->sched, u->acct, m, res, u->nrcpts, conn_peer(u->conn));
	free(res);
	upstream_tx_clear(u);
}

/*
 * upstream_tx_set_all: give every recipient without a final reply of its own (those
 * refused at RCPT have one) the same result.
 */
static void
upstream_tx_set_all(struct upstream *u, enum outcome_action act, const char *reply)
{
	for (size_t i = 0; i < u->nrcpts; i++) {
		struct upstream_rcpt *r = &u->rcpts[i];

		if (r->reply != NULL && !r->accepted)
			continue;
		free(r->reply);
		r->reply = xstrdup(reply);
		r->action = act;
	}
}

/* upstream_close: end the session; the scheduler learns it; freed from the loop. */
static void
upstream_close(struct upstream *u)
{
	if (u->state == UP_DEAD)
		return;
	if (u->msg != NULL) {
		char why[1024];

		snprintf(why, sizeof(why), "lost connection with %s while in state %s%s%s%s",
		    conn_peer(u->conn), upstream_state_name(u->state), u->lasterr[0] ? ": " : "",
		    u->lasterr, u->state == UP_EOM ? " (the message was sent; whether it "
		    "was taken is unknown)" : "");
		u->unknown = u->state == UP_EOM;
		upstream_tx_set_all(u, OUTCOME_RETRY, why);
		upstream_tx_report(u);
	}
	conn_close(u->conn);
	upstream_enter_state(u, UP_DEAD);
	if (u->probe != NULL) {		/* a probe is no session of the scheduler's */
		upstream_probe_end(u->probe);
		u->probe = NULL;
	} else
		u->cb->closed(u->sched, u->acct, u);
	event_assign(u->start_ev, u->base, -1, 0, upstream_free_cb, u);
	event_active(u->start_ev, 0, 0);
}

/*
 * upstream_fail: the session cannot go on. Before it was ready this is a session
 * failure (the account backs off); during a transaction the message is deferred; once
 * its final "." was written, whatever went wrong leaves its outcome unknown.
 */
static void
upstream_fail(struct upstream *u, enum outcome_action act, const char *fmt, ...)
{
	char why[OUTCOME_REPLY_MAX + 600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (u->state == UP_EOM && u->msg != NULL) {
		act = OUTCOME_RETRY;
		u->unknown = 1;
		snprintf(why + strlen(why), sizeof(why) - strlen(why), " (the message was "
		    "sent; whether it was taken is unknown)");
	}
	if (u->probe != NULL) {
		upstream_probe_relay(u->probe, conn_peer(u->conn));
		upstream_probe_failed(u->probe, why);
	} else if (u->state < UP_READY)
		u->cb->failed(u->sched, u->acct, act, why, conn_peer(u->conn));
	else if (u->msg != NULL) {
		upstream_tx_set_all(u, act, why);
		upstream_tx_report(u);
	}
	upstream_close(u);
}

int
upstream_is_idle(const struct upstream *u)
{
	return u->state == UP_READY && u->msg == NULL;
}

/* upstream_deadline_cb: the reply awaited did not come whole in time. */
static void
upstream_deadline_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct upstream *u = arg;

	if (u->state == UP_DEAD)
		return;
	upstream_fail(u, OUTCOME_RETRY, "no complete reply from %s within %ds in state %s "
	    "(%zu lines so far)", conn_peer(u->conn), upstream_timeouts[u->state],
	    upstream_state_name(u->state), u->r.nlines);
}

/* upstream_start_cb: begin connecting (deferred so upstream_new never calls back). */
static void
upstream_start_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct upstream *u = arg;

	conn_open(u->conn);
}

struct upstream *
upstream_new(const struct upstream_cb *cb, struct scheduler *owner,
    struct sched_account *acct, struct config_account *cfg, SSL_CTX *ctx,
    struct event_base *base, struct evdns_base *dns, const char *helo)
{
	struct upstream *u = xcalloc(1, sizeof(*u));
	char *label;

	u->cb = cb;
	u->sched = owner;
	u->acct = acct;
	u->cfg = cfg;
	u->base = base;
	u->helo = xstrdup(helo);
	upstream_body_init(&u->body);
	u->state = UP_INIT;
	label = xasprintf("upstream: account=%s relay", u->cfg->name);
	u->conn = conn_new(base, dns, u->cfg->host, u->cfg->port,
	    u->cfg->tls == CONFIG_TLS_IMPLICIT, ctx, label, upstream_conn_event, u);
	free(label);
	u->start_ev = event_new(base, -1, 0, upstream_start_cb, u);
	u->deadline_ev = evtimer_new(base, upstream_deadline_cb, u);
	outcome_reply_init(&u->r);
	event_active(u->start_ev, 0, 0);
	return u;
}

/*
 * upstream_probe_done: in a probe, AUTH went through (or none is configured): note
 * result, say QUIT and return 1; the probe ends when the session closes. 0 otherwise.
 */
static int
upstream_probe_done(struct upstream *u, const char *result)
{
	if (u->probe == NULL)
		return 0;
	upstream_probe_relay(u->probe, conn_peer(u->conn));
	upstream_probe_ok(u->probe, result);
	upstream_send(u, UP_QUIT);
	return 1;
}

struct upstream *
upstream_probe_start(struct config_account *cfg, SSL_CTX *ctx, struct event_base *base,
    struct evdns_base *dns, const char *helo, struct upstream_probe *p)
{
	struct upstream *u = upstream_new(NULL, NULL, NULL, cfg, ctx, base, dns, helo);

	u->probe = p;
	return u;
}

void
upstream_stop(struct upstream *u)
{
	if (u->msg != NULL) {
		/* Shutting down: the message stays queued as it is on disk; the
		 * owner keeps it (and frees it). */
		u->msg = NULL;
		upstream_tx_clear(u);
	}
	upstream_close(u);
	upstream_free_cb(-1, 0, u);	/* not from a callback: free now */
}

/* upstream_parse_ehlo_line: remember one capability from an EHLO reply line. */
static void
upstream_parse_ehlo_line(struct upstream *u, const char *kw)
{
	if (u->probe != NULL)
		upstream_probe_ehlo(u->probe, kw);
	if (strcasecmp(kw, "PIPELINING") == 0)
		u->cap_pipelining = 1;
	else if (strcasecmp(kw, "STARTTLS") == 0)
		u->cap_starttls = 1;
	else if (strncasecmp(kw, "SIZE", 4) == 0 && (kw[4] == '\0' || kw[4] == ' '))
		u->cap_size = 1;
	else if (strcasecmp(kw, "8BITMIME") == 0)
		u->cap_8bitmime = 1;
	else if (strncasecmp(kw, "AUTH", 4) == 0 && (kw[4] == ' ' || kw[4] == '=')) {
		free(u->cap_auth);
		u->cap_auth = xstrdup(kw + 5);
	}
}

/* upstream_auth_begin: AUTH if the account logs in and may here, or ready. */
static void
upstream_auth_begin(struct upstream *u)
{
	if (u->cfg->username == NULL) {		/* a local smarthost without AUTH */
		if (upstream_probe_done(u, "no AUTH configured: the session is ready"))
			return;
		upstream_enter_state(u, UP_READY);
		u->cb->ready(u->sched, u->acct);
		upstream_next_tx(u);
		return;
	}
	if (u->cfg->tls != CONFIG_TLS_NONE && !conn_tls_up(u->conn)) {	/* never in clear */
		upstream_fail(u, OUTCOME_RETRY, "refusing to authenticate without TLS");
		return;
	}
	if (u->cap_auth == NULL) {
		upstream_fail(u, OUTCOME_RETRY, "%s offers no AUTH; is SMTP access enabled "
		    "for this mailbox in the provider's settings?", conn_peer(u->conn));
		return;
	}
	upstream_send(u, UP_AUTH);
}

/* upstream_auth_start: the AUTH command with the best mechanism both sides have. */
static void
upstream_auth_start(struct upstream *u)
{
	const char *mech, *err;
	char *initial, why[300];
	enum outcome_action act;

	auth_free(u->auth);
	/* An OAuth account without a current token: later (RETRY) or log in (DISABLE). */
	if ((u->auth = auth_new_account(u->cfg, &act, why, sizeof(why))) == NULL) {
		upstream_fail(u, act, "%s", why);
		return;
	}
	if (auth_start(u->auth, u->cap_auth, &mech, &initial, &err) == -1) {
		upstream_fail(u, OUTCOME_RETRY, "AUTH with %s: %s (server offers: %s)",
		    conn_peer(u->conn), err, u->cap_auth);
		return;
	}
	if (u->probe != NULL)
		upstream_probe_auth(u->probe, mech);
	if (initial != NULL)
		upstream_printf(u, "AUTH %s %s\r\n", mech, initial);
	else
		upstream_printf(u, "AUTH %s\r\n", mech);
	free(initial);
	log_debug("upstream: account=%s relay=%s AUTH %s as %s", u->cfg->name, conn_peer(u->conn),
	    mech, u->cfg->username);
}

/* upstream_next_tx: start a transaction with the next message, or wait for one. */
static void
upstream_next_tx(struct upstream *u)
{
	struct queue_msg *m;
	size_t max;

	if (u->state != UP_READY || u->msg != NULL)
		return;
	if ((m = u->cb->take(u->sched, u->acct, &max)) == NULL) {
		if (u->cb->retired(u->sched, u->acct))	/* its account left the config: leave too */
			upstream_send(u, UP_QUIT);
		return;		/* idle; the READY timeout ends the session */
	}
	u->msg = m;
	u->rcpts = xcalloc(m->nrcpt, sizeof(*u->rcpts));
	/* This transaction's share: the first max recipients still pending that the
	 * scheduler did not keep for later (their domain's limit). */
	for (size_t i = 0; i < m->nrcpt && u->nrcpts < max; i++)
		if (m->rcpts[i].state == QUEUE_RCPT_PENDING && !m->rcpts[i].later) {
			u->rcpts[u->nrcpts].idx = i;
			u->rcpts[u->nrcpts].action = OUTCOME_RETRY;
			u->nrcpts++;
		}
	u->rcpt_cur = 0;
	u->mail_failed = 0;
	u->guess = 0;
	u->unknown = 0;
	u->naccepted = 0;
	upstream_send(u, UP_MAIL);
}

/* upstream_body_begin: after 354, the rewritten header and the start of the body. */
static void
upstream_body_begin(struct upstream *u)
{
	int fd;

	if ((fd = u->cb->msg_open(u->sched, u->msg)) == -1) {
		upstream_fail(u, OUTCOME_RETRY, "cannot open the queued message");
		return;
	}
	if (upstream_body_start(&u->body, fd, u->msg, u->cfg->address,
	    conn_output(u->conn)) == -1)
		upstream_fail(u, OUTCOME_RETRY, "cannot read the queued message");
}

/* upstream_tx_classify: what the reply means at stage; notes a guessed throttle. */
static enum outcome_action
upstream_tx_classify(struct upstream *u, enum outcome_stage stage)
{
	enum outcome_action act = upstream_classify(u, stage, u->r.text);

	if (act == OUTCOME_THROTTLE && outcome_is_guess(stage, u->r.text))
		u->guess = 1;
	return act;
}

/*
 * upstream_tx_all_refused: every recipient was refused at RCPT. The same refusal for
 * all of them, naming no recipient problem, is the account being held back: throttle
 * (outcome_all_refused), never fail them for it.
 */
static void
upstream_tx_all_refused(struct upstream *u)
{
	const char **replies = xcalloc(u->nrcpts, sizeof(*replies));
	enum outcome_action *acts = xcalloc(u->nrcpts, sizeof(*acts));

	for (size_t i = 0; i < u->nrcpts; i++) {
		replies[i] = u->rcpts[i].reply ? u->rcpts[i].reply : "";
		acts[i] = u->rcpts[i].action;
	}
	if (outcome_all_refused(replies, acts, u->nrcpts)) {
		log_info("%s: account=%s relay=%s every recipient (%zu) refused with \"%s\": "
		    "taken as the account being held back", u->msg->id, u->cfg->name,
		    conn_peer(u->conn), u->nrcpts, replies[0]);
		for (size_t i = 0; i < u->nrcpts; i++)
			u->rcpts[i].action = OUTCOME_THROTTLE;
		u->guess = 1;
	}
	free(replies);
	free(acts);
}

/* upstream_tx_end: the transaction is over: its results go, RSET for the next. */
static void
upstream_tx_end(struct upstream *u)
{
	upstream_tx_report(u);
	upstream_send(u, UP_RSET);
}

/* upstream_mail_reply: the reply to MAIL FROM. */
static void
upstream_mail_reply(struct upstream *u)
{
	if (u->r.code / 100 != 2) {
		u->mail_failed = 1;
		upstream_tx_set_all(u, upstream_tx_classify(u, OUTCOME_MAIL), u->r.text);
		if (!u->cap_pipelining) {	/* nothing more was sent: skip the rest */
			upstream_tx_end(u);
			return;
		}
	}
	u->rcpt_cur = 0;
	if (u->nrcpts > 0)
		upstream_send(u, UP_RCPT);
	else
		upstream_rcpts_done(u);
}

/* upstream_rcpt_reply: the reply to the RCPT of recipient u->rcpt_cur. */
static void
upstream_rcpt_reply(struct upstream *u)
{
	struct upstream_rcpt *r = &u->rcpts[u->rcpt_cur];

	if (u->mail_failed)
		;	/* the reply to MAIL says it all */
	else if (u->r.code / 100 == 2) {
		r->accepted = 1;
		u->naccepted++;
	} else {
		r->action = upstream_tx_classify(u, OUTCOME_RCPT);
		r->reply = xstrdup(u->r.text);
	}
	if (++u->rcpt_cur < u->nrcpts)
		upstream_send(u, UP_RCPT);
	else
		upstream_rcpts_done(u);
}

/* upstream_rcpts_done: every RCPT has its reply: DATA, unless nobody takes it. */
static void
upstream_rcpts_done(struct upstream *u)
{
	if (!u->mail_failed && u->naccepted == 0)
		upstream_tx_all_refused(u);
	if (!u->cap_pipelining && u->naccepted == 0) {	/* nobody to send to: skip DATA */
		upstream_tx_end(u);
		return;
	}
	upstream_send(u, UP_DATA);
}

/* upstream_data_reply: the reply to DATA: 354 starts the message. */
static void
upstream_data_reply(struct upstream *u)
{
	int code = u->r.code, go = u->naccepted > 0 && !u->mail_failed;

	if (code == 354 && go) {
		upstream_send(u, UP_BODY);
		return;
	}
	if (code == 354) {	/* nobody to send to, yet the server waits */
		upstream_fail(u, OUTCOME_RETRY, "%s accepted DATA without recipients",
		    conn_peer(u->conn));
		return;
	}
	if (code / 100 == 2 && go) {
		/* "sent" before the message was: not an answer to trust */
		upstream_fail(u, OUTCOME_RETRY, "%s answered DATA with \"%s\" instead of "
		    "354; the message was not sent", conn_peer(u->conn), u->r.text);
		return;
	}
	if (go)
		upstream_tx_set_all(u, upstream_tx_classify(u, OUTCOME_DATA), u->r.text);
	upstream_tx_end(u);
}

/* The commands that are one word, by the state they are sent in (sparse). */
static const char *const upstream_verbs[UP_NSTATES] = {
	[UP_STARTTLS] = "STARTTLS", [UP_DATA] = "DATA", [UP_RSET] = "RSET", [UP_QUIT] = "QUIT",
};

/*
 * upstream_write: the command line of state st (RCPT: of transaction recipient i);
 * the one place each command's text is.
 */
static void
upstream_write(struct upstream *u, enum upstream_state st, size_t i)
{
	switch (st) {
	case UP_EHLO:
		upstream_printf(u, "EHLO %s\r\n", u->helo);
		break;
	case UP_MAIL:
		upstream_printf(u, "MAIL FROM:<%s>", u->cfg->address);
		if (u->cap_size)
			upstream_printf(u, " SIZE=%llu",
			    (unsigned long long)u->msg->size + 1024);
		if (u->cap_8bitmime)
			upstream_printf(u, " BODY=8BITMIME");
		upstream_printf(u, "\r\n");
		break;
	case UP_RCPT:
		upstream_printf(u, "RCPT TO:<%s>\r\n", u->msg->rcpts[u->rcpts[i].idx].addr);
		break;
	default:
		if (upstream_verbs[st] != NULL)
			upstream_printf(u, "%s\r\n", upstream_verbs[st]);
		break;
	}
}

/*
 * upstream_send: enter state st and write its command (the mta_enter_state half;
 * upstream_response reads the reply and chooses the next state). With PIPELINING
 * (RFC 2920) entering MAIL writes the transaction's RCPTs and DATA along with it, and
 * entering RCPT and DATA then writes nothing. States without a command (connection
 * set-up, BANNER, READY, EOM) are entered with upstream_enter_state alone.
 */
static void
upstream_send(struct upstream *u, enum upstream_state st)
{
	upstream_enter_state(u, st);
	switch (st) {
	case UP_AUTH:
		upstream_auth_start(u);
		break;
	case UP_MAIL:
		upstream_write(u, UP_MAIL, 0);
		for (size_t i = 0; u->cap_pipelining && i < u->nrcpts; i++)
			upstream_write(u, UP_RCPT, i);
		if (u->cap_pipelining)
			upstream_write(u, UP_DATA, 0);
		break;
	case UP_RCPT:
	case UP_DATA:
		if (!u->cap_pipelining)
			upstream_write(u, st, u->rcpt_cur);
		break;
	case UP_BODY:		/* after 354: the message is this state's "command" */
		upstream_body_begin(u);
		break;
	default:
		upstream_write(u, st, 0);
		break;
	}
}

/* upstream_response: a complete reply arrived; choose the next state. */
static void
upstream_response(struct upstream *u)
{
	const char *err;
	char *resp;

	switch (u->state) {
	case UP_BANNER:
		if (u->r.code != 220) {
			upstream_fail(u, upstream_classify(u, OUTCOME_CONNECT, u->r.text),
			    "%s greeted with: %s", conn_peer(u->conn), u->r.text);
			return;
		}
		if (u->probe != NULL)
			upstream_probe_greeting(u->probe, u->r.text);
		upstream_send(u, UP_EHLO);
		break;
	case UP_EHLO:
		if (u->r.code / 100 != 2) {
			upstream_fail(u, upstream_classify(u, OUTCOME_EHLO, u->r.text),
			    "%s refused EHLO: %s", conn_peer(u->conn), u->r.text);
			return;
		}
		if (u->cfg->tls == CONFIG_TLS_STARTTLS && !conn_tls_up(u->conn)) {
			if (!u->cap_starttls) {
				upstream_fail(u, OUTCOME_RETRY, "%s does not offer STARTTLS; "
				    "nothing is sent in clear", conn_peer(u->conn));
				return;
			}
			upstream_send(u, UP_STARTTLS);
			return;
		}
		upstream_auth_begin(u);
		break;
	case UP_STARTTLS:
		if (u->r.code != 220) {
			upstream_fail(u, OUTCOME_RETRY, "%s refused STARTTLS: %s; nothing is "
			    "sent in clear", conn_peer(u->conn), u->r.text);
			return;
		}
		if (evbuffer_get_length(conn_input(u->conn)) > 0) {
			upstream_fail(u, OUTCOME_RETRY, "%s sent data after its STARTTLS reply "
			    "(response injection?); giving up on this connection", conn_peer(u->conn));
			return;
		}
		/* What EHLO said in clear is forgotten (RFC 3207 4.2). */
		if (u->probe != NULL)
			upstream_probe_ehlo(u->probe, NULL);
		u->cap_pipelining = u->cap_starttls = u->cap_size = u->cap_8bitmime = 0;
		free(u->cap_auth);
		u->cap_auth = NULL;
		conn_starttls(u->conn);
		break;
	case UP_AUTH:
		if (u->r.code == 334) {
			if (auth_step(u->auth, u->r.len > 4 ?
			    u->r.text + 4 : "", &resp, &err) == -1) {
				upstream_printf(u, "*\r\n");	/* cancel (RFC 4954 4) */
				upstream_fail(u, OUTCOME_RETRY, "AUTH with %s: %s", conn_peer(u->conn), err);
				return;
			}
			upstream_printf(u, "%s\r\n", resp);
			explicit_bzero(resp, strlen(resp));
			free(resp);
			return;
		}
		if (u->r.code / 100 != 2) {
			/* OAuth: the first refusal refreshes the token and retries. */
			const char *detail;
			enum outcome_action act = auth_refused(u->auth,
			    upstream_classify(u, OUTCOME_AUTH, u->r.text), &detail);

			upstream_fail(u, act, "authentication as %s failed: %s%s%s",
			    u->cfg->username, u->r.text, *detail ? " " : "", detail);
			return;
		}
		auth_accepted(u->auth);
		log_info("account=%s relay=%s authenticated as %s", u->cfg->name, conn_peer(u->conn),
		    u->cfg->username);
		if (upstream_probe_done(u, u->r.text))
			return;
		upstream_enter_state(u, UP_READY);
		u->cb->ready(u->sched, u->acct);
		upstream_next_tx(u);
		break;
	case UP_MAIL:
		upstream_mail_reply(u);
		break;
	case UP_RCPT:
		upstream_rcpt_reply(u);
		break;
	case UP_DATA:
		upstream_data_reply(u);
		break;
	case UP_EOM:
		upstream_tx_set_all(u, upstream_tx_classify(u, OUTCOME_DATA), u->r.text);
		upstream_tx_report(u);
		upstream_enter_state(u, UP_READY);
		upstream_next_tx(u);
		break;
	case UP_RSET:
		upstream_enter_state(u, UP_READY);
		upstream_next_tx(u);
		break;
	case UP_QUIT:
		upstream_close(u);
		break;
	case UP_BODY:
		/* Whatever it says, it cannot be about a message not yet all sent. */
		upstream_fail(u, OUTCOME_RETRY, "%s replied before the message was sent (%s); "
		    "not taken as its answer", conn_peer(u->conn), u->r.text);
		break;
	default:
		upstream_fail(u, OUTCOME_RETRY, "%s sent an unexpected reply in state %s: %s",
		    conn_peer(u->conn), upstream_state_name(u->state), u->r.text);
		break;
	}
}

/* upstream_read: collect reply lines; act on each complete reply. */
static void
upstream_read(struct upstream *u)
{
	struct evbuffer *in;
	char *line;
	size_t len;
	int first, ret;

	/* (After STARTTLS the handshake comes first: UP_TLS.) */
	while (u->state != UP_DEAD && u->state != UP_TLS) {
		in = conn_input(u->conn);
		if ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) == NULL) {
			if (evbuffer_get_length(in) > UPSTREAM_LINE_MAX)
				upstream_fail(u, OUTCOME_RETRY, "%s sent an overlong reply line",
				    conn_peer(u->conn));
			return;
		}
		first = u->r.nlines == 0;
		if ((ret = outcome_reply_line(&u->r, line, len)) == -1) {
			char *shown = jsonstr_clean(line, len < 80 ? len : 80);	/* for the log */

			upstream_fail(u, OUTCOME_RETRY, "%s sent a malformed reply (line %zu; at "
			    "most %d lines, %d octets): %s", conn_peer(u->conn), u->r.nlines,
			    OUTCOME_REPLY_LINES, OUTCOME_REPLY_OCTETS, shown);
			free(shown);
			free(line);
			return;
		}
		if (u->state == UP_EHLO && u->r.code / 100 == 2 && len > 4 && !first)
			upstream_parse_ehlo_line(u, line + 4);	/* the first line is a name */
		free(line);
		if (ret == 0)
			continue;
		upstream_response(u);
		outcome_reply_init(&u->r);
		if (u->state != UP_DEAD)
			upstream_arm_deadline(u);	/* a new reply, a new deadline */
	}
}

/*
 * upstream_drained: the output drained; keep the message body flowing. UP_EOM only
 * once all of it, the "." too, is written: a reply before that cannot be the answer
 * to the message.
 */
static void
upstream_drained(struct upstream *u)
{

	if (u->state != UP_BODY)
		return;
	if (u->body.dot)	/* all of it, "." too, is out: now a reply is the answer */
		upstream_enter_state(u, UP_EOM);
	else if (upstream_body_fill(&u->body, u->msg, conn_output(u->conn)) == -1)
		upstream_fail(u, OUTCOME_RETRY, "cannot read the queued message");
}

/* upstream_conn_lost: the connection failed, or the server closed it. */
static void
upstream_conn_lost(struct upstream *u, enum conn_event e, const char *why)
{
	if (e == CONN_E_TLS) {
		upstream_fail(u, OUTCOME_RETRY, "%s (%s); nothing was sent", why,
		    conn_peer(u->conn));
		return;
	}
	if (e != CONN_E_EOF && e != CONN_E_IO) {	/* resolve, connect, TLS set-up */
		upstream_fail(u, OUTCOME_RETRY, "%s", why);
		return;
	}
	if (u->state == UP_READY && e == CONN_E_EOF) {
		log_debug("upstream: account=%s relay=%s closed the idle session",
		    u->cfg->name, conn_peer(u->conn));
		upstream_close(u);
		return;
	}
	if (u->state == UP_QUIT) {
		upstream_close(u);
		return;
	}
	snprintf(u->lasterr, sizeof(u->lasterr), "%s", why);
	if (u->msg != NULL)
		upstream_close(u);	/* defers the message with the reason */
	else
		upstream_fail(u, OUTCOME_RETRY, "lost connection with %s in state %s: %s",
		    conn_peer(u->conn), upstream_state_name(u->state), u->lasterr);
}

/* upstream_conn_event: what the connection says (conn.h); the session's states. */
static void
upstream_conn_event(void *arg, enum conn_event e, const char *why)
{
	struct upstream *u = arg;

	/* (Nothing comes after conn_close: a dead session hears nothing.) */
	switch (e) {
	case CONN_RESOLVING:
		upstream_enter_state(u, UP_RESOLVE);
		break;
	case CONN_CONNECTING:
		upstream_enter_state(u, UP_CONNECT);
		break;
	case CONN_HANDSHAKE:
		upstream_enter_state(u, UP_TLS);
		break;
	case CONN_TLS_UP:
		if (u->probe != NULL)
			upstream_probe_tls(u->probe, conn_ssl(u->conn));
		if (u->cfg->tls == CONFIG_TLS_STARTTLS) {	/* EHLO again, in TLS */
			upstream_send(u, UP_EHLO);
			break;
		}
		/* FALLTHROUGH */
	case CONN_UP:
		upstream_enter_state(u, UP_BANNER);
		break;
	case CONN_DATA_IN:
		upstream_read(u);
		break;
	case CONN_DRAINED:
		upstream_drained(u);
		break;
	case CONN_E_TIMEOUT:
		if (u->state == UP_READY) {	/* idle long enough: leave politely */
			upstream_send(u, UP_QUIT);
			conn_enable(u->conn);
			break;
		}
		upstream_fail(u, OUTCOME_RETRY, "timeout after %ds in state %s with %s",
		    upstream_timeouts[u->state], upstream_state_name(u->state),
		    conn_peer(u->conn));
		break;
	default:
		upstream_conn_lost(u, e, why);
		break;
	}
}

void
upstream_wake(struct upstream *u)
{
	if (upstream_is_idle(u))
		upstream_next_tx(u);
}

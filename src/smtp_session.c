/*
 * smtp_session: inbound ESMTP (RFC 5321) for local apps.
 *
 * Connection slots: every session ends after max_session_time whatever it does; a
 * non-loopback address has at most max_clients_per_address of them, and all such
 * clients together leave a tenth of max_clients to loopback. Above 80 % of
 * max_clients the server is under stress (Postfix's term): every timeout drops to
 * SMTP_STRESS_TIMEOUT, and a connection that finds no free slot takes the one of the
 * session idle longest (srv->sessions is kept in order of last input).
 *
 * States: CMD (reading commands), DATA (reading the message), COMMIT (the message is
 * written and waits for the spool's group commit; input is paused), AUTH (reading
 * answers to AUTH challenges), AUTHWAIT (the password is being checked off the loop;
 * input is paused), STARTTLS (220 said, TLS starts once it is written), QUIT (the last
 * reply is being flushed), DEAD (freed from the event loop, never from its own
 * callback chain). smtp_session_enter_state records every transition and sets the
 * state's timeout from one table.
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <event2/util.h>

#include "acl.h"
#include "bounce_store.h"
#include "config.h"
#include "events.h"
#include "jsonstr.h"
#include "log.h"
#include "queue.h"
#include "rewrite.h"
#include "scheduler.h"
#include "smtp_data.h"
#include "smtp_parse.h"
#include "smtp_auth.h"
#include "smtp_session.h"
#include "xmalloc.h"

#define SMTP_ERRORS_MAX		20	/* then 421 and close (a client gone wrong) */
#define SMTP_DATA_CHUNK		(64 * 1024)
/*
 * Replies waiting for a client that does not read: above this, input is no longer
 * read (nor commands run) until the output has drained, so a client pipelining
 * without reading costs at most this much (OpenSMTPD's io layer does the same).
 */
#define SMTP_OUT_MAX		(16 * 1024)
#define SMTP_STRESS_ON		80	/* % of max_clients: under stress above it */
#define SMTP_STRESS_OFF		60	/* ... and no longer at or below this */
#define SMTP_STRESS_TIMEOUT	10	/* seconds: every timeout, under stress */
#define SMTP_EXPIRED		"Error: session time limit reached; closing"

enum smtp_state {
	SMTP_CMD,
	SMTP_DATA,
	SMTP_COMMIT,
	SMTP_AUTH,		/* reading the client's answers to AUTH challenges */
	SMTP_AUTHWAIT,		/* the password is being checked; input paused */
	SMTP_STARTTLS,		/* 220 said; TLS starts once it is written */
	SMTP_QUIT,
	SMTP_DEAD,
	SMTP_NSTATES
};

/* Inbound timeouts (seconds): short for commands, RFC-sized for data. */
static const int smtp_timeouts[] = {
	[SMTP_CMD] = 120,
	[SMTP_DATA] = 300,
	[SMTP_COMMIT] = 0,	/* input paused; the spool answers */
	[SMTP_AUTH] = 60,
	[SMTP_AUTHWAIT] = 0,	/* input paused; the checker answers */
	[SMTP_STARTTLS] = 30,
	[SMTP_QUIT] = 10,
	[SMTP_DEAD] = 0,
};
_Static_assert(sizeof(smtp_timeouts) / sizeof(smtp_timeouts[0]) == SMTP_NSTATES,
    "a timeout for every state");

static const char *const smtp_state_names[] = {
	[SMTP_CMD] = "cmd", [SMTP_DATA] = "data", [SMTP_COMMIT] = "commit",
	[SMTP_AUTH] = "auth", [SMTP_AUTHWAIT] = "authwait", [SMTP_STARTTLS] = "starttls",
	[SMTP_QUIT] = "quit", [SMTP_DEAD] = "dead",
};
_Static_assert(sizeof(smtp_state_names) / sizeof(smtp_state_names[0]) == SMTP_NSTATES,
    "a name for every state");

struct smtp_session {
	TAILQ_ENTRY(smtp_session) entry;	/* in srv->sessions */
	struct smtp_server	*srv;
	struct bufferevent	*bev;
	struct event		*free_ev;
	struct event		*life_ev;	/* max_session_time */
	enum smtp_state		 state;
	char			 addr[INET6_ADDRSTRLEN];
	char			*helo;		/* NULL until HELO/EHLO */
	int			 errors;
	int			 client_gone;	/* disconnected while the spool commits */
	int			 tls_up;	/* after STARTTLS */
	int			 out_paused;	/* reading stopped until the output drains */
	int			 loopback;	/* from a loopback address */
	int			 expired;	/* max_session_time passed while committing */
	int			 may_relay;	/* loopback, allow_networks, or AUTH done */
	struct smtp_auth	*auth;		/* an AUTH exchange in progress or done */
	char			*auth_user;	/* who authenticated, or NULL */

	/* The transaction. */
	struct queue_msg	*msg;		/* from MAIL to the end of DATA */
	struct smtp_data	 dr;
	char			*hdr;		/* the header block, until it is complete */
	size_t			 hdrlen, hdrcap;
	size_t			 hdrscan;	/* rescan the header when it reaches this */
	int			 begun;		/* the spool file exists */
	int			 store_errno;	/* the spool could not take it */
	int			 too_big;
	int			 hdr_too_big;
};

/* Flags of a command: what must come first. */
#define CMD_HELO	0x01	/* after HELO/EHLO */
#define CMD_MAIL	0x02	/* inside a transaction (after MAIL) */
#define CMD_RCPT	0x04	/* after at least one RCPT */
#define CMD_NOMAIL	0x08	/* outside a transaction */

static void smtp_cmd_helo(struct smtp_session *, const char *);
static void smtp_cmd_ehlo(struct smtp_session *, const char *);
static void smtp_cmd_mail(struct smtp_session *, const char *);
static void smtp_cmd_rcpt(struct smtp_session *, const char *);
static void smtp_cmd_data(struct smtp_session *, const char *);
static void smtp_cmd_rset(struct smtp_session *, const char *);
static void smtp_cmd_noop(struct smtp_session *, const char *);
static void smtp_cmd_quit(struct smtp_session *, const char *);
static void smtp_cmd_vrfy(struct smtp_session *, const char *);
static void smtp_cmd_help(struct smtp_session *, const char *);
static void smtp_cmd_unsupported(struct smtp_session *, const char *);
static void smtp_cmd_starttls(struct smtp_session *, const char *);
static void smtp_cmd_auth(struct smtp_session *, const char *);

static const struct smtp_cmd {
	const char	*verb;
	void		(*fn)(struct smtp_session *, const char *);
	unsigned	 flags;
} smtp_cmds[] = {
	{ "EHLO", smtp_cmd_ehlo, 0 },
	{ "HELO", smtp_cmd_helo, 0 },
	{ "MAIL", smtp_cmd_mail, CMD_HELO | CMD_NOMAIL },
	{ "RCPT", smtp_cmd_rcpt, CMD_HELO | CMD_MAIL },
	{ "DATA", smtp_cmd_data, CMD_HELO | CMD_MAIL | CMD_RCPT },
	{ "RSET", smtp_cmd_rset, 0 },
	{ "NOOP", smtp_cmd_noop, 0 },
	{ "QUIT", smtp_cmd_quit, 0 },
	{ "VRFY", smtp_cmd_vrfy, 0 },
	{ "HELP", smtp_cmd_help, 0 },
	{ "STARTTLS", smtp_cmd_starttls, CMD_HELO | CMD_NOMAIL },
	{ "AUTH", smtp_cmd_auth, CMD_HELO | CMD_NOMAIL },
	{ "BDAT", smtp_cmd_unsupported, 0 },
	{ "ETRN", smtp_cmd_unsupported, 0 },
	{ "EXPN", smtp_cmd_unsupported, 0 },
};

static void smtp_session_read_cb(struct bufferevent *, void *);
static void smtp_session_tls_start(struct smtp_session *);
static void smtp_session_process(struct smtp_session *);

/* smtp_session_set_timeouts: the state's timeout, shorter under stress. */
static void
smtp_session_set_timeouts(struct smtp_session *s)
{
	int t = smtp_timeouts[s->state];

	if (s->bev == NULL)
		return;
	if (s->srv->stressed && t > SMTP_STRESS_TIMEOUT)
		t = SMTP_STRESS_TIMEOUT;
	if (t > 0)
		bufferevent_set_timeouts(s->bev, &(struct timeval){ .tv_sec = t },
		    &(struct timeval){ .tv_sec = t });
	else
		bufferevent_set_timeouts(s->bev, NULL, NULL);
}

/* smtp_session_enter_state: the one place a session changes state. */
static void
smtp_session_enter_state(struct smtp_session *s, enum smtp_state st)
{
	log_debug("smtp: client=%s state %s -> %s", s->addr, smtp_state_names[s->state],
	    smtp_state_names[st]);
	s->state = st;
	smtp_session_set_timeouts(s);
}

/*
 * smtp_session_stress: enter or leave stress mode as the number of sessions
 * crosses its marks; every session's timeout follows at once.
 */
static void
smtp_session_stress(struct smtp_server *srv)
{
	long n = (long)srv->nclients * 100, max = srv->cfg->max_clients;
	int on = srv->stressed ? n > max * SMTP_STRESS_OFF : n > max * SMTP_STRESS_ON;
	struct smtp_session *s;

	if (on == srv->stressed)
		return;
	srv->stressed = on;
	if (on)
		log_warn("smtp: %d of max_clients=%d sessions: under stress, timeouts are "
		    "%d s and the longest idle session makes room", srv->nclients,
		    srv->cfg->max_clients, SMTP_STRESS_TIMEOUT);
	else
		log_info("smtp: %d sessions: no longer under stress", srv->nclients);
	TAILQ_FOREACH(s, &srv->sessions, entry)
		smtp_session_set_timeouts(s);
}

/* smtp_session_vreply: queue one reply line (CRLF added). */
static void
smtp_session_vreply(struct smtp_session *s, const char *fmt, va_list ap)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	evbuffer_add_vprintf(out, fmt, ap);
	evbuffer_add(out, "\r\n", 2);
}

/* smtp_session_reply: send one reply line. */
static void __attribute__((format(printf, 2, 3)))
smtp_session_reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtp_session_vreply(s, fmt, ap);
	va_end(ap);
}

/* smtp_session_error: a 4xx/5xx reply; too many of them end the session. */
static void __attribute__((format(printf, 2, 3)))
smtp_session_error(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtp_session_vreply(s, fmt, ap);
	va_end(ap);
	if (++s->errors >= SMTP_ERRORS_MAX) {
		smtp_session_reply(s, "421 4.7.0 %s Error: too many errors; closing",
		    s->srv->cfg->hostname);
		smtp_session_enter_state(s, SMTP_QUIT);
	}
}

/* smtp_session_free_cb: the deferred free of a finished session. */
static void
smtp_session_free_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_session *s = arg;
	struct smtp_server *srv = s->srv;

	event_free(s->free_ev);
	event_free(s->life_ev);
	smtp_auth_free(s->auth);
	free(s->auth_user);
	free(s->helo);
	free(s);
	/* The last client gone: give what its buffers took back to the system. */
	if (srv->nclients == 0)
		malloc_trim(0);
}

/* smtp_session_tx_reset: forget the transaction (and any half-received message). */
static void
smtp_session_tx_reset(struct smtp_session *s)
{
	if (s->msg != NULL)
		queue_msg_abort(s->srv->q, s->msg);
	s->msg = NULL;
	free(s->hdr);
	s->hdr = NULL;
	s->hdrlen = s->hdrcap = s->hdrscan = 0;
	s->begun = s->store_errno = s->too_big = s->hdr_too_big = 0;
}

/* smtp_session_close: end the session now; freed from the event loop. */
static void
smtp_session_close(struct smtp_session *s)
{
	if (s->state == SMTP_DEAD)
		return;
	if (s->state == SMTP_COMMIT) {
		/* The spool still owns the message: wait for its answer. */
		s->client_gone = 1;
		if (s->bev != NULL)
			bufferevent_disable(s->bev, EV_READ | EV_WRITE);
		return;
	}
	log_debug("smtp: client=%s disconnected", s->addr);
	smtp_session_tx_reset(s);
	smtp_auth_free(s->auth);	/* a check under way answers nobody */
	s->auth = NULL;
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	s->bev = NULL;
	event_del(s->life_ev);
	s->srv->nclients--;
	if (!s->loopback)
		s->srv->nremote--;
	TAILQ_REMOVE(&s->srv->sessions, s, entry);
	smtp_session_enter_state(s, SMTP_DEAD);
	smtp_session_stress(s->srv);
	event_active(s->free_ev, 0, 0);
}

/*
 * smtp_session_drop: end the session with "421 code hostname why", closed once that
 * is written; whatever transaction was open is forgotten.
 */
static void
smtp_session_drop(struct smtp_session *s, const char *code, const char *why)
{
	smtp_session_tx_reset(s);
	smtp_auth_free(s->auth);	/* a check under way answers nobody */
	s->auth = NULL;
	smtp_session_reply(s, "421 %s %s %s", code, s->srv->cfg->hostname, why);
	smtp_session_enter_state(s, SMTP_QUIT);
	bufferevent_enable(s->bev, EV_WRITE);	/* a timeout disabled it */
}

/* smtp_session_expire_cb: max_session_time has passed. */
static void
smtp_session_expire_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_session *s = arg;

	if (s->state == SMTP_QUIT || s->state == SMTP_DEAD)
		return;
	log_info("smtp: client=%s session time limit (%d s) reached in state %s", s->addr,
	    s->srv->cfg->max_session_time, smtp_state_names[s->state]);
	if (s->state == SMTP_COMMIT)
		s->expired = 1;		/* its answer first, then 421 */
	else
		smtp_session_drop(s, "4.4.2", SMTP_EXPIRED);
}

/*
 * smtp_session_evict: make room for a new client: the session idle longest (among
 * the non-loopback ones only if remote) and not in the middle of a commit is told
 * 421. Returns 0, or -1 when there is none.
 */
static int
smtp_session_evict(struct smtp_server *srv, int remote)
{
	struct smtp_session *s;

	TAILQ_FOREACH(s, &srv->sessions, entry) {
		if (remote && s->loopback)
			continue;
		if (s->state == SMTP_CMD || s->state == SMTP_AUTH || s->state == SMTP_DATA) {
			log_info("smtp: client=%s closed in state %s: the longest idle "
			    "session makes room for a new one", s->addr,
			    smtp_state_names[s->state]);
			smtp_session_drop(s, "4.7.0", "Too many connections; closing the idle "
			    "session");
			return 0;
		}
	}
	return -1;
}

/*
 * smtp_session_admit: may a client from addr have a session? NULL if so (perhaps after
 * closing an idle one), else why not.
 */
static const char *
smtp_session_admit(struct smtp_server *srv, const char *addr, int loopback)
{
	const struct config *cfg = srv->cfg;
	struct smtp_session *s;
	int same = 0;

	if (srv->closing)
		return "shutting down";
	if (loopback)
		return srv->nclients < cfg->max_clients || smtp_session_evict(srv, 0) == 0 ?
		    NULL : "max_clients reached";
	TAILQ_FOREACH(s, &srv->sessions, entry)
		if (!s->loopback && strcmp(s->addr, addr) == 0)
			same++;
	if (same >= cfg->max_clients_per_address)
		return "max_clients_per_address reached";
	/* Local apps keep a tenth of the slots (at least one): remote clients cannot. */
	int remote_max = cfg->max_clients - (cfg->max_clients >= 10 ? cfg->max_clients / 10 : 1);

	if (remote_max < 1)
		remote_max = 1;
	if (srv->nremote < remote_max && srv->nclients < cfg->max_clients)
		return NULL;
	return smtp_session_evict(srv, 1) == 0 ? NULL : "max_clients reached";
}

static void
smtp_session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;
	unsigned long e;

	if (s->tls_up && (e = bufferevent_get_openssl_error(bev)) != 0) {
		char buf[256];

		ERR_error_string_n(e, buf, sizeof(buf));
		log_info("smtp: client=%s TLS failed: %s", s->addr, buf);
		ERR_clear_error();
	}
	if (what & BEV_EVENT_CONNECTED) {	/* the STARTTLS handshake is done */
		log_debug("smtp: client=%s TLS established", s->addr);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && s->state != SMTP_QUIT) {
		log_info("smtp: client=%s timeout in state %s%s", s->addr,
		    smtp_state_names[s->state], s->srv->stressed ? " (under stress)" : "");
		smtp_session_drop(s, "4.4.2", "Error: timeout exceeded; closing");
		return;
	}
	smtp_session_close(s);
}

/*
 * smtp_session_write_cb: the output drained: a session that said goodbye ends, one
 * that said 220 to STARTTLS starts TLS, and one waiting for its client to read
 * reads again.
 */
static void
smtp_session_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	if (s->state == SMTP_QUIT)
		smtp_session_close(s);
	else if (s->state == SMTP_STARTTLS)
		smtp_session_tls_start(s);
	else if (s->out_paused) {
		s->out_paused = 0;
		if (s->state == SMTP_CMD || s->state == SMTP_AUTH) {
			bufferevent_enable(s->bev, EV_READ);
			smtp_session_process(s);
		}
	}
}

void
smtp_session_accept(struct smtp_server *srv, int fd, const struct sockaddr *sa, int salen)
{
	struct smtp_session *s;
	char addr[INET6_ADDRSTRLEN];
	const char *why;
	int loopback = acl_is_loopback(sa);

	if (sa->sa_family == AF_INET6)
		evutil_inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
		    addr, sizeof(addr));
	else
		evutil_inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    addr, sizeof(addr));
	if ((why = smtp_session_admit(srv, addr, loopback)) != NULL) {
		static const char busy[] = "421 4.7.0 Too many connections; try again later\r\n";

		if (write(fd, busy, sizeof(busy) - 1) == -1) {
			/* nothing more to tell a client we cannot serve */
		}
		close(fd);
		log_warn("smtp: refused a connection from %s: %s", addr, why);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->srv = srv;
	s->loopback = loopback;
	memcpy(s->addr, addr, sizeof(s->addr));
	srv->nclients++;
	if (!loopback)
		srv->nremote++;
	TAILQ_INSERT_TAIL(&srv->sessions, s, entry);
	/* Local programs may send; others only from allow_networks or after AUTH. */
	s->may_relay = loopback || acl_match(srv->cfg->allow, srv->cfg->nallow, sa);
	s->free_ev = event_new(srv->base, -1, 0, smtp_session_free_cb, s);
	s->life_ev = evtimer_new(srv->base, smtp_session_expire_cb, s);
	evtimer_add(s->life_ev, &(struct timeval){ .tv_sec = srv->cfg->max_session_time });
	s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->bev, smtp_session_read_cb, smtp_session_write_cb,
	    smtp_session_event_cb, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->state = SMTP_CMD;
	smtp_session_enter_state(s, SMTP_CMD);
	smtp_session_stress(srv);
	log_debug("smtp: client=%s connected", s->addr);
	smtp_session_reply(s, "220 %s ESMTP relayd", srv->cfg->hostname);
}

void
smtp_session_shutdown(struct smtp_server *srv)
{
	struct smtp_session *s, *next;

	srv->closing = 1;
	for (s = TAILQ_FIRST(&srv->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->state == SMTP_COMMIT)
			continue;	/* the spool answers: 250 (or 4xx), then 421 */
		if (s->state == SMTP_QUIT || s->state == SMTP_DEAD)
			continue;	/* closes by itself once its last reply is out */
		smtp_session_drop(s, "4.3.2", "Service shutting down; try again later");
	}
}

void
smtp_session_close_all(struct smtp_server *srv)
{
	struct smtp_session *s;

	while ((s = TAILQ_FIRST(&srv->sessions)) != NULL) {
		if (s->state == SMTP_COMMIT)	/* never here: commits finish in the loop */
			s->state = SMTP_CMD;
		smtp_session_close(s);
	}
}

/* Commands. */

/* smtp_session_hello: HELO or EHLO: a new start; returns -1 after a syntax error. */
static int
smtp_session_hello(struct smtp_session *s, const char *verb, const char *args)
{
	if (*args == '\0') {
		smtp_session_error(s, "501 5.5.4 Syntax: %s hostname", verb);
		return -1;
	}
	smtp_session_tx_reset(s);
	free(s->helo);
	s->helo = xstrdup(args);
	return 0;
}

static void
smtp_cmd_helo(struct smtp_session *s, const char *args)
{
	if (smtp_session_hello(s, "HELO", args) == 0)
		smtp_session_reply(s, "250 %s", s->srv->cfg->hostname);
}

static void
smtp_cmd_ehlo(struct smtp_session *s, const char *args)
{
	if (smtp_session_hello(s, "EHLO", args) == -1)
		return;
	smtp_session_reply(s, "250-%s", s->srv->cfg->hostname);
	smtp_session_reply(s, "250-PIPELINING");
	smtp_session_reply(s, "250-SIZE %llu", s->srv->cfg->max_message_size);
	smtp_session_reply(s, "250-8BITMIME");
	if (s->srv->tls_ctx != NULL && !s->tls_up)
		smtp_session_reply(s, "250-STARTTLS");
	/* Passwords only over TLS (RFC 4954 4): AUTH is not offered before it. */
	if (s->srv->cfg->auth_users != NULL && s->tls_up && s->auth_user == NULL)
		smtp_session_reply(s, "250-AUTH PLAIN LOGIN");
	smtp_session_reply(s, "250 ENHANCEDSTATUSCODES");
}

static void
smtp_cmd_starttls(struct smtp_session *s, const char *args)
{
	if (s->srv->tls_ctx == NULL) {
		smtp_session_error(s, "502 5.5.1 Error: STARTTLS is not configured here");
		return;
	}
	if (s->tls_up) {
		smtp_session_error(s, "503 5.5.1 Error: TLS is already active");
		return;
	}
	if (*args != '\0') {
		smtp_session_error(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	smtp_session_reply(s, "220 2.0.0 Ready to start TLS");
	/*
	 * Whatever the client sent after STARTTLS in clear is thrown away, and the
	 * session starts again (RFC 3207 4.2; CVE-2011-0411: commands injected before
	 * the handshake must not run as if they came over TLS). Nothing more is read
	 * in clear: anything that still comes is the start of the handshake.
	 */
	evbuffer_drain(bufferevent_get_input(s->bev),
	    evbuffer_get_length(bufferevent_get_input(s->bev)));
	bufferevent_disable(s->bev, EV_READ);
	free(s->helo);
	s->helo = NULL;
	smtp_session_tx_reset(s);
	smtp_session_enter_state(s, SMTP_STARTTLS);	/* the write callback goes on */
}

/* smtp_session_tls_start: the 220 is out: the socket now speaks TLS. */
static void
smtp_session_tls_start(struct smtp_session *s)
{
	evutil_socket_t fd = bufferevent_getfd(s->bev);
	SSL *ssl = SSL_new(s->srv->tls_ctx);

	bufferevent_setfd(s->bev, -1);	/* keep the socket: TLS takes it over */
	bufferevent_free(s->bev);
	s->bev = ssl == NULL ? NULL : bufferevent_openssl_socket_new(s->srv->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		log_err("smtp: client=%s cannot start TLS", s->addr);
		if (ssl != NULL)
			SSL_free(ssl);
		evutil_closesocket(fd);
		s->state = SMTP_CMD;	/* nothing is pending: close at once */
		smtp_session_close(s);
		return;
	}
	s->tls_up = 1;
	bufferevent_setcb(s->bev, smtp_session_read_cb, smtp_session_write_cb,
	    smtp_session_event_cb, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	smtp_session_enter_state(s, SMTP_CMD);
}

/* smtp_session_auth_result: act on a step of an AUTH exchange. */
static void
smtp_session_auth_result(struct smtp_session *s, enum smtp_auth_status st,
    const char *challenge)
{
	switch (st) {
	case SMTP_AUTH_CONTINUE:
		smtp_session_reply(s, "334 %s", challenge);
		smtp_session_enter_state(s, SMTP_AUTH);
		return;
	case SMTP_AUTH_PENDING:		/* smtp_session_auth_done follows */
		smtp_session_enter_state(s, SMTP_AUTHWAIT);
		bufferevent_disable(s->bev, EV_READ);
		return;
	case SMTP_AUTH_OK:
		s->auth_user = xstrdup(smtp_auth_user(s->auth));
		s->may_relay = 1;
		log_info("smtp: client=%s authenticated as %s", s->addr, s->auth_user);
		smtp_session_reply(s, "235 2.7.0 Authentication successful");
		break;
	case SMTP_AUTH_FAIL:
		log_warn("smtp: client=%s authentication failed", s->addr);
		smtp_session_error(s, "535 5.7.8 Authentication credentials invalid");
		break;
	case SMTP_AUTH_BADARG:
		smtp_session_error(s, "501 5.5.2 Error: authentication cancelled or malformed");
		break;
	case SMTP_AUTH_TEMPFAIL:
		smtp_session_error(s, "454 4.7.0 Temporary authentication failure");
		break;
	}
	if (s->state == SMTP_AUTH || s->state == SMTP_AUTHWAIT)
		smtp_session_enter_state(s, SMTP_CMD);
}

/* smtp_session_auth_done: the checker's verdict on the password of this session. */
static void
smtp_session_auth_done(enum smtp_auth_status st, void *arg)
{
	struct smtp_session *s = arg;

	smtp_session_auth_result(s, st, NULL);
	if (s->state != SMTP_CMD)
		return;		/* too many errors: closing */
	if (s->srv->closing) {
		smtp_session_drop(s, "4.3.2", "Service shutting down; try again later");
		return;
	}
	bufferevent_enable(s->bev, EV_READ);
	smtp_session_process(s);	/* commands pipelined behind the credentials */
}

static void
smtp_cmd_auth(struct smtp_session *s, const char *args)
{
	char mech[32];
	const char *initial, *challenge = NULL;
	size_t n = strcspn(args, " ");

	if (s->srv->cfg->auth_users == NULL) {
		smtp_session_error(s, "502 5.5.1 Error: authentication is not configured here");
		return;
	}
	if (!s->tls_up) {
		smtp_session_error(s, "538 5.7.11 Encryption required: issue STARTTLS first");
		return;
	}
	if (s->auth_user != NULL) {
		smtp_session_error(s, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (n == 0 || n >= sizeof(mech)) {
		smtp_session_error(s, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
		return;
	}
	memcpy(mech, args, n);
	mech[n] = '\0';
	initial = args[n] == ' ' ? args + n + 1 : NULL;
	if (s->auth == NULL)
		s->auth = smtp_auth_new(s->addr, smtp_session_auth_done, s);
	smtp_session_auth_result(s, smtp_auth_start(s->auth, mech, initial, &challenge),
	    challenge);
}

static void
smtp_cmd_mail(struct smtp_session *s, const char *args)
{
	struct smtp_mail_args ma;
	const char *err;

	if (!s->may_relay) {
		smtp_session_error(s, s->srv->tls_ctx != NULL && !s->tls_up ?
		    "530 5.7.0 Must issue a STARTTLS command and authenticate first" :
		    "530 5.7.0 Authentication required");
		return;
	}
	if (smtp_parse_mail(args, &ma, &err) == -1) {
		smtp_session_error(s, "%s", err);
		return;
	}
	if (ma.size > s->srv->cfg->max_message_size) {
		smtp_session_error(s, "552 5.3.4 Message size exceeds the limit of %llu bytes",
		    s->srv->cfg->max_message_size);
		return;
	}
	s->msg = queue_msg_new(s->srv->q, s->addr, ma.addr);
	smtp_session_reply(s, "250 2.1.0 Ok");
}

static void
smtp_cmd_rcpt(struct smtp_session *s, const char *args)
{
	char addr[SMTP_PATH_MAX], why[256];
	const char *err;

	if (smtp_parse_rcpt(args, addr, &err) == -1) {
		smtp_session_error(s, "%s", err);
		return;
	}
	if (bounce_store_suppressed(s->srv->bounces, addr, why, sizeof(why))) {
		/* Sending again to dead addresses is what gets accounts blocked. */
		smtp_session_error(s, "550 5.1.1 <%s>: %s", addr, why);
		return;
	}
	if (s->msg->nrcpt >= (size_t)s->srv->cfg->max_recipients) {
		smtp_session_error(s, "452 4.5.3 Error: too many recipients (at most %d per "
		    "message)", s->srv->cfg->max_recipients);
		return;
	}
	queue_msg_add_rcpt(s->msg, addr);
	smtp_session_reply(s, "250 2.1.5 Ok");
}

static void
smtp_cmd_data(struct smtp_session *s, const char *args)
{
	if (*args != '\0') {
		smtp_session_error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	smtp_data_init(&s->dr);
	smtp_session_enter_state(s, SMTP_DATA);
	smtp_session_reply(s, "354 2.0.0 End data with <CR><LF>.<CR><LF>");
}

static void
smtp_cmd_rset(struct smtp_session *s, const char *args)
{
	smtp_session_tx_reset(s);
	smtp_session_reply(s, "250 2.0.0 Ok");
}

static void
smtp_cmd_noop(struct smtp_session *s, const char *args)
{
	smtp_session_reply(s, "250 2.0.0 Ok");
}

static void
smtp_cmd_quit(struct smtp_session *s, const char *args)
{
	smtp_session_reply(s, "221 2.0.0 Bye");
	smtp_session_enter_state(s, SMTP_QUIT);
}

static void
smtp_cmd_vrfy(struct smtp_session *s, const char *args)
{
	smtp_session_reply(s, "252 2.5.2 Cannot VRFY user, but will accept the message");
}

static void
smtp_cmd_help(struct smtp_session *s, const char *args)
{
	smtp_session_reply(s, "214 2.0.0 relayd: EHLO MAIL RCPT DATA RSET NOOP QUIT "
	    "(RFC 5321)");
}

static void
smtp_cmd_unsupported(struct smtp_session *s, const char *args)
{
	smtp_session_error(s, "502 5.5.1 Error: command not implemented");
}

/* smtp_session_command: dispatch one command line through the table. */
static void
smtp_session_command(struct smtp_session *s, const char *line, size_t len)
{
	char verb[SMTP_VERB_MAX];
	const char *args;
	size_t i;

	if (len > SMTP_LINE_MAX - 2) {
		smtp_session_error(s, "500 5.5.2 Error: line too long (RFC 5321 4.5.3.1.4)");
		return;
	}
	if (smtp_parse_command(line, len, verb, &args) == -1) {
		smtp_session_error(s, "500 5.5.2 Error: bad syntax");
		return;
	}
	for (i = 0; i < sizeof(smtp_cmds) / sizeof(smtp_cmds[0]); i++)
		if (strcmp(verb, smtp_cmds[i].verb) == 0)
			break;
	if (i == sizeof(smtp_cmds) / sizeof(smtp_cmds[0])) {
		smtp_session_error(s, "502 5.5.2 Error: command not recognized");
		return;
	}
	const struct smtp_cmd *c = &smtp_cmds[i];
	if ((c->flags & CMD_HELO) && s->helo == NULL)
		smtp_session_error(s, "503 5.5.1 Error: send HELO/EHLO first");
	else if ((c->flags & CMD_NOMAIL) && s->msg != NULL)
		smtp_session_error(s, "503 5.5.1 Error: nested MAIL command");
	else if ((c->flags & CMD_MAIL) && s->msg == NULL)
		smtp_session_error(s, "503 5.5.1 Error: need MAIL command");
	else if ((c->flags & CMD_RCPT) && s->msg->nrcpt == 0)
		smtp_session_error(s, "503 5.5.1 Error: need RCPT command");
	else
		c->fn(s, args);
}

/* smtp_session_begin: the header is known; create the spool file and write it. */
static void
smtp_session_begin(struct smtp_session *s, const struct rewrite_info *ri)
{
	char genid[300];
	const char *mid = ri->message_id;

	s->begun = 1;
	if (*mid == '\0') {
		/* Every message gets a unique Message-ID: bounces are matched by it. */
		snprintf(genid, sizeof(genid), "<%08x%08x.%08x@%s>", arc4random(),
		    arc4random(), arc4random(), s->srv->cfg->hostname);
		mid = genid;
	}
	if (queue_msg_begin(s->srv->q, s->msg, mid, ri->header_len) == -1) {
		s->store_errno = errno;
		log_err("smtp: client=%s cannot create a spool file: %s", s->addr,
		    strerror(errno));
		return;
	}
	queue_msg_write(s->msg, s->hdr, s->hdrlen);
	free(s->hdr);
	s->hdr = NULL;
	s->hdrlen = s->hdrcap = 0;
}

/* smtp_session_data_out: message octets from the DATA reader. */
static void
smtp_session_data_out(struct smtp_session *s, const char *buf, size_t n)
{
	struct rewrite_info ri;

	if (n == 0 || s->too_big || s->store_errno || s->hdr_too_big)
		return;
	if (s->dr.total > s->srv->cfg->max_message_size) {
		s->too_big = 1;
		return;
	}
	if (s->begun) {
		queue_msg_write(s->msg, buf, n);
		return;
	}
	/* Still in the header block: keep it until its end is found. */
	if (s->hdrlen + n > REWRITE_HEADER_MAX) {
		s->hdr_too_big = 1;
		return;
	}
	if (s->hdrlen + n > s->hdrcap) {
		s->hdrcap = (s->hdrlen + n) * 2;
		s->hdr = xrealloc(s->hdr, s->hdrcap);
	}
	memcpy(s->hdr + s->hdrlen, buf, n);
	s->hdrlen += n;
	/*
	 * Scan when an empty line may have arrived, or when the header has doubled
	 * since the last scan: linear overall, even for a header sent a byte at a time.
	 */
	size_t from = s->hdrlen - n >= 3 ? s->hdrlen - n - 3 : 0;
	if (memmem(s->hdr + from, s->hdrlen - from, "\r\n\r\n", 4) == NULL &&
	    s->hdrlen < s->hdrscan && from > 0)
		return;
	s->hdrscan = s->hdrlen * 2;
	rewrite_scan(s->hdr, s->hdrlen, &ri);
	if (ri.complete)
		smtp_session_begin(s, &ri);
}

/* smtp_session_committed: the spool's answer for the message of this session. */
static void
smtp_session_committed(struct queue_msg *m, int err, void *arg)
{
	struct smtp_session *s = arg;

	s->msg = NULL;
	if (err == 0) {
		log_info("%s: client=%s from=<%s> size=%llu nrcpt=%zu message-id=%s "
		    "status=queued%s", m->id, s->addr, m->sender, (unsigned long long)m->size,
		    m->nrcpt, m->message_id, s->client_gone ? " (client left before 250)" : "");
		for (size_t i = 0; i < m->nrcpt; i++)	/* committed: now it may be told */
			events_emit_rcpt(EVENTS_QUEUED, m, i, NULL, json_pack("{s:o, s:I}",
			    "from", jsonstr_new(m->sender), "size", (json_int_t)m->size));
		if (!s->client_gone)
			smtp_session_reply(s, "250 2.0.0 Ok: queued as %s", m->id);
		scheduler_add(s->srv->sched, m);
	} else {
		log_err("smtp: client=%s message not stored: %s", s->addr,
		    strerror(err));
		if (!s->client_gone)
			smtp_session_reply(s, err == ENOSPC || err == EDQUOT ?
			    "452 4.3.1 Insufficient system storage; try again later" :
			    "451 4.3.0 Local error: the message could not be stored; try again");
		queue_msg_free(m);
	}
	smtp_session_tx_reset(s);
	smtp_session_enter_state(s, SMTP_CMD);
	if (s->client_gone) {
		smtp_session_close(s);
		return;
	}
	if (s->srv->closing || s->expired) {
		/*
		 * Stopping (or out of time): the client has its answer for the message,
		 * so it will not send it again; the session ends with 421 after it.
		 */
		if (s->expired)
			smtp_session_drop(s, "4.4.2", SMTP_EXPIRED);
		else
			smtp_session_drop(s, "4.3.2", "Service shutting down; try again later");
		return;
	}
	bufferevent_enable(s->bev, EV_READ);
	smtp_session_process(s);	/* commands pipelined behind the message */
}

/* smtp_session_eom: the end of data; refuse, or commit and wait for the spool. */
static void
smtp_session_eom(struct smtp_session *s)
{
	struct rewrite_info ri;

	smtp_session_enter_state(s, SMTP_CMD);
	if (s->too_big) {
		smtp_session_error(s, "552 5.3.4 Message too big (the limit is %llu bytes)",
		    s->srv->cfg->max_message_size);
	} else if (s->hdr_too_big) {
		smtp_session_error(s, "552 5.3.4 Message header too large (the limit is %d "
		    "bytes)", REWRITE_HEADER_MAX);
	} else if (s->dr.long_line) {
		smtp_session_error(s, "554 5.6.0 Message refused: a line is longer than 998 "
		    "characters (RFC 5321 4.5.3.1.6); encode long lines (quoted-printable)");
	} else {
		if (!s->begun && !s->store_errno) {
			rewrite_scan(s->hdr ? s->hdr : "", s->hdrlen, &ri);
			smtp_session_begin(s, &ri);
		}
		if (s->store_errno == 0) {
			smtp_session_enter_state(s, SMTP_COMMIT);
			bufferevent_disable(s->bev, EV_READ);
			queue_msg_commit(s->srv->q, s->msg, smtp_session_committed, s);
			return;
		}
		smtp_session_error(s, s->store_errno == ENOSPC || s->store_errno == EDQUOT ?
		    "452 4.3.1 Insufficient system storage; try again later" :
		    "451 4.3.0 Local error: the message could not be stored; try again");
	}
	smtp_session_tx_reset(s);
}

/* smtp_session_data: feed buffered input to the DATA reader. */
static void
smtp_session_data(struct smtp_session *s)
{
	static char out[SMTP_DATA_CHUNK];
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_iovec v;

	while (s->state == SMTP_DATA && evbuffer_peek(in, -1, NULL, &v, 1) > 0) {
		size_t n = v.iov_len < sizeof(out) ? v.iov_len : sizeof(out), outlen, used;
		enum smtp_data_status st;

		st = smtp_data_feed(&s->dr, v.iov_base, n, out, &outlen, &used);
		smtp_session_data_out(s, out, outlen);
		evbuffer_drain(in, used);
		if (st == SMTP_DATA_END)
			smtp_session_eom(s);
		else if (st == SMTP_DATA_BAD_EOL) {
			/*
			 * A bare CR or LF: where this message ends is ambiguous (SMTP
			 * smuggling), so nothing of it is kept and the session ends.
			 */
			log_warn("smtp: client=%s sent a bare CR or LF in DATA; message "
			    "refused, connection closed", s->addr);
			smtp_session_tx_reset(s);
			smtp_session_reply(s, "521 5.5.2 Error: bare CR or LF in message "
			    "(RFC 5321 2.3.8); closing");
			evbuffer_drain(in, evbuffer_get_length(in));
			smtp_session_enter_state(s, SMTP_QUIT);
		}
	}
}

/* smtp_session_process: act on buffered input as far as the state allows. */
static void
smtp_session_process(struct smtp_session *s)
{
	struct evbuffer *in;
	const char *challenge = NULL;
	char *line;
	size_t len;

	for (;;) {
		if (s->state == SMTP_DATA) {
			smtp_session_data(s);
			if (s->state == SMTP_DATA)
				return;		/* needs more input */
			continue;
		}
		if (s->state != SMTP_CMD && s->state != SMTP_AUTH)
			return;
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) > SMTP_OUT_MAX) {
			/* The client does not read its replies: wait until it does. */
			s->out_paused = 1;
			bufferevent_disable(s->bev, EV_READ);
			return;
		}
		in = bufferevent_get_input(s->bev);	/* a new one after STARTTLS */
		if ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) == NULL) {
			/* AUTH answers may be longer than commands (RFC 4954 4: 12288). */
			if (evbuffer_get_length(in) > (s->state == SMTP_AUTH ? 12288 :
			    SMTP_LINE_MAX)) {
				smtp_session_reply(s, "500 5.5.2 Error: line too long; closing");
				evbuffer_drain(in, evbuffer_get_length(in));
				smtp_session_enter_state(s, SMTP_QUIT);
			}
			return;
		}
		if (s->state == SMTP_AUTH)
			smtp_session_auth_result(s, smtp_auth_step(s->auth, line, &challenge),
			    challenge);
		else
			smtp_session_command(s, line, len);
		explicit_bzero(line, len);	/* it may have been a password */
		free(line);
	}
}

static void
smtp_session_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	/* The most recently heard from goes last: the first is the longest idle. */
	if (TAILQ_NEXT(s, entry) != NULL) {
		TAILQ_REMOVE(&s->srv->sessions, s, entry);
		TAILQ_INSERT_TAIL(&s->srv->sessions, s, entry);
	}
	if (s->state == SMTP_QUIT) {	/* said goodbye: ignore the rest */
		evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	smtp_session_process(s);
}

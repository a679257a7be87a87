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
 *
 * This file is the session's life (states, timeouts, replies, admission, closing);
 * the conversation (commands, DATA, reading input) is smtp_session_cmd.c's.
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
#include "smtp_session_int.h"
#include "xmalloc.h"


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
void
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
void
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
void __attribute__((format(printf, 2, 3)))
smtp_session_reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtp_session_vreply(s, fmt, ap);
	va_end(ap);
}

/* smtp_session_error: a 4xx/5xx reply; too many of them end the session. */
void __attribute__((format(printf, 2, 3)))
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
void
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
void
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
void
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
void
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
void
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
const char *
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

void
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

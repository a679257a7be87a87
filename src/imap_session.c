/*
 * imap_session: the IMAP client that watches one account's mailbox for bounces
 * (imap_watch starts one per account with a "bounces" group).
 *
 * An explicit state machine like upstream.c: imap_session_enter_state records every
 * transition and sets the state's timeout (how long the server may stay silent) from
 * one table; imap_session_send enters a state and writes its command;
 * imap_session_tagged reads the tagged reply and chooses the next state (OpenSMTPD's
 * mta_enter_state / mta_response split). Responses are framed here and read by the
 * pure imap_parse; the connection is conn.c's, the login's commands imap_login.c's.
 *
 * The conversation: connect (implicit TLS, or STARTTLS before anything else; the
 * certificate and host name checked by tls.c), CAPABILITY, AUTHENTICATE with the
 * account's OAuth token, AUTHENTICATE PLAIN (with SASL-IR when offered) or LOGIN,
 * CREATE move_to (if set; "already exists" is fine), SELECT folder, UID FETCH
 * last+1:* (UID BODY.PEEK[]) so nothing is marked \Seen, each message through
 * bounce_parse into bounce_store, the delivery reports moved to move_to (UID MOVE, or
 * UID COPY + STORE \Deleted + UID EXPUNGE), then IDLE (RFC 2177; ended and re-issued
 * every 25 minutes, before the 29-minute limit) or a poll every cfg->poll seconds. A
 * dropped or refused connection is retried with a growing delay (1 s doubling to
 * 5 min; 5 min at once after a refused password).
 *
 * What has been read survives restarts in SPOOL/imap/ACCOUNT (imap_mailbox.c has
 * the format). It is written after each FETCH, once the bounces it found are on
 * disk, so a crash can only make relayd read a message again; bounce_store ignores
 * what it already has (by a digest of the message), so nothing is counted twice. On
 * the first contact with a mailbox (no state, another folder, or a new UIDVALIDITY)
 * the messages already there are left alone and watching starts at UIDNEXT.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <event2/buffer.h>
#include <event2/util.h>

#include "bounce_parse.h"
#include "bounce_store.h"
#include "clock.h"
#include "config.h"
#include "conn.h"
#include "imap_login.h"
#include "imap_mailbox.h"
#include "imap_parse.h"
#include "imap_session.h"
#include "log.h"
#include "oauth.h"
#include "tls.h"
#include "xmalloc.h"

#define IMAP_WATCH_LINE_MAX	(64 * 1024)		/* one response line */
#define IMAP_WATCH_FRAME_MAX	(32 * 1024 * 1024)	/* one response, literals in */
#define IMAP_WATCH_IDLE_RENEW	(25 * 60)	/* RFC 2177: re-issue before 29 minutes */
#define IMAP_WATCH_BACKOFF_MIN	1
#define IMAP_WATCH_BACKOFF_MAX	300
#define IMAP_WATCH_AUTH_BACKOFF	300	/* after a refused login: logins get accounts blocked */
#define IMAP_WATCH_MOVE_MAX	500	/* UIDs moved per command */
#define IMAP_WATCH_PEEK_MAX	(8 * 1024 * 1024)	/* octets of a message fetched */

enum imap_state {
	IMAP_S_INIT,
	IMAP_S_RESOLVE,
	IMAP_S_CONNECT,
	IMAP_S_TLS,		/* TLS handshake (implicit, or after STARTTLS) */
	IMAP_S_GREETING,
	IMAP_S_CAPABILITY,
	IMAP_S_STARTTLS,
	IMAP_S_AUTH,		/* AUTHENTICATE PLAIN or LOGIN */
	IMAP_S_CREATE,		/* CREATE move_to */
	IMAP_S_SELECT,
	IMAP_S_FETCH,
	IMAP_S_MOVE,		/* UID MOVE, or UID COPY */
	IMAP_S_STORE,		/* UID STORE +FLAGS.SILENT (\Deleted) after COPY */
	IMAP_S_EXPUNGE,		/* UID EXPUNGE after STORE */
	IMAP_S_IDLE,		/* IDLE running: waiting for news */
	IMAP_S_DONE,		/* DONE sent: waiting for IDLE's tagged reply */
	IMAP_S_POLL,		/* no IDLE: waiting for the poll timer */
	IMAP_S_BACKOFF,		/* disconnected: waiting to reconnect */
	IMAP_S_NSTATES
};

/*
 * Per-state timeouts in seconds: how long the server may stay silent (0: no limit,
 * a timer of the session's decides). In IDLE the server is silent until news or its
 * keep-alives; the re-issue timer ends IDLE well before this fires.
 */
static const int imap_timeouts[] = {
	[IMAP_S_INIT] = 0,
	[IMAP_S_RESOLVE] = 0,		/* evdns has its own */
	[IMAP_S_CONNECT] = 30,
	[IMAP_S_TLS] = 60,
	[IMAP_S_GREETING] = 60,
	[IMAP_S_CAPABILITY] = 60,
	[IMAP_S_STARTTLS] = 60,
	[IMAP_S_AUTH] = 120,
	[IMAP_S_CREATE] = 60,
	[IMAP_S_SELECT] = 120,
	[IMAP_S_FETCH] = 300,
	[IMAP_S_MOVE] = 120,
	[IMAP_S_STORE] = 120,
	[IMAP_S_EXPUNGE] = 120,
	[IMAP_S_IDLE] = IMAP_WATCH_IDLE_RENEW + 5 * 60,
	[IMAP_S_DONE] = 60,
	[IMAP_S_POLL] = 0,
	[IMAP_S_BACKOFF] = 0,
};
_Static_assert(sizeof(imap_timeouts) / sizeof(imap_timeouts[0]) == IMAP_S_NSTATES,
    "a timeout for every state");

static const char *const imap_state_names[] = {
	[IMAP_S_INIT] = "init", [IMAP_S_RESOLVE] = "resolve", [IMAP_S_CONNECT] = "connect",
	[IMAP_S_TLS] = "tls", [IMAP_S_GREETING] = "greeting",
	[IMAP_S_CAPABILITY] = "capability", [IMAP_S_STARTTLS] = "starttls",
	[IMAP_S_AUTH] = "auth", [IMAP_S_CREATE] = "create", [IMAP_S_SELECT] = "select",
	[IMAP_S_FETCH] = "fetch", [IMAP_S_MOVE] = "move", [IMAP_S_STORE] = "store",
	[IMAP_S_EXPUNGE] = "expunge", [IMAP_S_IDLE] = "idle", [IMAP_S_DONE] = "done",
	[IMAP_S_POLL] = "poll", [IMAP_S_BACKOFF] = "backoff",
};
_Static_assert(sizeof(imap_state_names) / sizeof(imap_state_names[0]) == IMAP_S_NSTATES,
    "a name for every state");

/* The server's capabilities that change what we send. */
struct imap_caps {
	int	known;
	int	idle, move, uidplus, sasl_ir, auth_plain, login_disabled, starttls;
	int	auth_xoauth2, auth_oauthbearer;
};

struct imap_session {
	struct bounce_store	*store;
	const char		*account;	/* the account's name */
	struct config_imap	*cfg;
	enum imap_state		 state;

	struct conn		*conn;		/* conn_peer names it: host[address]:port */
	char			 lasterr[512];	/* the server's BYE */
	int			 authed;

	struct event		*timer;		/* backoff, poll, IDLE re-issue */
	struct event		*reset_ev;	/* deferred teardown of the connection */
	int			 backoff;	/* seconds before the next reconnect */

	unsigned		 tagn;
	char			 tag[16];	/* of the command in flight */
	size_t			 scan;		/* framing: octets of the response seen */
	size_t			 frame;		/* octets of the response being handled */
	uint64_t		 lit;		/* framing: literal octets still to come */
	struct imap_caps	 caps;
	struct imap_login	 login;		/* in IMAP_S_AUTH */

	/* The mailbox. */
	char			*folder_q, *move_to_q;	/* as sent: quoted, modified UTF-7 */
	char			*statepath;
	uint32_t		 uidvalidity, last_uid;	/* as saved */
	int			 have_state;
	uint32_t		 sel_uidvalidity, sel_uidnext, exists;
	int			 news;		/* new mail announced while busy */
	int			 store_failed;	/* a bounce could not be recorded */
	uint32_t		 fetched_uid;	/* highest UID processed in this FETCH */
	uint32_t		*tomove;
	size_t			 ntomove, capmove, nmoving;

	/* Health, for status and metrics (imap_session_health). */
	double			 last_ok;	/* wall clock of the last complete check */
	double			 last_err_at;	/* and of the last failure */
	char			 last_err[256];
};

static void imap_session_enter_state(struct imap_session *, enum imap_state);
static void imap_session_fail(struct imap_session *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static void imap_session_wait(struct imap_session *);
static void imap_session_send(struct imap_session *, enum imap_state);
static conn_cb imap_session_conn_event;

const char *
imap_session_state_name(int s)
{
	return s >= 0 && s < IMAP_S_NSTATES ? imap_state_names[s] : "?";
}

/* imap_session_enter_state: the one place a session changes state. */
static void
imap_session_enter_state(struct imap_session *s, enum imap_state st)
{
	log_debug("imap: account=%s server=%s state %s -> %s", s->account, conn_peer(s->conn),
	    imap_session_state_name(s->state), imap_session_state_name(st));
	s->state = st;
	conn_set_timeout(s->conn, imap_timeouts[st]);
}

/* imap_session_cmd: send a tagged command (the tag is remembered for the reply). */
static void __attribute__((format(printf, 2, 3)))
imap_session_cmd(struct imap_session *s, const char *fmt, ...)
{
	struct evbuffer *out = conn_output(s->conn);
	va_list ap;

	snprintf(s->tag, sizeof(s->tag), "A%u", ++s->tagn);
	evbuffer_add_printf(out, "%s ", s->tag);
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

/* imap_session_save_state: write the position durably. Returns 0 or -1 (logged). */
static int
imap_session_save_state(struct imap_session *s)
{
	if (imap_mailbox_save(s->statepath, s->account, s->cfg->folder, s->uidvalidity,
	    s->last_uid) == -1)
		return -1;
	s->have_state = 1;
	return 0;
}

/* ---- connection --------------------------------------------------------------------- */

/* imap_session_drop: free the connection (never from inside its callbacks). */
static void
imap_session_drop(struct imap_session *s)
{
	conn_close(s->conn);
	s->authed = 0;
	s->scan = 0;
	s->lit = 0;
	s->caps = (struct imap_caps){ 0 };
	s->ntomove = s->nmoving = 0;
}

/* imap_session_reset_cb: after a failure: drop the connection, wait, reconnect. */
static void
imap_session_reset_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct imap_session *s = arg;
	struct timeval tv = { .tv_sec = s->backoff };

	imap_session_drop(s);
	evtimer_add(s->timer, &tv);
	s->backoff = s->backoff * 2 > IMAP_WATCH_BACKOFF_MAX ? IMAP_WATCH_BACKOFF_MAX :
	    s->backoff * 2;
}

/*
 * imap_session_fail: the session cannot go on: log why, and reconnect after the
 * backoff. The connection is torn down from the loop, not from this call chain.
 */
static void
imap_session_fail(struct imap_session *s, const char *fmt, ...)
{
	char why[600];
	va_list ap;

	if (s->state == IMAP_S_BACKOFF)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(s->last_err, sizeof(s->last_err), "%.255s", why);
	s->last_err_at = clock_now();
	log_warn("imap: account=%s server=%s state=%s: %s; reconnecting in %ds", s->account,
	    conn_peer(s->conn), imap_session_state_name(s->state), why, s->backoff);
	conn_disable(s->conn);
	evtimer_del(s->timer);
	imap_session_enter_state(s, IMAP_S_BACKOFF);
	event_active(s->reset_ev, 0, 0);
}

/* imap_session_timer_cb: the session's timer: poll, re-issue IDLE, or reconnect. */
static void
imap_session_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct imap_session *s = arg;

	switch (s->state) {
	case IMAP_S_POLL:
		imap_session_send(s, IMAP_S_FETCH);
		return;
	case IMAP_S_IDLE:	/* RFC 2177: end IDLE before the server's 29 minutes */
		imap_session_send(s, IMAP_S_DONE);
		return;
	case IMAP_S_INIT:
	case IMAP_S_BACKOFF:
		break;		/* (re)connect */
	default:
		return;
	}
	s->lasterr[0] = '\0';
	conn_open(s->conn);
}

/* ---- the conversation --------------------------------------------------------------- */

/* imap_session_caps: remember what a CAPABILITY list says. */
static void
imap_session_caps(struct imap_session *s, const struct imap_span *list)
{
	struct imap_caps *c = &s->caps;

	c->known = 1;
	c->idle = imap_parse_has_cap(list, "IDLE");
	c->move = imap_parse_has_cap(list, "MOVE");
	c->uidplus = imap_parse_has_cap(list, "UIDPLUS");
	c->sasl_ir = imap_parse_has_cap(list, "SASL-IR");
	c->auth_plain = imap_parse_has_cap(list, "AUTH=PLAIN");
	c->login_disabled = imap_parse_has_cap(list, "LOGINDISABLED");
	c->starttls = imap_parse_has_cap(list, "STARTTLS");
	c->auth_xoauth2 = imap_parse_has_cap(list, "AUTH=XOAUTH2");
	c->auth_oauthbearer = imap_parse_has_cap(list, "AUTH=OAUTHBEARER");
}

/* imap_session_send_uids: "TAG UID VERB 3,7,9" for the batch being moved, and rest. */
static void
imap_session_send_uids(struct imap_session *s, const char *verb, const char *rest)
{
	struct evbuffer *out = conn_output(s->conn);

	s->nmoving = s->ntomove < IMAP_WATCH_MOVE_MAX ? s->ntomove : IMAP_WATCH_MOVE_MAX;
	snprintf(s->tag, sizeof(s->tag), "A%u", ++s->tagn);
	evbuffer_add_printf(out, "%s UID %s ", s->tag, verb);
	for (size_t i = 0; i < s->nmoving; i++)
		evbuffer_add_printf(out, "%s%" PRIu32, i ? "," : "", s->tomove[i]);
	evbuffer_add_printf(out, "%s\r\n", rest);
}

/*
 * imap_session_send: enter state st and write its command (the mta_enter_state half;
 * imap_session_tagged reads the reply). States without a command (connection set-up,
 * backoff) are entered with imap_session_enter_state alone.
 */
static void
imap_session_send(struct imap_session *s, enum imap_state st)
{
	struct timeval tv = { 0 };

	imap_session_enter_state(s, st);
	switch (st) {
	case IMAP_S_CAPABILITY:
		s->caps = (struct imap_caps){ 0 };
		imap_session_cmd(s, "CAPABILITY");
		break;
	case IMAP_S_STARTTLS:
		imap_session_cmd(s, "STARTTLS");
		break;
	case IMAP_S_AUTH: {
		char why[300], *cmd = imap_login_command(&s->login, s->cfg, s->account,
		    s->caps.sasl_ir, s->caps.auth_plain, why, sizeof(why));

		if (cmd == NULL) {
			imap_session_fail(s, "%s", why);
			break;
		}
		imap_session_cmd(s, "%s", cmd);
		explicit_bzero(cmd, strlen(cmd));
		free(cmd);
		break;
	}
	case IMAP_S_CREATE:
		imap_session_cmd(s, "CREATE %s", s->move_to_q);
		break;
	case IMAP_S_SELECT:
		s->sel_uidvalidity = s->sel_uidnext = s->exists = 0;
		imap_session_cmd(s, "SELECT %s", s->folder_q);
		break;
	case IMAP_S_FETCH:
		/* BODY.PEEK: nothing is marked \Seen; the start of a huge message will do. */
		evtimer_del(s->timer);
		s->news = 0;
		s->store_failed = 0;
		s->fetched_uid = s->last_uid;
		imap_session_cmd(s, "UID FETCH %" PRIu32 ":* (UID BODY.PEEK[]<0.%d>)",
		    s->last_uid + 1, IMAP_WATCH_PEEK_MAX);
		break;
	case IMAP_S_MOVE: {		/* RFC 6851 MOVE, else COPY and then STORE, EXPUNGE */
		char *rest = xasprintf(" %s", s->move_to_q);

		imap_session_send_uids(s, s->caps.move ? "MOVE" : "COPY", rest);
		free(rest);
		break;
	}
	case IMAP_S_STORE:
		imap_session_send_uids(s, "STORE", " +FLAGS.SILENT (\\Deleted)");
		break;
	case IMAP_S_EXPUNGE:		/* RFC 4315 UID EXPUNGE: only what we copied */
		imap_session_send_uids(s, "EXPUNGE", "");
		break;
	case IMAP_S_IDLE:
		imap_session_cmd(s, "IDLE");
		tv.tv_sec = IMAP_WATCH_IDLE_RENEW;
		evtimer_add(s->timer, &tv);
		break;
	case IMAP_S_DONE:
		evtimer_del(s->timer);
		evbuffer_add(conn_output(s->conn), "DONE\r\n", 6);
		break;
	case IMAP_S_POLL:
		tv.tv_sec = s->cfg->poll;
		evtimer_add(s->timer, &tv);
		break;
	default:
		break;
	}
}

/* imap_session_proceed: the capabilities are known: STARTTLS, log in, or select. */
static void
imap_session_proceed(struct imap_session *s)
{
	if (s->cfg->tls == CONFIG_TLS_STARTTLS && !conn_tls_up(s->conn)) {
		if (!s->caps.starttls) {
			imap_session_fail(s, "the server does not offer STARTTLS; nothing is sent "
			    "in clear");
			return;
		}
		imap_session_send(s, IMAP_S_STARTTLS);
		return;
	}
	if (!s->authed) {
		const char *mech = imap_login_oauth_mech(s->cfg);

		if (s->cfg->tls != CONFIG_TLS_NONE && !conn_tls_up(s->conn))
			imap_session_fail(s, "refusing to log in without TLS");
		else if (mech != NULL && !(s->cfg->auth == CONFIG_AUTH_XOAUTH2 ?
		    s->caps.auth_xoauth2 : s->caps.auth_oauthbearer))
			imap_session_fail(s, "the server does not offer AUTH=%s", mech);
		else if (mech == NULL && !s->caps.auth_plain && s->caps.login_disabled)
			imap_session_fail(s, "the server offers neither AUTH=PLAIN nor LOGIN");
		else
			imap_session_send(s, IMAP_S_AUTH);
		return;
	}
	imap_session_send(s, s->move_to_q != NULL ? IMAP_S_CREATE : IMAP_S_SELECT);
}

/* imap_session_digest: the notification's key for bounce_store (SHA-256, 32 hex). */
static void
imap_session_digest(const char *p, size_t len, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* imap_session_message: one fetched message: parse it and record what it says. */
static void
imap_session_message(struct imap_session *s, uint32_t uid, const struct imap_span *body)
{
	struct bounce_report r;
	char key[33];
	int n;

	if (s->store_failed || uid <= s->last_uid)
		return;
	imap_session_digest(body->p ? body->p : "", body->len, key);
	bounce_parse(body->p ? body->p : "", body->len, &r);
	n = r.type == BOUNCE_FAILURE ? bounce_store_report(s->store, s->account, key, &r) : 0;
	if (n == -1) {
		s->store_failed = 1;	/* read it again later; nothing past it counts */
		bounce_report_clear(&r);
		return;
	}
	log_info("imap: account=%s folder=%s uid=%" PRIu32 " type=%s recipients=%zu "
	    "recorded=%d", s->account, s->cfg->folder, uid, bounce_parse_type_name(r.type),
	    r.nrcpts, n);
	/* Only delivery reports move: auto-replies may be people writing back. */
	if (s->cfg->move_to != NULL && (r.type == BOUNCE_FAILURE || r.type == BOUNCE_DELAY ||
	    r.type == BOUNCE_DELIVERED)) {
		if (s->ntomove == s->capmove) {
			s->capmove = s->capmove ? s->capmove * 2 : 16;
			s->tomove = xreallocarray(s->tomove, s->capmove, sizeof(*s->tomove));
		}
		s->tomove[s->ntomove++] = uid;
	}
	if (uid > s->fetched_uid)
		s->fetched_uid = uid;
	bounce_report_clear(&r);
}

/* imap_session_moved: the current batch is moved (or given up on): the next, or wait. */
static void
imap_session_moved(struct imap_session *s)
{
	memmove(s->tomove, s->tomove + s->nmoving, (s->ntomove - s->nmoving) *
	    sizeof(*s->tomove));
	s->ntomove -= s->nmoving;
	s->nmoving = 0;
	if (s->ntomove > 0) {
		imap_session_send(s, IMAP_S_MOVE);
		return;
	}
	imap_session_wait(s);
}

/* imap_session_wait: nothing to do: fetch again if mail came, else IDLE or poll. */
static void
imap_session_wait(struct imap_session *s)
{
	s->last_ok = clock_now();	/* the mailbox is read up to now */
	imap_session_send(s, s->news ? IMAP_S_FETCH : s->caps.idle ? IMAP_S_IDLE :
	    IMAP_S_POLL);
}

/* imap_session_selected: SELECT succeeded: settle where to start, then fetch. */
static void
imap_session_selected(struct imap_session *s)
{
	if (s->sel_uidvalidity == 0) {
		imap_session_fail(s, "SELECT %s gave no UIDVALIDITY", s->cfg->folder);
		return;
	}
	if (!s->have_state || s->uidvalidity != s->sel_uidvalidity) {
		uint32_t start = s->sel_uidnext > 0 ? s->sel_uidnext - 1 : 0;

		log_info("imap: account=%s folder=%s first contact (uidvalidity %" PRIu32
		    "%s): the %" PRIu32 " message(s) there are left alone; watching from uid "
		    "%" PRIu32, s->account, s->cfg->folder, s->sel_uidvalidity,
		    s->have_state ? ", changed" : "", s->exists, start + 1);
		s->uidvalidity = s->sel_uidvalidity;
		s->last_uid = start;
		if (imap_session_save_state(s) == -1) {
			imap_session_fail(s, "cannot save the mailbox state");
			return;
		}
	}
	s->backoff = IMAP_WATCH_BACKOFF_MIN;
	log_info("imap: account=%s server=%s folder=%s selected: uidvalidity=%" PRIu32
	    " last-uid=%" PRIu32 " messages=%" PRIu32 " wait=%s", s->account, conn_peer(s->conn),
	    s->cfg->folder, s->uidvalidity, s->last_uid, s->exists,
	    s->caps.idle ? "idle" : "poll");
	imap_session_send(s, IMAP_S_FETCH);
}

/* imap_session_fetched: the FETCH is complete: save progress, move, wait. */
static void
imap_session_fetched(struct imap_session *s)
{
	if (s->store_failed) {
		imap_session_fail(s, "a bounce could not be recorded; will read it again");
		return;
	}
	if (s->fetched_uid != s->last_uid) {
		uint32_t old = s->last_uid;

		s->last_uid = s->fetched_uid;
		if (imap_session_save_state(s) == -1) {
			s->last_uid = old;
			imap_session_fail(s, "cannot save the mailbox state");
			return;
		}
	}
	if (s->ntomove > 0) {
		imap_session_send(s, IMAP_S_MOVE);
		return;
	}
	imap_session_wait(s);
}

/* imap_session_tagged: the reply to the command in flight; choose the next state. */
static void
imap_session_tagged(struct imap_session *s, const struct imap_response *r)
{
	int ok = r->status == IMAP_ST_OK;
	char text[200];

	snprintf(text, sizeof(text), "%s %s%s%s%.*s", imap_parse_status_name(r->status),
	    r->code[0] ? "[" : "", r->code, r->code[0] ? "] " : "",
	    (int)(r->text.len > 150 ? 150 : r->text.len), r->text.p ? r->text.p : "");
	if (strcmp(r->tag, s->tag) != 0) {
		imap_session_fail(s, "reply with an unknown tag %s: %s", r->tag, text);
		return;
	}
	s->tag[0] = '\0';
	switch (s->state) {
	case IMAP_S_CAPABILITY:
		if (!ok || !s->caps.known) {
			imap_session_fail(s, "CAPABILITY failed: %s", text);
			return;
		}
		imap_session_proceed(s);
		break;
	case IMAP_S_STARTTLS:
		if (!ok) {
			imap_session_fail(s, "STARTTLS refused: %s; nothing is sent in clear", text);
			return;
		}
		if (evbuffer_get_length(conn_input(s->conn)) > s->frame) {
			imap_session_fail(s, "the server sent data after its STARTTLS reply "
			    "(response injection?)");
			return;
		}
		s->caps = (struct imap_caps){ 0 };
		s->scan = 0;
		evbuffer_drain(conn_input(s->conn), (size_t)-1);
		conn_starttls(s->conn);
		break;
	case IMAP_S_AUTH:
		if (!ok) {
			/* A refused token: refreshed once, tried again at the next connect. */
			if (imap_login_oauth_mech(s->cfg) != NULL && oauth_rejected(s->account))
				s->backoff = 1;
			else if (s->backoff < IMAP_WATCH_AUTH_BACKOFF)
				s->backoff = IMAP_WATCH_AUTH_BACKOFF;
			imap_session_fail(s, "login as %s failed: %s", s->cfg->username, text);
			return;
		}
		s->authed = 1;
		if (imap_login_oauth_mech(s->cfg) != NULL)
			oauth_accepted(s->account);
		log_info("imap: account=%s server=%s logged in as %s", s->account, conn_peer(s->conn),
		    s->cfg->username);
		if (strcmp(r->code, "CAPABILITY") == 0)
			imap_session_caps(s, &r->code_arg);
		else
			s->caps.known = 0;
		if (!s->caps.known) {	/* capabilities change after login */
			imap_session_send(s, IMAP_S_CAPABILITY);
			return;
		}
		imap_session_proceed(s);
		break;
	case IMAP_S_CREATE:
		/* NO is expected: the folder exists ([ALREADYEXISTS], RFC 5530). */
		if (ok)
			log_info("imap: account=%s created folder %s", s->account,
			    s->cfg->move_to);
		imap_session_send(s, IMAP_S_SELECT);
		break;
	case IMAP_S_SELECT:
		if (!ok) {
			imap_session_fail(s, "SELECT %s failed: %s", s->cfg->folder, text);
			return;
		}
		imap_session_selected(s);
		break;
	case IMAP_S_FETCH:
		if (!ok) {
			imap_session_fail(s, "UID FETCH failed: %s", text);
			return;
		}
		imap_session_fetched(s);
		break;
	case IMAP_S_MOVE:
		if (!ok) {
			log_warn("imap: account=%s cannot move %zu notification(s) to %s: %s",
			    s->account, s->nmoving, s->cfg->move_to, text);
			imap_session_moved(s);	/* they stay; they are not read again */
			return;
		}
		if (s->caps.move) {
			log_info("imap: account=%s moved %zu notification(s) to %s", s->account,
			    s->nmoving, s->cfg->move_to);
			imap_session_moved(s);
			return;
		}
		imap_session_send(s, IMAP_S_STORE);
		break;
	case IMAP_S_STORE:
		if (!ok || !s->caps.uidplus) {
			/* Without UIDPLUS an EXPUNGE would take the user's deleted mail too. */
			if (!ok)
				log_warn("imap: account=%s cannot flag copied notifications: %s",
				    s->account, text);
			imap_session_moved(s);
			return;
		}
		imap_session_send(s, IMAP_S_EXPUNGE);
		break;
	case IMAP_S_EXPUNGE:
		if (ok)
			log_info("imap: account=%s moved %zu notification(s) to %s", s->account,
			    s->nmoving, s->cfg->move_to);
		imap_session_moved(s);
		break;
	case IMAP_S_IDLE:	/* the server ended IDLE on its own */
	case IMAP_S_DONE:
		if (!ok) {
			imap_session_fail(s, "IDLE failed: %s", text);
			return;
		}
		imap_session_send(s, IMAP_S_FETCH);
		break;
	default:
		imap_session_fail(s, "unexpected reply in state %s: %s",
		    imap_session_state_name(s->state), text);
		break;
	}
}

/* imap_session_untagged: data the server sends in any state. */
static void
imap_session_untagged(struct imap_session *s, const struct imap_response *r)
{
	if (r->status == IMAP_ST_BYE) {
		snprintf(s->lasterr, sizeof(s->lasterr), "BYE %.*s",
		    (int)(r->text.len > 200 ? 200 : r->text.len), r->text.p ? r->text.p : "");
		if (s->state == IMAP_S_GREETING)
			imap_session_fail(s, "the server refused the connection: %s", s->lasterr);
		return;
	}
	if (strcmp(r->code, "CAPABILITY") == 0)
		imap_session_caps(s, &r->code_arg);
	else if (strcmp(r->keyword, "CAPABILITY") == 0 && !r->has_number)
		imap_session_caps(s, &r->rest);
	if (s->state == IMAP_S_GREETING) {
		if (r->status == IMAP_ST_PREAUTH)
			s->authed = 1;	/* logged in already (RFC 3501 7.1.4) */
		else if (r->status != IMAP_ST_OK) {
			imap_session_fail(s, "unexpected greeting");
			return;
		}
		if (!s->caps.known)
			imap_session_send(s, IMAP_S_CAPABILITY);
		else
			imap_session_proceed(s);
		return;
	}
	if (s->state == IMAP_S_SELECT && r->status == IMAP_ST_OK) {
		unsigned long v = r->code_arg.p ? strtoul(r->code_arg.p, NULL, 10) : 0;

		if (strcmp(r->code, "UIDVALIDITY") == 0 && v <= UINT32_MAX)
			s->sel_uidvalidity = (uint32_t)v;
		else if (strcmp(r->code, "UIDNEXT") == 0 && v <= UINT32_MAX)
			s->sel_uidnext = (uint32_t)v;
		return;
	}
	if (!r->has_number)
		return;
	if (strcmp(r->keyword, "EXISTS") == 0) {
		if (r->number > s->exists && s->state != IMAP_S_SELECT)
			s->news = 1;
		s->exists = r->number;
		if (s->news && s->state == IMAP_S_IDLE)
			imap_session_send(s, IMAP_S_DONE);
	} else if (strcmp(r->keyword, "EXPUNGE") == 0 && s->exists > 0)
		s->exists--;
	else if (strcmp(r->keyword, "FETCH") == 0 && s->state == IMAP_S_FETCH &&
	    r->uid != 0 && r->has_body)
		imap_session_message(s, r->uid, &r->body);
}

/* imap_session_continue: a "+" from the server. */
static void
imap_session_continue(struct imap_session *s, const struct imap_response *r)
{
	if (s->state == IMAP_S_IDLE)
		return;		/* "+ idling" */
	if (s->state == IMAP_S_AUTH) {
		char why[300], *line = imap_login_continue(&s->login, s->cfg, s->account,
		    s->caps.auth_plain, why, sizeof(why));

		if (line == NULL) {
			imap_session_fail(s, "%s", why);
			return;
		}
		evbuffer_add_printf(conn_output(s->conn), "%s\r\n", line);
		explicit_bzero(line, strlen(line));
		free(line);
		return;
	}
	imap_session_fail(s, "unexpected continuation request in state %s",
	    imap_session_state_name(s->state));
}

/*
 * imap_session_frame: the length of the next complete response in the input, or 0.
 * Literals are skipped as they arrive, so a large message is scanned once.
 */
static size_t
imap_session_frame(struct imap_session *s, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in);

	for (;;) {
		struct evbuffer_ptr p, eol;
		size_t eollen, linelen, taillen;
		char tail[24];
		uint64_t lit;
		int r;

		if (s->lit > 0) {
			if (len - s->scan < s->lit)
				return 0;
			s->scan += (size_t)s->lit;
			s->lit = 0;
		}
		evbuffer_ptr_set(in, &p, s->scan, EVBUFFER_PTR_SET);
		eol = evbuffer_search_eol(in, &p, &eollen, EVBUFFER_EOL_CRLF);
		if (eol.pos == -1) {
			if (len - s->scan > IMAP_WATCH_LINE_MAX)
				imap_session_fail(s, "the server sent an overlong line");
			return 0;
		}
		linelen = (size_t)eol.pos - s->scan;
		taillen = linelen < sizeof(tail) ? linelen : sizeof(tail);
		evbuffer_ptr_set(in, &p, (size_t)eol.pos - taillen, EVBUFFER_PTR_SET);
		evbuffer_copyout_from(in, &p, tail, taillen);
		r = imap_parse_literal(tail, taillen, &lit);
		if (r == -1 || (r == 1 && (size_t)eol.pos + eollen + lit > IMAP_WATCH_FRAME_MAX)) {
			imap_session_fail(s, "the server announced a literal too large to take");
			return 0;
		}
		s->scan = (size_t)eol.pos + eollen;
		if (r == 0) {
			size_t n = s->scan;

			s->scan = 0;
			return n;
		}
		s->lit = lit;
	}
}

/* imap_session_read: act on each complete response. */
static void
imap_session_read(struct imap_session *s)
{
	struct evbuffer *in;
	struct imap_response r;
	size_t n;

	/* (After STARTTLS the handshake comes first: IMAP_S_TLS.) */
	while (s->state != IMAP_S_BACKOFF && s->state != IMAP_S_TLS) {
		in = conn_input(s->conn);
		if ((n = imap_session_frame(s, in)) == 0)
			return;
		const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
		if (imap_parse_response(buf, n, &r) == -1) {
			imap_session_fail(s, "malformed response: %.*s", (int)(n > 80 ? 80 : n),
			    buf);
			return;
		}
		s->frame = n;
		switch (r.kind) {
		case IMAP_TAGGED:
			imap_session_tagged(s, &r);
			break;
		case IMAP_UNTAGGED:
			imap_session_untagged(s, &r);
			break;
		case IMAP_CONTINUE:
			imap_session_continue(s, &r);
			break;
		}
		/* A STARTTLS reply drained the input; TLS has a new one. */
		if (s->state != IMAP_S_BACKOFF && s->state != IMAP_S_TLS &&
		    evbuffer_get_length(in) >= n)
			evbuffer_drain(in, n);
	}
}

/* imap_session_conn_event: what the connection says (conn.h); the session's states. */
static void
imap_session_conn_event(void *arg, enum conn_event e, const char *why)
{
	struct imap_session *s = arg;

	if (s->state == IMAP_S_BACKOFF && e != CONN_RESOLVING)
		return;		/* the old connection, torn down from the loop */
	switch (e) {
	case CONN_RESOLVING:
	case CONN_CONNECTING:
	case CONN_HANDSHAKE:
		imap_session_enter_state(s, e == CONN_RESOLVING ? IMAP_S_RESOLVE :
		    e == CONN_CONNECTING ? IMAP_S_CONNECT : IMAP_S_TLS);
		break;
	case CONN_UP:
		imap_session_enter_state(s, IMAP_S_GREETING);
		break;
	case CONN_TLS_UP:	/* after STARTTLS what was said in clear is forgotten */
		if (s->cfg->tls == CONFIG_TLS_STARTTLS)
			imap_session_send(s, IMAP_S_CAPABILITY);
		else
			imap_session_enter_state(s, IMAP_S_GREETING);
		break;
	case CONN_DATA_IN:
		imap_session_read(s);
		break;
	case CONN_DRAINED:
		break;
	case CONN_E_TIMEOUT:
		imap_session_fail(s, "timeout after %ds in state %s", imap_timeouts[s->state],
		    imap_session_state_name(s->state));
		break;
	case CONN_E_TLS:
		imap_session_fail(s, "%s; nothing was sent", why);
		break;
	case CONN_E_EOF:
	case CONN_E_IO:
		imap_session_fail(s, "%s%s%s", why, s->lasterr[0] ? ": " : "", s->lasterr);
		break;
	default:	/* resolve, connect, TLS set-up */
		imap_session_fail(s, "%s", why);
		break;
	}
}

/* ---- life cycle --------------------------------------------------------------------- */

struct imap_session *
imap_session_new(struct event_base *base, struct evdns_base *dns,
    struct bounce_store *store, struct config_account *a, const char *dir)
{
	struct imap_session *s;
	SSL_CTX *ctx = NULL;
	char *safe, *label;

	char *folder_q = imap_mailbox_quote(a->bounces.folder);
	char *move_to_q = a->bounces.move_to ? imap_mailbox_quote(a->bounces.move_to) : NULL;

	if (folder_q == NULL || (a->bounces.move_to != NULL && move_to_q == NULL)) {
		log_err("imap: account=%s not watching bounces: folder or move_to is not a "
		    "valid mailbox name (UTF-8, no control characters)", a->name);
		free(folder_q);
		free(move_to_q);
		return NULL;
	}
	if (a->bounces.tls != CONFIG_TLS_NONE &&
	    (ctx = tls_client_ctx(a->bounces.ca_file)) == NULL) {
		free(folder_q);
		free(move_to_q);
		log_err("imap: account=%s not watching bounces: no TLS context", a->name);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->store = store;
	s->account = a->name;
	s->cfg = &a->bounces;
	s->folder_q = folder_q;
	s->move_to_q = move_to_q;
	label = xasprintf("imap: account=%s server", a->name);
	s->conn = conn_new(base, dns, s->cfg->host, s->cfg->port,
	    s->cfg->tls == CONFIG_TLS_IMPLICIT, ctx, label, imap_session_conn_event, s);
	free(label);
	SSL_CTX_free(ctx);	/* the conn holds its own reference */
	s->backoff = IMAP_WATCH_BACKOFF_MIN;
	s->state = IMAP_S_INIT;
	/* The account's name as a file name: nothing but [A-Za-z0-9._-]. */
	safe = xstrdup(a->name);
	for (char *p = safe; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'))
			*p = '_';
	if (safe[0] == '.')
		safe[0] = '_';
	s->statepath = xasprintf("%s/%s", dir, safe);
	free(safe);
	s->have_state = imap_mailbox_load(s->statepath, s->account, s->cfg->folder,
	    &s->uidvalidity, &s->last_uid);
	s->timer = evtimer_new(base, imap_session_timer_cb, s);
	s->reset_ev = event_new(base, -1, 0, imap_session_reset_cb, s);
	event_active(s->timer, EV_TIMEOUT, 0);
	log_info("imap: account=%s watching %s folder %s for bounces (tls=%s%s%s)", a->name,
	    conn_peer(s->conn), s->cfg->folder, config_tls_name(s->cfg->tls),
	    s->cfg->move_to ? ", move_to=" : "", s->cfg->move_to ? s->cfg->move_to : "");
	return s;
}

void
imap_session_health(const struct imap_session *s, struct imap_health *h)
{
	h->account = s->account;
	h->state = imap_session_state_name(s->state);
	h->connected = s->authed && s->state != IMAP_S_BACKOFF;
	h->last_ok = s->last_ok;
	h->last_err_at = s->last_err_at;
	h->last_err = s->last_err[0] ? s->last_err : NULL;
}

void
imap_session_free(struct imap_session *s)
{
	if (s == NULL)
		return;
	imap_session_drop(s);
	conn_free(s->conn);
	event_free(s->timer);
	event_free(s->reset_ev);
	free(s->tomove);
	free(s->folder_q);
	free(s->move_to_q);
	free(s->statepath);
	free(s);
}

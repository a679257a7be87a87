/*
 * smtp_session_cmd: the conversation of an inbound session (see smtp_session.c for
 * its life): one command table {verb, handler, flags} whose flags say what must come
 * first, the handlers (EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA...), the DATA stream into
 * the spool and the reply once the spool has committed it, and the reading of input,
 * pipelined commands included. smtp_session_accept starts a session here.
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

/*
 * smtp_session_int: the inbound session's private parts, shared by smtp_session.c
 * (its life: states and their timeouts, replies, admission, closing) and
 * smtp_session_cmd.c (the conversation: the command table and its handlers, DATA,
 * reading input), which is above it. Nothing else includes this.
 */
#ifndef RELAYD_SMTP_SESSION_INT_H
#define RELAYD_SMTP_SESSION_INT_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/bufferevent.h>
#include <event2/util.h>

#include "smtp_data.h"
#include "smtp_session.h"

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

/* smtp_session_enter_state: the one place a session changes state. */
void smtp_session_enter_state(struct smtp_session *s, enum smtp_state st);
/*
 * smtp_session_stress: enter or leave stress mode as the number of sessions
 * crosses its marks; every session's timeout follows at once.
 */
void smtp_session_stress(struct smtp_server *srv);
/* smtp_session_reply: send one reply line. */
void smtp_session_reply(struct smtp_session *s, const char *fmt,
    ...) __attribute__((format(printf, 2, 3)));
/* smtp_session_error: a 4xx/5xx reply; too many of them end the session. */
void smtp_session_error(struct smtp_session *s, const char *fmt,
    ...) __attribute__((format(printf, 2, 3)));
/* smtp_session_free_cb: the deferred free of a finished session. */
void smtp_session_free_cb(evutil_socket_t fd, short ev, void *arg);
/* smtp_session_tx_reset: forget the transaction (and any half-received message). */
void smtp_session_tx_reset(struct smtp_session *s);
/* smtp_session_close: end the session now; freed from the event loop. */
void smtp_session_close(struct smtp_session *s);
/*
 * smtp_session_drop: end the session with "421 code hostname why", closed once that
 * is written; whatever transaction was open is forgotten.
 */
void smtp_session_drop(struct smtp_session *s, const char *code, const char *why);
/* smtp_session_expire_cb: max_session_time has passed. */
void smtp_session_expire_cb(evutil_socket_t fd, short ev, void *arg);
/*
 * smtp_session_admit: may a client from addr have a session? NULL if so (perhaps after
 * closing an idle one), else why not.
 */
const char *smtp_session_admit(struct smtp_server *srv, const char *addr, int loopback);
/* smtp_session_event_cb: the connection failed, closed or timed out. */
void smtp_session_event_cb(struct bufferevent *bev, short what, void *arg);

#endif

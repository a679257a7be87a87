/*
 * smtp_session: the server side of one inbound ESMTP session from a local app.
 * Commands are dispatched through one table; DATA goes through the smtp_data reader
 * into the spool, and 250 is said only once the queue reports the message durable.
 */
#ifndef RELAYD_SMTP_SESSION_H
#define RELAYD_SMTP_SESSION_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/event.h>

struct bounce_store;
struct config;
struct queue;
struct scheduler;
struct smtp_session;

/* What every inbound session shares. */
struct smtp_server {
	struct event_base	*base;
	struct config		*cfg;
	struct queue		*q;
	struct scheduler	*sched;
	struct bounce_store	*bounces;	/* for the suppression list */
	struct ssl_ctx_st	*tls_ctx;	/* inbound STARTTLS, or NULL */
	int			 nclients;	/* sessions open now */
	int			 nremote;	/* ... of them from non-loopback addresses */
	int			 stressed;	/* above 80 % of max_clients: short timeouts */
	int			 closing;	/* shutting down: no new sessions */
	TAILQ_HEAD(, smtp_session) sessions;	/* open sessions; init with TAILQ_INIT */
};

/*
 * smtp_session_accept: take over an accepted connection (fd, from sa). When no slot
 * is free (max_clients; for a non-loopback client also max_clients_per_address and
 * the tenth kept for loopback), the longest idle session is closed to make room, or,
 * with none to close, the client is told 421 and the connection closed. Never fails.
 */
void	smtp_session_accept(struct smtp_server *, int fd, const struct sockaddr *sa,
	    int salen);

/*
 * smtp_session_shutdown: end every session: 421 to those between messages; a message
 * already being committed still is, its client gets the spool's answer (250 or 4xx)
 * and then 421. Call with the listeners closed; then run the event loop until the
 * queue is idle and srv->nclients is 0 (each session closes once its last reply is
 * written), or a deadline passes.
 */
void	smtp_session_shutdown(struct smtp_server *);

/* smtp_session_close_all: at exit, close whatever sessions are still open. */
void	smtp_session_close_all(struct smtp_server *);

#endif

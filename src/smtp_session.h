/*
 * smtp_session: the server side of one inbound ESMTP session from a local app.
 * Commands are dispatched through one table; DATA goes through the smtp_data reader
 * into the spool, and 250 is said only once the queue reports the message durable.
 */
#ifndef RELAYD_SMTP_SESSION_H
#define RELAYD_SMTP_SESSION_H

#include <sys/socket.h>

#include <event2/event.h>

struct bounce_store;
struct config;
struct queue;
struct scheduler;

/* What every inbound session shares. */
struct smtp_server {
	struct event_base	*base;
	struct config		*cfg;
	struct queue		*q;
	struct scheduler	*sched;
	struct bounce_store	*bounces;	/* for the suppression list */
	int			 nclients;	/* sessions open now */
	int			 closing;	/* shutting down: no new sessions */
};

/*
 * smtp_session_accept: take over an accepted connection (fd, from sa). Beyond
 * max_clients the client is told 421 and the connection closed. Never fails.
 */
void	smtp_session_accept(struct smtp_server *, int fd, const struct sockaddr *sa,
	    int salen);

#endif

/*
 * listener: the SMTP listening sockets (every "listen" address), handing accepted
 * connections to smtp_session.
 */
#ifndef RELAYD_LISTENER_H
#define RELAYD_LISTENER_H

struct smtp_server;
struct listener;

/*
 * listener_new: bind every listen address of srv->cfg, not accepting yet (so it can
 * bind before privileges are dropped and the spool is open). Returns NULL after
 * logging which address could not be bound and why.
 */
struct listener	*listener_new(struct smtp_server *);

/* listener_start: start accepting connections. */
void		 listener_start(struct listener *);

/* listener_free: stop accepting and close the sockets. NULL is a no-op. */
void		 listener_free(struct listener *);

#endif

/*
 * shared: relayd's connection to the Redis server that several relayd hosts share
 * (the "shared" group of relay.conf): one connection for commands and one subscribed
 * to PREFIX "events", both on the event loop through hiredis's libevent adapter, so
 * that the loop never waits on Redis. It reconnects with a backoff, gives up on a
 * command that has no answer within SHARED_TIMEOUT (the connection is then dropped
 * and made anew), logs once when Redis goes and once when it returns, and tells its
 * listeners (shared_ledger.c) of both and of each message published.
 */
#ifndef RELAYD_SHARED_H
#define RELAYD_SHARED_H

#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

#include "config.h"

#define SHARED_TIMEOUT		2.0	/* seconds a command may take before Redis is
					 * taken for gone */

struct shared;
struct redisReply;

/*
 * The reply to a command: r is NULL when there will be none (the connection was
 * lost, or the command timed out). Called exactly once per command sent.
 */
typedef void	 shared_reply_fn(const struct redisReply *r, void *arg);

/* What a module that works through Redis is told (each callback may be NULL). */
struct shared_listener {
	void	(*up)(void *arg);	/* connected (again): commands may be sent */
	void	(*down)(void *arg);	/* lost: commands are refused until up */
	/* a message published on PREFIX "events" (not NUL-terminated) */
	void	(*message)(const char *msg, size_t len, void *arg);
	void	*arg;
};

/*
 * shared_new: connect (in the background) to the server of cfg, whose lifetime is the
 * caller's. This host is named in member ids and messages "HOSTNAME/XXXXXXXX" (a hash
 * of its spool: two relayd on one machine are two hosts). Returns the connection,
 * never NULL: an unreachable server is retried.
 */
struct shared	*shared_new(struct event_base *, const struct config_shared *cfg,
		    const char *hostname, const char *spool_dir);

/* shared_free: close both connections; pending replies get NULL. NULL is a no-op. */
void		 shared_free(struct shared *);

/* shared_set_config: the reloaded group: on_unavailable and peers take effect at once,
 * redis and password_file at the next reconnection, prefix at the next start. */
void		 shared_set_config(struct shared *, const struct config_shared *cfg);

/* shared_config: the group in use. */
const struct config_shared *shared_config(const struct shared *);

/* shared_listen/shared_unlisten: l (owned by the caller) is told of ups, downs and
 * messages until unlistened. Listening while up calls l->up at once. */
void		 shared_listen(struct shared *, struct shared_listener *l);
void		 shared_unlisten(struct shared *, struct shared_listener *l);

/* shared_up: are commands accepted (both connections ready)? */
int		 shared_up(const struct shared *);

/* shared_host: this host's id (in member ids and messages). */
const char	*shared_host(const struct shared *);

/*
 * shared_command: send argv (argc strings of lens bytes) on the command connection;
 * fn (may be NULL) gets the reply. Returns 0, or -1 when Redis is not up (then fn is
 * not called).
 */
int		 shared_command(struct shared *, shared_reply_fn *fn, void *arg, int argc,
		    const char **argv, const size_t *lens);

/* shared_publish: PUBLISH msg on PREFIX "events". Returns 0 or -1 (not up). */
int		 shared_publish(struct shared *, const char *msg);

/* shared_status: {"redis", "connected", "since", "host"} for relayctl status. */
json_t		*shared_status(const struct shared *);

#endif

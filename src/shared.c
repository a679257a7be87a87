/*
 * shared: the Redis connections of a relayd that shares accounts with other hosts.
 *
 * States: DOWN (waiting for the next attempt, retry timer armed) -> CONNECTING (both
 * connections opened; AUTH, SELECT and SUBSCRIBE sent) -> UP (the command connection
 * answered its PING and the subscription is confirmed) -> DOWN when either connection
 * is lost or a command goes unanswered for SHARED_TIMEOUT. hiredis frees a context
 * after its disconnect callback; relayd frees one itself (redisAsyncFree) only from
 * its own timer, never from inside a hiredis callback.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "clock.h"
#include "jsonstr.h"
#include "log.h"
#include "shared.h"
#include "xmalloc.h"

#define SHARED_BACKOFF_MIN	0.25	/* seconds before the first reconnection */
#define SHARED_BACKOFF_MAX	5.0

enum shared_state { SHARED_DOWN, SHARED_CONNECTING, SHARED_UP };

/* A command sent, until its reply (or its end without one). */
struct shared_req {
	TAILQ_ENTRY(shared_req)	 entry;
	struct shared		*sh;
	shared_reply_fn		*fn;
	void			*arg;
	double			 sent;		/* steady clock */
	int			 internal;	/* AUTH/SELECT/PING of the handshake */
};
TAILQ_HEAD(shared_reqs, shared_req);

struct shared {
	struct event_base	*base;
	const struct config_shared *cfg;
	char			*host;
	enum shared_state	 state;
	redisAsyncContext	*cmd, *sub;
	int			 cmd_ready, sub_ready;
	struct shared_reqs	 reqs;		/* oldest first */
	struct event		*retry;		/* reconnection, one-shot */
	struct event		*tick;		/* timeouts, persistent */
	double			 backoff;
	double			 since;		/* wall clock of the last up or down */
	double			 attempt_at;	/* steady: the current attempt began */
	int			 told_down;	/* "unreachable" logged for this outage */
	int			 told_refused;	/* a refusal (AUTH...) logged since the last up */
	int			 ever_up;
	char			*channel;
	struct shared_listener	**ls;
	size_t			 nls;
};

static void shared_connect(struct shared *);

static const char *
shared_state_name(enum shared_state st)
{
	static const char *names[] = {
		[SHARED_DOWN] = "down", [SHARED_CONNECTING] = "connecting", [SHARED_UP] = "up",
	};
	_Static_assert(sizeof(names) / sizeof(names[0]) == SHARED_UP + 1, "state names");
	return names[st];
}

/* shared_enter_state: every transition, logged at debug level. */
static void
shared_enter_state(struct shared *sh, enum shared_state st)
{
	log_debug("shared: redis=%s %s -> %s", sh->cfg->redis, shared_state_name(sh->state),
	    shared_state_name(st));
	sh->state = st;
}

/* shared_drop: close both connections; every pending reply gets NULL. */
static void
shared_drop(struct shared *sh)
{
	redisAsyncContext *c = sh->cmd, *s = sh->sub;

	sh->cmd = sh->sub = NULL;	/* their disconnect callbacks are stale from now */
	sh->cmd_ready = sh->sub_ready = 0;
	if (c != NULL)
		redisAsyncFree(c);
	if (s != NULL)
		redisAsyncFree(s);
}

/* shared_down: Redis is gone (why): drop, tell the listeners, retry after a backoff. */
static void
shared_down(struct shared *sh, const char *why)
{
	enum shared_state was = sh->state;
	struct timeval tv;

	if (was == SHARED_DOWN)
		return;
	shared_enter_state(sh, SHARED_DOWN);
	if (!sh->told_down) {
		if (was == SHARED_UP)
			log_warn("shared: redis=%s unreachable (%s); shared accounts %s until "
			    "it returns", sh->cfg->redis, why, sh->cfg->on_unavailable ==
			    CONFIG_SHARED_STOP ? "send nothing" : "send their local share");
		else
			log_warn("shared: redis=%s unreachable (%s); retrying", sh->cfg->redis, why);
		sh->told_down = 1;
		sh->since = clock_now();
	}
	event_del(sh->tick);
	if (was == SHARED_UP)
		for (size_t i = 0; i < sh->nls; i++)
			if (sh->ls[i]->down != NULL)
				sh->ls[i]->down(sh->ls[i]->arg);
	/* After the listeners: the replies they wait for come back NULL now. */
	shared_drop(sh);
	tv.tv_sec = (time_t)sh->backoff;
	tv.tv_usec = (suseconds_t)((sh->backoff - (double)tv.tv_sec) * 1e6);
	evtimer_add(sh->retry, &tv);
	sh->backoff = fmin(sh->backoff * 2, SHARED_BACKOFF_MAX);
}

/* shared_check_up: both connections are ready: UP, and the listeners are told. */
static void
shared_check_up(struct shared *sh)
{
	if (sh->state != SHARED_CONNECTING || !sh->cmd_ready || !sh->sub_ready)
		return;
	shared_enter_state(sh, SHARED_UP);
	if (sh->told_down && sh->ever_up)
		log_info("shared: redis=%s connected again after %.0fs", sh->cfg->redis,
		    clock_now() - sh->since);
	else
		log_info("shared: redis=%s connected (host=%s)", sh->cfg->redis, sh->host);
	sh->told_down = sh->told_refused = 0;
	sh->ever_up = 1;
	sh->since = clock_now();
	sh->backoff = SHARED_BACKOFF_MIN;
	for (size_t i = 0; i < sh->nls && sh->state == SHARED_UP; i++)
		if (sh->ls[i]->up != NULL)
			sh->ls[i]->up(sh->ls[i]->arg);
}

/* shared_reply: hiredis's callback for every command: the request's own, once. */
static void
shared_reply(redisAsyncContext *c, void *reply, void *privdata)
{
	struct shared_req *rq = privdata;
	struct shared *sh = rq->sh;
	redisReply *r = reply;

	TAILQ_REMOVE(&sh->reqs, rq, entry);
	if (rq->fn != NULL)
		rq->fn(r, rq->arg);
	free(rq);
}

/* shared_send: send argv on connection c for fn. Returns 0 or -1. */
static int
shared_send(struct shared *sh, redisAsyncContext *c, shared_reply_fn *fn, void *arg,
    int internal, int argc, const char **argv, const size_t *lens)
{
	struct shared_req *rq = xcalloc(1, sizeof(*rq));

	rq->sh = sh;
	rq->fn = fn;
	rq->arg = arg;
	rq->sent = clock_steady();
	rq->internal = internal;
	TAILQ_INSERT_TAIL(&sh->reqs, rq, entry);
	if (redisAsyncCommandArgv(c, shared_reply, rq, argc, argv, lens) != REDIS_OK) {
		TAILQ_REMOVE(&sh->reqs, rq, entry);
		free(rq);
		return -1;
	}
	return 0;
}

/* shared_handshake_reply: AUTH, SELECT or PING answered; PING last: ready. */
static void
shared_handshake_reply(const redisReply *r, void *arg)
{
	struct shared *sh = arg;

	if (r == NULL)
		return;		/* the connection went: its disconnect callback says so */
	if (r->type == REDIS_REPLY_ERROR) {
		if (!sh->told_refused++)	/* once until it works, not at every retry */
			log_err("shared: redis=%s refused the connection: %s", sh->cfg->redis,
			    r->str);
		if (sh->cmd != NULL)
			redisAsyncDisconnect(sh->cmd);
		return;
	}
	if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0) {
		sh->cmd_ready = 1;
		shared_check_up(sh);
	}
}

/* shared_sub_reply: the subscription's replies: confirmation, then each message. */
static void
shared_sub_reply(redisAsyncContext *c, void *reply, void *privdata)
{
	struct shared *sh = privdata;
	redisReply *r = reply;

	if (r == NULL || c != sh->sub)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		if (!sh->told_refused++)
			log_err("shared: redis=%s refused the subscription: %s", sh->cfg->redis,
			    r->str);
		redisAsyncDisconnect(c);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(r->element[0]->str, "subscribe") == 0) {
		sh->sub_ready = 1;
		shared_check_up(sh);
	} else if (strcmp(r->element[0]->str, "message") == 0 &&
	    r->element[2]->type == REDIS_REPLY_STRING) {
		for (size_t i = 0; i < sh->nls; i++)
			if (sh->ls[i]->message != NULL)
				sh->ls[i]->message(r->element[2]->str, r->element[2]->len,
				    sh->ls[i]->arg);
	}
}

/* shared_connected_cb: a connection is open (status REDIS_OK) or failed to open. */
static void
shared_connected_cb(const redisAsyncContext *c, int status)
{
	struct shared *sh = c->data;

	if (c != sh->cmd && c != sh->sub)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees c after this callback. */
		if (c == sh->cmd)
			sh->cmd = NULL;
		else
			sh->sub = NULL;
		shared_down(sh, c->errstr[0] ? c->errstr : "cannot connect");
	}
}

/* shared_disconnected_cb: a connection was lost; hiredis frees it afterwards. */
static void
shared_disconnected_cb(const redisAsyncContext *c, int status)
{
	struct shared *sh = c->data;

	if (sh == NULL || (c != sh->cmd && c != sh->sub))
		return;		/* one relayd dropped itself */
	if (c == sh->cmd)
		sh->cmd = NULL;
	else
		sh->sub = NULL;
	shared_down(sh, status == REDIS_OK ? "closed" : c->errstr[0] ? c->errstr :
	    "connection lost");
}

/* shared_open: one connection to the configured server, on the loop; NULL if none. */
static redisAsyncContext *
shared_open(struct shared *sh)
{
	redisAsyncContext *c = sh->cfg->unix_path != NULL ?
	    redisAsyncConnectUnix(sh->cfg->unix_path) :
	    redisAsyncConnect(sh->cfg->host, sh->cfg->port);

	if (c == NULL)
		return NULL;
	if (c->err) {
		log_debug("shared: redis=%s: %s", sh->cfg->redis, c->errstr);
		redisAsyncFree(c);
		return NULL;
	}
	c->data = sh;
	redisLibeventAttach(c, sh->base);
	redisAsyncSetConnectCallback(c, shared_connected_cb);
	redisAsyncSetDisconnectCallback(c, shared_disconnected_cb);
	return c;
}

/* shared_auth: AUTH on connection c when a password is configured. */
static void
shared_auth(struct shared *sh, redisAsyncContext *c)
{
	const char *argv[2] = { "AUTH", sh->cfg->password };
	size_t lens[2] = { 4, sh->cfg->password ? strlen(sh->cfg->password) : 0 };

	if (sh->cfg->password != NULL)
		shared_send(sh, c, shared_handshake_reply, sh, 1, 2, argv, lens);
}

/* shared_connect: a new attempt: both connections, their handshakes queued. */
static void
shared_connect(struct shared *sh)
{
	char db[16];
	const char *sel[2] = { "SELECT", db }, *ping[1] = { "PING" };
	const char *subv[2] = { "SUBSCRIBE", sh->channel };
	size_t sel_l[2] = { 6, 0 }, ping_l[1] = { 4 }, subv_l[2] = { 9, strlen(sh->channel) };
	struct timeval tv = { 0, 250000 };

	shared_enter_state(sh, SHARED_CONNECTING);
	sh->attempt_at = clock_steady();
	evtimer_add(sh->tick, &tv);
	if ((sh->cmd = shared_open(sh)) == NULL || (sh->sub = shared_open(sh)) == NULL) {
		shared_down(sh, "cannot open a connection");
		return;
	}
	/* hiredis queues these until the connection is open: in this order. */
	shared_auth(sh, sh->cmd);
	snprintf(db, sizeof(db), "%d", sh->cfg->db);
	sel_l[1] = strlen(db);
	if (sh->cfg->db != 0)
		shared_send(sh, sh->cmd, shared_handshake_reply, sh, 1, 2, sel, sel_l);
	shared_send(sh, sh->cmd, shared_handshake_reply, sh, 1, 1, ping, ping_l);
	shared_auth(sh, sh->sub);
	redisAsyncCommandArgv(sh->sub, shared_sub_reply, sh, 2, subv, subv_l);
}

static void
shared_retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	shared_connect(arg);
}

/* shared_tick_cb: a command (or the attempt itself) unanswered for too long: down. */
static void
shared_tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct shared *sh = arg;
	struct shared_req *rq = TAILQ_FIRST(&sh->reqs);
	double now = clock_steady();

	if (sh->state == SHARED_CONNECTING && now - sh->attempt_at > SHARED_TIMEOUT)
		shared_down(sh, "no answer to the connection");
	else if (rq != NULL && now - rq->sent > SHARED_TIMEOUT)
		shared_down(sh, "a command went unanswered");
}

struct shared *
shared_new(struct event_base *base, const struct config_shared *cfg, const char *hostname,
    const char *spool_dir)
{
	struct shared *sh = xcalloc(1, sizeof(*sh));
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (const char *p = spool_dir; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	sh->base = base;
	sh->cfg = cfg;
	sh->host = xasprintf("%s/%08x", hostname, h);
	sh->channel = xasprintf("%sevents", cfg->prefix);
	sh->backoff = SHARED_BACKOFF_MIN;
	sh->since = clock_now();
	TAILQ_INIT(&sh->reqs);
	sh->retry = evtimer_new(base, shared_retry_cb, sh);
	sh->tick = event_new(base, -1, EV_PERSIST, shared_tick_cb, sh);
	shared_connect(sh);
	return sh;
}

void
shared_free(struct shared *sh)
{
	if (sh == NULL)
		return;
	sh->nls = 0;		/* nobody is told anything while it closes */
	shared_drop(sh);
	event_free(sh->retry);
	event_free(sh->tick);
	free(sh->ls);
	free(sh->channel);
	free(sh->host);
	free(sh);
}

void
shared_set_config(struct shared *sh, const struct config_shared *cfg)
{
	sh->cfg = cfg;
}

const struct config_shared *
shared_config(const struct shared *sh)
{
	return sh->cfg;
}

void
shared_listen(struct shared *sh, struct shared_listener *l)
{
	sh->ls = xreallocarray(sh->ls, sh->nls + 1, sizeof(*sh->ls));
	sh->ls[sh->nls++] = l;
	if (sh->state == SHARED_UP && l->up != NULL)
		l->up(l->arg);
}

void
shared_unlisten(struct shared *sh, struct shared_listener *l)
{
	for (size_t i = 0; i < sh->nls; i++)
		if (sh->ls[i] == l) {
			memmove(sh->ls + i, sh->ls + i + 1, (sh->nls - i - 1) * sizeof(*sh->ls));
			sh->nls--;
			return;
		}
}

int
shared_up(const struct shared *sh)
{
	return sh != NULL && sh->state == SHARED_UP;
}

const char *
shared_host(const struct shared *sh)
{
	return sh->host;
}

int
shared_command(struct shared *sh, shared_reply_fn *fn, void *arg, int argc,
    const char **argv, const size_t *lens)
{
	if (sh->state != SHARED_UP || sh->cmd == NULL)
		return -1;
	return shared_send(sh, sh->cmd, fn, arg, 0, argc, argv, lens);
}

int
shared_publish(struct shared *sh, const char *msg)
{
	const char *argv[3] = { "PUBLISH", sh->channel, msg };
	size_t lens[3] = { 7, strlen(sh->channel), strlen(msg) };

	return shared_command(sh, NULL, NULL, 3, argv, lens);
}

json_t *
shared_status(const struct shared *sh)
{
	return json_pack("{s:s, s:b, s:s, s:I, s:s}", "redis", sh->cfg->redis, "connected",
	    sh->state == SHARED_UP, "state", shared_state_name(sh->state), "since",
	    (json_int_t)sh->since, "host", sh->host);
}

/*
 * shared_ledger: a shared account's quota ledger and suspensions in Redis.
 *
 * States of the ledger, as acquire sees them: AWAY (Redis not up) -> IDLE (up, nothing
 * asked) -> ASKING (a reserve in flight) -> HOLDING (a grant waits for the take that
 * asked for it) or REFUSED (not before free_at) -> IDLE. A grant not taken within
 * SHARED_LEDGER_HOLD seconds is given back (its take went to another account, or the
 * message was deleted meanwhile).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "clock.h"
#include "log.h"
#include "shared_ledger.h"
#include "xmalloc.h"

#define SHARED_LEDGER_HOLD	10.0	/* seconds a grant waits for its take */
#define SHARED_LEDGER_TTL	"90000"	/* keys live a day and an hour past their last use */
#define SHARED_LEDGER_BATCH	100	/* records per put while reconciling */

const char shared_ledger_reserve_lua[] =
"local now = tonumber(ARGV[5])\n"
"local units = tonumber(ARGV[2])\n"
"local lim = { { tonumber(ARGV[3]), 3600 }, { tonumber(ARGV[4]), 86400 } }\n"
"-- what left the day window goes, with its units\n"
"while true do\n"
"  local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - 86400, 'LIMIT', 0, 500)\n"
"  if #old == 0 then break end\n"
"  redis.call('ZREM', KEYS[1], unpack(old))\n"
"  redis.call('HDEL', KEYS[2], unpack(old))\n"
"end\n"
"-- the sums, without this member itself (asked again: not counted twice). The day:\n"
"-- every record left; the hour: the units of the records in it, 500 a call\n"
"local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[1])) or 0\n"
"local mscore = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or 0)\n"
"local used = { 0, -mine }\n"
"for _, v in ipairs(redis.call('HVALS', KEYS[2])) do used[2] = used[2] + tonumber(v) end\n"
"local hm = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - 3600), '+inf')\n"
"for i = 1, #hm, 500 do\n"
"  for _, v in ipairs(redis.call('HMGET', KEYS[2], unpack(hm, i, math.min(i + 499, #hm)))) do\n"
"    used[1] = used[1] + (tonumber(v) or 0)\n"
"  end\n"
"end\n"
"if mscore > now - 3600 then used[1] = used[1] - mine end\n"
"local grant = units\n"
"for w = 1, 2 do\n"
"  if lim[w][1] > 0 and lim[w][1] - used[w] < grant then grant = lim[w][1] - used[w] end\n"
"end\n"
"if grant >= 1 then\n"
"  redis.call('ZADD', KEYS[1], now, ARGV[1])\n"
"  redis.call('HSET', KEYS[2], ARGV[1], grant)\n"
"  redis.call('EXPIRE', KEYS[1], " SHARED_LEDGER_TTL ")\n"
"  redis.call('EXPIRE', KEYS[2], " SHARED_LEDGER_TTL ")\n"
"  return { 1, grant, used[1] + grant, used[2] + grant, tostring(now) }\n"
"end\n"
"-- refused: when one unit fits, in each full window the record whose leaving is\n"
"-- enough (oldest first)\n"
"local free = now\n"
"for w = 1, 2 do\n"
"  local limit, len = lim[w][1], lim[w][2]\n"
"  if limit > 0 and used[w] + 1 > limit then\n"
"    local recs = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - len), '+inf', 'WITHSCORES')\n"
"    local left, at = used[w], now + len\n"
"    for i = 1, #recs, 2 do\n"
"      if recs[i] ~= ARGV[1] then\n"
"        left = left - (tonumber(redis.call('HGET', KEYS[2], recs[i])) or 0)\n"
"        if left + 1 <= limit then at = tonumber(recs[i + 1]) + len; break end\n"
"      end\n"
"    end\n"
"    if at > free then free = at end\n"
"  end\n"
"end\n"
"return { 0, 0, used[1], used[2], tostring(free) }\n";

const char shared_ledger_put_lua[] =
"for i = 1, #ARGV, 3 do\n"
"  if tonumber(ARGV[i + 2]) > 0 then\n"
"    redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])\n"
"    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])\n"
"  else\n"
"    redis.call('ZREM', KEYS[1], ARGV[i])\n"
"    redis.call('HDEL', KEYS[2], ARGV[i])\n"
"  end\n"
"end\n"
"redis.call('EXPIRE', KEYS[1], " SHARED_LEDGER_TTL ")\n"
"redis.call('EXPIRE', KEYS[2], " SHARED_LEDGER_TTL ")\n"
"return #ARGV / 3\n";

/*
 * Redis restarted empty (it keeps no files, or lost them): every host puts its own
 * day back at its return, but not all return at once (each on its own backoff).
 * PREFIX epoch says when the server's data began; until SHARED_LEDGER_SETTLE seconds
 * after that nobody reserves, so that no host is granted what another host's ledger,
 * not yet back, had used. Longer than the longest reconnection backoff plus a timeout.
 */
#define SHARED_LEDGER_SETTLE	8.0

const char shared_ledger_epoch_lua[] =
"local v = redis.call('GET', KEYS[1])\n"
"if not v then redis.call('SET', KEYS[1], ARGV[1]); return ARGV[1] end\n"
"return v\n";

struct shared_ledger {
	struct shared		*sh;
	struct shared_listener	 l;
	struct shared_ledger_cb	 cb;
	struct quota		*q;
	char			*address;	/* lower case */
	char			*k_quota, *k_units, *k_state, *k_epoch;
	int			 up;		/* Redis up, as last told */
	int			 asking;	/* a reserve in flight */
	uint64_t		 grant_id;	/* a grant in hand: its member's id (0: none) */
	long			 grant_units;
	double			 grant_at;	/* steady */
	double			 free_at;	/* steady: refused until then (0: not) */
	long			 hour_all, day_all;	/* as Redis said last */
	double			 seen;		/* wall clock of that */
	long			 hour_own, day_own;	/* this host's part then */
	int			 no_share;	/* away, and limit/peers is under one unit */
};

/* A command in flight for a ledger, which may be freed before its reply comes. */
struct shared_ledger_ask {
	struct shared_ledger	*sl;		/* NULL: the ledger is gone */
	uint64_t		 id;		/* a reserve's: the member's */
	struct shared_ledger_ask *next;
};
static struct shared_ledger_ask *shared_ledger_asks;

/* shared_ledger_track: ask (a command in flight for sl) is found by its reply. */
static struct shared_ledger_ask *
shared_ledger_track(struct shared_ledger *sl)
{
	struct shared_ledger_ask *ask = xcalloc(1, sizeof(*ask));

	ask->sl = sl;
	ask->next = shared_ledger_asks;
	shared_ledger_asks = ask;
	return ask;
}

/* shared_ledger_untrack: ask's reply came; returns its ledger (NULL: gone). */
static struct shared_ledger *
shared_ledger_untrack(struct shared_ledger_ask *ask)
{
	struct shared_ledger *sl = ask->sl;

	for (struct shared_ledger_ask **pp = &shared_ledger_asks; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == ask) {
			*pp = ask->next;
			break;
		}
	free(ask);
	return sl;
}

/* shared_ledger_member: "HOST:ID" into buf. */
static void
shared_ledger_member(const struct shared_ledger *sl, uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%llu", shared_host(sl->sh), (unsigned long long)id);
}

/* shared_ledger_changed: tell the scheduler to look again. */
static void
shared_ledger_changed(struct shared_ledger *sl)
{
	if (sl->cb.changed != NULL)
		sl->cb.changed(sl->cb.arg);
}

/* One put in the making: up to SHARED_LEDGER_BATCH records of one EVAL. */
struct shared_ledger_put {
	struct shared_ledger	*sl;
	const char		*argv[5 + 3 * SHARED_LEDGER_BATCH];
	size_t			 lens[5 + 3 * SHARED_LEDGER_BATCH];
	char			 buf[3 * SHARED_LEDGER_BATCH][96];
	int			 n;		/* records */
	double			 off;		/* wall - steady */
};

/* shared_ledger_put_flush: send the records gathered (if any). */
static void
shared_ledger_put_flush(struct shared_ledger_put *p)
{
	struct shared_ledger *sl = p->sl;
	int argc = 5 + 3 * p->n;

	if (p->n == 0)
		return;
	p->argv[0] = "EVAL";
	p->argv[1] = shared_ledger_put_lua;
	p->argv[2] = "2";
	p->argv[3] = sl->k_quota;
	p->argv[4] = sl->k_units;
	for (int i = 0; i < 5; i++)
		p->lens[i] = strlen(p->argv[i]);
	for (int i = 5; i < argc; i++) {
		p->argv[i] = p->buf[i - 5];
		p->lens[i] = strlen(p->buf[i - 5]);
	}
	shared_command(sl->sh, NULL, NULL, argc, p->argv, p->lens);
	p->n = 0;
}

/* shared_ledger_put_add: one record (the own ledger's id, steady time, units). */
static void
shared_ledger_put_add(uint64_t id, time_t t, long units, void *arg)
{
	struct shared_ledger_put *p = arg;
	int k = 3 * p->n;

	shared_ledger_member(p->sl, id, p->buf[k], sizeof(p->buf[k]));
	snprintf(p->buf[k + 1], sizeof(p->buf[k + 1]), "%.3f", (double)t + p->off);
	snprintf(p->buf[k + 2], sizeof(p->buf[k + 2]), "%ld", units);
	if (++p->n == SHARED_LEDGER_BATCH)
		shared_ledger_put_flush(p);
}

/* shared_ledger_put_one: put one record now (if Redis is up; else at its return). */
static void
shared_ledger_put_one(struct shared_ledger *sl, uint64_t id, time_t t, long units)
{
	struct shared_ledger_put *p = xcalloc(1, sizeof(*p));

	p->sl = sl;
	p->off = clock_now() - clock_steady();
	shared_ledger_put_add(id, t, units, p);
	shared_ledger_put_flush(p);
	free(p);
}

/* shared_ledger_reconcile: put the own ledger's last day into the shared one. */
static void
shared_ledger_reconcile(struct shared_ledger *sl)
{
	struct shared_ledger_put *p = xcalloc(1, sizeof(*p));

	p->sl = sl;
	p->off = clock_now() - clock_steady();
	quota_foreach(sl->q, shared_ledger_put_add, p);
	shared_ledger_put_flush(p);
	free(p);
}

/* shared_ledger_give_back: a grant in hand was not used: out of the shared ledger. */
static void
shared_ledger_give_back(struct shared_ledger *sl)
{
	if (sl->grant_id != 0)
		shared_ledger_put_one(sl, sl->grant_id, 0, 0);
	sl->grant_id = 0;
	sl->grant_units = 0;
}

/* shared_ledger_num: a reply element's number (a bulk string or an integer). */
static double
shared_ledger_num(const redisReply *e)
{
	if (e->type == REDIS_REPLY_INTEGER)
		return (double)e->integer;
	if (e->type == REDIS_REPLY_STRING)
		return strtod(e->str, NULL);
	return 0;
}

/* shared_ledger_reserved: the reply to a reserve (NULL: none will come). */
static void
shared_ledger_reserved(const redisReply *r, void *arg)
{
	struct shared_ledger_ask *ask = arg;
	struct shared_ledger *sl = ask->sl;
	uint64_t id = ask->id;

	shared_ledger_untrack(ask);
	if (sl == NULL)		/* the ledger is gone; so is the take that wanted it */
		return;
	sl->asking = 0;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 5) {
		/* Nothing known: if it was granted, the member stays in the shared
		 * ledger, counted as sent (the conservative rule) until this host puts
		 * its own ledger there again (at Redis's return), under the same id. */
		if (r != NULL)
			log_err("shared: reserve for %s failed: %s", sl->address,
			    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		shared_ledger_changed(sl);
		return;
	}
	sl->hour_all = (long)shared_ledger_num(r->element[2]);
	sl->day_all = (long)shared_ledger_num(r->element[3]);
	sl->seen = clock_now();
	quota_used(sl->q, (time_t)clock_steady(), &sl->hour_own, &sl->day_own);
	if (shared_ledger_num(r->element[0]) == 1) {
		sl->grant_id = id;
		sl->grant_units = (long)shared_ledger_num(r->element[1]);
		sl->grant_at = clock_steady();
		sl->free_at = 0;
	} else {
		double free_wall = shared_ledger_num(r->element[4]);

		sl->free_at = clock_steady() + (free_wall - clock_now());
		log_debug("shared: %s full (hour=%ld day=%ld of all hosts) until %.0f",
		    sl->address, sl->hour_all, sl->day_all, free_wall);
	}
	shared_ledger_changed(sl);
}

/* shared_ledger_ask: send a reserve for units under the next id of the own ledger. */
static void
shared_ledger_ask(struct shared_ledger *sl, long units, int per_hour, int per_day)
{
	struct shared_ledger_ask *ask;
	char member[160], u[32], ph[32], pd[32], now[48];
	const char *argv[10] = { "EVAL", shared_ledger_reserve_lua, "2", sl->k_quota,
	    sl->k_units, member, u, ph, pd, now };
	size_t lens[10];

	shared_ledger_member(sl, quota_next_id(sl->q), member, sizeof(member));
	snprintf(u, sizeof(u), "%ld", units);
	snprintf(ph, sizeof(ph), "%d", per_hour);
	snprintf(pd, sizeof(pd), "%d", per_day);
	snprintf(now, sizeof(now), "%.3f", clock_now());
	for (int i = 0; i < 10; i++)
		lens[i] = strlen(argv[i]);
	ask = shared_ledger_track(sl);
	ask->id = quota_next_id(sl->q);
	if (shared_command(sl->sh, shared_ledger_reserved, ask, 10, argv, lens) == -1) {
		shared_ledger_untrack(ask);
		return;
	}
	sl->asking = 1;
}

/* shared_ledger_state_reply: GET of the state key at Redis's return. */
static void shared_ledger_apply(struct shared_ledger *, const char *msg, int with_address);

static void
shared_ledger_state_reply(const redisReply *r, void *arg)
{
	struct shared_ledger *sl = shared_ledger_untrack(arg);

	if (sl != NULL && r != NULL && r->type == REDIS_REPLY_STRING)
		shared_ledger_apply(sl, r->str, 0);
}

/* shared_ledger_epoch_reply: when Redis's data began: hold reserves until settled. */
static void
shared_ledger_epoch_reply(const redisReply *r, void *arg)
{
	struct shared_ledger *sl = shared_ledger_untrack(arg);
	double until;

	if (sl == NULL || r == NULL)
		return;
	sl->free_at = 0;
	if (r->type == REDIS_REPLY_STRING &&
	    (until = strtod(r->str, NULL) + SHARED_LEDGER_SETTLE) > clock_now()) {
		sl->free_at = clock_steady() + (until - clock_now());
		log_info("shared: %s: Redis's ledger is new; reserving in %.0fs, once every "
		    "host has put its own back", sl->address, until - clock_now());
	}
	shared_ledger_changed(sl);
}

/* shared_ledger_up: Redis (re)connected: reconcile, and take up the shared state. */
static void
shared_ledger_up(void *arg)
{
	struct shared_ledger *sl = arg;
	char now[48];
	const char *get[2] = { "GET", sl->k_state };
	const char *ep[5] = { "EVAL", shared_ledger_epoch_lua, "1", sl->k_epoch, now };
	size_t get_l[2] = { 3, strlen(sl->k_state) }, ep_l[5];
	struct shared_ledger_ask *ask;

	sl->up = 1;
	sl->free_at = clock_steady() + SHARED_TIMEOUT;	/* until the epoch is known */
	shared_ledger_reconcile(sl);
	snprintf(now, sizeof(now), "%.3f", clock_now());
	for (int i = 0; i < 5; i++)
		ep_l[i] = strlen(ep[i]);
	ask = shared_ledger_track(sl);
	if (shared_command(sl->sh, shared_ledger_epoch_reply, ask, 5, ep, ep_l) == -1)
		shared_ledger_untrack(ask);
	ask = shared_ledger_track(sl);
	if (shared_command(sl->sh, shared_ledger_state_reply, ask, 2, get, get_l) == -1)
		shared_ledger_untrack(ask);
	shared_ledger_changed(sl);
}

/* shared_ledger_down: Redis went: a grant in hand is forgotten (it stays counted). */
static void
shared_ledger_down(void *arg)
{
	struct shared_ledger *sl = arg;

	sl->up = 0;
	sl->grant_id = 0;
	sl->grant_units = 0;
	sl->free_at = 0;
	shared_ledger_changed(sl);
}

/*
 * shared_ledger_apply: a state "KIND [ADDRESS] UNTIL HOST REASON" (a message when
 * with_address, else the state key's value): another host's throttle, disable or
 * enable of this account goes to the scheduler.
 */
static void
shared_ledger_apply(struct shared_ledger *sl, const char *msg, int with_address)
{
	char kind[16], addr[320], host[256];
	double until;
	int off = 0;
	enum shared_ledger_kind k;

	if (with_address) {
		if (sscanf(msg, "%15s %319s %lf %255s %n", kind, addr, &until, host, &off) < 4 ||
		    strcmp(addr, sl->address) != 0)
			return;
	} else if (sscanf(msg, "%15s %lf %255s %n", kind, &until, host, &off) < 3)
		return;
	if (strcmp(host, shared_host(sl->sh)) == 0)
		return;		/* this host's own */
	if (strcmp(kind, "throttle") == 0)
		k = SHARED_THROTTLE;
	else if (strcmp(kind, "disable") == 0)
		k = SHARED_DISABLE;
	else if (strcmp(kind, "enable") == 0)
		k = SHARED_ENABLE;
	else
		return;
	if (sl->cb.state != NULL)
		sl->cb.state(sl->cb.arg, sl->address, k, until, off > 0 ? msg + off : "", host);
}

/* shared_ledger_message: a message on PREFIX events. */
static void
shared_ledger_message(const char *msg, size_t len, void *arg)
{
	char *s = xstrndup(msg, len);

	shared_ledger_apply(arg, s, 1);
	free(s);
}

struct shared_ledger *
shared_ledger_new(struct shared *sh, const char *address, struct quota *q,
    const struct shared_ledger_cb *cb)
{
	struct shared_ledger *sl = xcalloc(1, sizeof(*sl));
	const char *prefix = shared_config(sh)->prefix;

	sl->sh = sh;
	sl->q = q;
	sl->cb = *cb;
	sl->address = xstrdup(address);
	for (char *c = sl->address; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	sl->k_quota = xasprintf("%squota:%s", prefix, sl->address);
	sl->k_units = xasprintf("%sunits:%s", prefix, sl->address);
	sl->k_state = xasprintf("%sstate:%s", prefix, sl->address);
	sl->k_epoch = xasprintf("%sepoch", prefix);
	sl->l = (struct shared_listener){ shared_ledger_up, shared_ledger_down,
	    shared_ledger_message, sl };
	shared_listen(sh, &sl->l);
	return sl;
}

void
shared_ledger_free(struct shared_ledger *sl)
{
	if (sl == NULL)
		return;
	shared_unlisten(sl->sh, &sl->l);
	shared_ledger_give_back(sl);
	for (struct shared_ledger_ask *a = shared_ledger_asks; a != NULL; a = a->next)
		if (a->sl == sl)
			a->sl = NULL;	/* its reply finds nobody */
	free(sl->address);
	free(sl->k_quota);
	free(sl->k_units);
	free(sl->k_state);
	free(sl->k_epoch);
	free(sl);
}

long
shared_ledger_acquire(struct shared_ledger *sl, long units, int per_hour, int per_day)
{
	double now = clock_steady();

	if (!sl->up)
		return shared_config(sl->sh)->on_unavailable == CONFIG_SHARED_LOCAL_SHARE ?
		    -1 : 0;
	if (sl->grant_id != 0 && now - sl->grant_at > SHARED_LEDGER_HOLD)
		shared_ledger_give_back(sl);	/* stale: ask anew */
	if (sl->grant_id != 0) {
		if (sl->grant_id == quota_next_id(sl->q))
			return sl->grant_units;	/* bound by the caller's reservation */
		shared_ledger_give_back(sl);	/* the own ledger moved on: not ours */
	}
	if (!sl->asking && now >= sl->free_at)
		shared_ledger_ask(sl, units, per_hour, per_day);
	return 0;
}

void
shared_ledger_bind(struct shared_ledger *sl, uint64_t id)
{
	if (sl->grant_id == 0)
		return;
	if (id != sl->grant_id)
		shared_ledger_give_back(sl);
	sl->grant_id = 0;
	sl->grant_units = 0;
}

void
shared_ledger_settle(struct shared_ledger *sl, uint64_t id, long units, time_t t)
{
	/* Sent under local_share or granted: the record goes in as it ended. Redis
	 * away: it goes in with the rest at its return. */
	if (sl->up)
		shared_ledger_put_one(sl, id, t, units);
}

double
shared_ledger_free_at(const struct shared_ledger *sl, double now)
{
	if (!sl->up)		/* stopped until it returns: changed is called then */
		return shared_config(sl->sh)->on_unavailable == CONFIG_SHARED_STOP ||
		    sl->no_share ? now + 3600 : now;
	return sl->free_at > now ? sl->free_at : now;
}

/* shared_ledger_share: this host's part of limit while Redis is away: limit/peers,
 * and no more than the others had left when Redis last answered (others: what they
 * had used then, held for as long as it stays in the window of len). 0: none. */
static long
shared_ledger_share(const struct shared_ledger *sl, long limit, long all, long own,
    double len)
{
	long share = limit / shared_config(sl->sh)->peers, others = all - own;

	if (sl->seen > 0 && clock_now() - sl->seen < len && others > 0 && limit - others < share)
		share = limit - others;
	return share > 0 ? share : 0;
}

int
shared_ledger_limits(struct shared_ledger *sl, int *per_hour, int *per_day)
{
	long h, d;

	sl->no_share = 0;
	if (sl->up || shared_config(sl->sh)->on_unavailable == CONFIG_SHARED_STOP ||
	    shared_config(sl->sh)->peers < 1)
		return 1;	/* stop: shared_ledger_free_at holds the account */
	h = shared_ledger_share(sl, *per_hour, sl->hour_all, sl->hour_own, QUOTA_HOUR);
	d = shared_ledger_share(sl, *per_day, sl->day_all, sl->day_own, QUOTA_DAY);
	if ((*per_hour > 0 && h == 0) || (*per_day > 0 && d == 0))
		return !(sl->no_share = 1);	/* nothing left for this host: it waits */
	*per_hour = (int)h;
	*per_day = (int)d;
	return 1;
}

void
shared_ledger_publish(struct shared_ledger *sl, enum shared_ledger_kind k, double until,
    const char *reason)
{
	static const char *kinds[] = {
		[SHARED_THROTTLE] = "throttle", [SHARED_DISABLE] = "disable",
		[SHARED_ENABLE] = "enable",
	};
	char *val, *msg, ttl[32];
	const char *host = shared_host(sl->sh);
	long secs = (long)ceil(until - clock_now());

	if (!sl->up)
		return;		/* the others meet it themselves */
	val = xasprintf("%s %.3f %s %s", kinds[k], until, host, reason ? reason : "-");
	msg = xasprintf("%s %s %.3f %s %s", kinds[k], sl->address, until, host,
	    reason ? reason : "-");
	for (char *c = val; *c; c++)	/* one line */
		if (*c == '\r' || *c == '\n')
			*c = ' ';
	for (char *c = msg; *c; c++)
		if (*c == '\r' || *c == '\n')
			*c = ' ';
	if (k == SHARED_ENABLE) {
		const char *argv[2] = { "DEL", sl->k_state };
		size_t lens[2] = { 3, strlen(sl->k_state) };

		shared_command(sl->sh, NULL, NULL, 2, argv, lens);
	} else if (k == SHARED_DISABLE || secs > 0) {
		const char *argv[5] = { "SET", sl->k_state, val, "EX", ttl };
		size_t lens[5];

		/* A disable stays until enabled; a throttle ends with itself. */
		snprintf(ttl, sizeof(ttl), "%ld", k == SHARED_DISABLE ? 30L * 86400 : secs);
		for (int i = 0; i < 5; i++)
			lens[i] = strlen(argv[i]);
		shared_command(sl->sh, NULL, NULL, 5, argv, lens);
	}
	shared_publish(sl->sh, msg);
	free(val);
	free(msg);
}

json_t *
shared_ledger_status(const struct shared_ledger *sl)
{
	return json_pack("{s:b, s:I, s:I, s:o}", "connected", sl->up, "hour_all",
	    (json_int_t)sl->hour_all, "day_all", (json_int_t)sl->day_all, "seen",
	    sl->seen > 0 ? json_integer((json_int_t)sl->seen) : json_null());
}

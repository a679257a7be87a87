/*
 * drain: the queue's drain estimate, by playing the accounts' ledgers forward (see
 * drain.h). Each account keeps a copy of its records (the day before the simulated
 * time, oldest first) and three running sums, one per window (hour, day, spread's
 * burst), moved along as time advances: an event costs O(accounts) plus the records
 * that leave a window then.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "drain.h"
#include "planner.h"
#include "quota.h"
#include "sendwindow.h"
#include "xmalloc.h"

/* One account's simulated ledger. */
struct drain_sim {
	const struct drain_account *a;
	time_t		*t;		/* record times, oldest first */
	long		*u;		/* their units */
	size_t		 n, cap;
	size_t		 hd, hh, hb;	/* first record inside the day, hour, burst */
	long		 ud, uh, ub;	/* units inside them */
	struct planner_limits l;
	time_t		 last;		/* its last simulated transaction; -1: none */
};

/* drain_sim_add: append a record of units at t (not before the others). */
static void
drain_sim_add(struct drain_sim *s, time_t t, long units)
{
	if (s->hd > 0 && s->n == s->cap) {	/* drop what left the day first */
		memmove(s->t, s->t + s->hd, (s->n - s->hd) * sizeof(*s->t));
		memmove(s->u, s->u + s->hd, (s->n - s->hd) * sizeof(*s->u));
		s->n -= s->hd;
		s->hh -= s->hd;
		s->hb -= s->hd;
		s->hd = 0;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->t = xreallocarray(s->t, s->cap, sizeof(*s->t));
		s->u = xreallocarray(s->u, s->cap, sizeof(*s->u));
	}
	s->t[s->n] = t;
	s->u[s->n++] = units;
	s->ud += units;
	s->uh += units;
	s->ub += units;
}

/* drain_sim_slide: move a window's head (and its sum) to time now. */
static void
drain_sim_slide(const struct drain_sim *s, size_t *head, long *used, time_t len, time_t now)
{
	while (*head < s->n && s->t[*head] <= now - len)
		*used -= s->u[(*head)++];
}

/* drain_sim_at: bring the account to time now: its windows, and its limits then. */
static void
drain_sim_at(struct drain_sim *s, time_t now, double off)
{
	if (s->a->cfg != NULL)
		planner_effective(s->a->cfg, s->a->learned, (double)now + off, &s->l);
	drain_sim_slide(s, &s->hd, &s->ud, QUOTA_DAY, now);
	drain_sim_slide(s, &s->hh, &s->uh, QUOTA_HOUR, now);
	if (s->l.burst > 0 && s->l.burst_len > 0)
		drain_sim_slide(s, &s->hb, &s->ub, s->l.burst_len, now);
	else
		s->hb = s->n, s->ub = 0;
}

/* drain_sim_room: units the account may send now (LONG_MAX: no limit). */
static long
drain_sim_room(const struct drain_sim *s)
{
	long room = LONG_MAX;

	if (s->l.per_hour > 0)
		room = s->l.per_hour - s->uh;
	if (s->l.per_day > 0 && s->l.per_day - s->ud < room)
		room = s->l.per_day - s->ud;
	if (s->l.burst > 0 && s->l.burst - s->ub < room)
		room = s->l.burst - s->ub;
	return room < 0 ? 0 : room;
}

/* drain_sim_window_free: when a window (from head, used units in it) has a unit free. */
static time_t
drain_sim_window_free(const struct drain_sim *s, size_t head, long used, long limit,
    time_t len, time_t now)
{
	if (limit <= 0 || used < limit)
		return now;
	for (size_t i = head; i < s->n; i++) {
		used -= s->u[i];
		if (used < limit)
			return s->t[i] + len;
	}
	return now + len;
}

/* drain_sim_next_free: the first time, not before now, the account has a unit free. */
static time_t
drain_sim_next_free(const struct drain_sim *s, time_t now)
{
	time_t t = drain_sim_window_free(s, s->hh, s->uh, s->l.per_hour, QUOTA_HOUR, now);
	time_t d = drain_sim_window_free(s, s->hd, s->ud, s->l.per_day, QUOTA_DAY, now);

	if (d > t)
		t = d;
	if (s->l.burst > 0 && s->l.burst_len > 0) {
		d = drain_sim_window_free(s, s->hb, s->ub, s->l.burst, s->l.burst_len, now);
		if (d > t)
			t = d;
	}
	return t;
}

/* drain_sim_open: is the account's send window open at now? */
static int
drain_sim_open(const struct drain_sim *s, time_t now, double off)
{
	return s->a->window == NULL || sendwindow_inside(s->a->window,
	    (int64_t)floor((double)now + off));
}

/*
 * drain_sim_next: the next time after now at which the account may send again (the
 * first of: its suspension ends, a unit frees, its min_interval passes, its window
 * opens, a warm-up's new day); -1: never.
 */
static time_t
drain_sim_next(struct drain_sim *s, time_t now, double off)
{
	const struct drain_account *a = s->a;
	time_t c = now, f = (time_t)ceil(a->free_at);

	if (a->disabled)
		return -1;
	drain_sim_at(s, now, off);
	if (f > c)
		c = f;
	else {
		time_t q = drain_sim_next_free(s, now);

		if (q > c)
			c = q;
		if (a->cfg != NULL && a->cfg->warmup.enabled && a->cfg->limits.per_day > 0 &&
		    s->l.per_day < a->cfg->limits.per_day) {
			/* The warm-up's day limit grows at 00:00 UTC. */
			double wall = (double)now + off;
			time_t midnight = (time_t)ceil((floor(wall / 86400) + 1) * 86400 - off);

			if (midnight > now && midnight < c)
				c = midnight;
		}
	}
	if (a->min_interval > 0 && s->last >= 0 && s->last + a->min_interval > c)
		c = s->last + a->min_interval;
	if (a->window != NULL && !drain_sim_open(s, c, off)) {
		int64_t o = sendwindow_next_open(a->window, (int64_t)ceil((double)c + off));

		if (o < 0)
			return -1;
		c = (time_t)ceil((double)o - off);
	}
	return c > now ? c : now + 1;
}

/* drain_sim_init: the account's records of the day before now. */
static void
drain_sim_init(struct drain_sim *s, const struct drain_account *a, time_t now, double off)
{
	memset(s, 0, sizeof(*s));
	s->a = a;
	s->last = -1;
	s->l = (struct planner_limits){ a->per_hour, a->per_day, a->burst, a->burst_len };
	for (size_t i = 0; i < a->nrec; i++)
		if (a->rec_t[i] > now - QUOTA_DAY)
			drain_sim_add(s, a->rec_t[i], a->rec_units[i]);
	s->hh = s->hb = 0;
	s->uh = s->ub = s->ud;
	drain_sim_at(s, now, off);
}

/*
 * drain_sim_send: let the account send what it may of left recipients at now (one
 * transaction with min_interval; avg recipients a message). Returns the recipients
 * it took.
 */
static double
drain_sim_send(struct drain_sim *s, time_t now, double off, double left, double avg)
{
	const struct drain_account *a = s->a;
	double need;
	long room, take;

	if (a->disabled || (double)now < a->free_at || !drain_sim_open(s, now, off))
		return 0;
	if (a->min_interval > 0 && s->last >= 0 && now < s->last + a->min_interval)
		return 0;
	drain_sim_at(s, now, off);
	if ((room = drain_sim_room(s)) <= 0)
		return 0;
	need = a->count_recipients ? ceil(left - 1e-9) : ceil(left / avg - 1e-9);
	if (a->min_interval > 0)	/* one transaction: one message */
		need = a->count_recipients ? fmin(need, ceil(avg - 1e-9)) : 1;
	take = need < (double)room ? (long)need : room;
	if (take <= 0)
		return 0;
	drain_sim_add(s, now, take);
	s->last = now;
	return a->count_recipients ? (double)take : (double)take * avg;
}

enum drain_result
drain_estimate(const struct drain_account *a, size_t n, time_t now, double off,
    size_t msgs, size_t rcpts, time_t *at)
{
	struct drain_sim *sim;
	enum drain_result r = DRAIN_OVER;
	double left, avg, total;
	time_t t = now;

	*at = now;
	if (msgs == 0)
		return DRAIN_EMPTY;
	if (rcpts < msgs)
		rcpts = msgs;	/* every message has a recipient left */
	total = left = (double)rcpts;
	avg = (double)rcpts / (double)msgs;
	sim = xcalloc(n ? n : 1, sizeof(*sim));
	for (size_t i = 0; i < n; i++)
		drain_sim_init(&sim[i], &a[i], now, off);
	for (long step = 0; step < DRAIN_STEPS; step++) {
		time_t next = -1;

		/* Spill-over: the accounts in config order each send what they may. */
		for (size_t i = 0; i < n && left > 1e-9; i++)
			left -= drain_sim_send(&sim[i], t, off, left, avg);
		if (left <= 1e-9) {
			*at = t;
			r = DRAIN_AT;
			goto done;
		}
		for (size_t i = 0; i < n; i++) {
			time_t c = drain_sim_next(&sim[i], t, off);

			if (c >= 0 && (next < 0 || c < next))
				next = c;
		}
		if (next < 0) {
			r = DRAIN_NEVER;
			goto done;
		}
		if (next - now > DRAIN_HORIZON)
			goto done;	/* DRAIN_OVER */
		t = next;
	}
	/* Too many events to follow: the pace so far, kept up. */
	if (t > now && total - left > 0) {
		double rest = left / ((total - left) / (double)(t - now));

		if ((double)(t - now) + rest <= DRAIN_HORIZON) {
			*at = t + (time_t)ceil(rest);
			r = DRAIN_AT;
		}
	}
done:
	for (size_t i = 0; i < n; i++) {
		free(sim[i].t);
		free(sim[i].u);
	}
	free(sim);
	return r;
}

const char *
drain_result_name(enum drain_result r)
{
	static const char *const names[] = {
		[DRAIN_EMPTY] = "empty", [DRAIN_AT] = "at", [DRAIN_NEVER] = "never",
		[DRAIN_OVER] = "over",
	};

	return (size_t)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

/*
 * planner: an account's effective limits (configured, learned from throttles,
 * spread), computed in one place for the ledger to enforce. See planner.h.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "planner.h"
#include "quota.h"

int
planner_drop(const struct config_learn *l, int current, long got)
{
	double v = ceil(l->factor * (double)got - 1e-9);
	int n = v > 1e9 ? 1000000000 : (int)v;

	if (n < l->floor)
		n = l->floor;
	if (current > 0 && n > current)
		n = current;
	return n < 1 ? 1 : n;
}

int
planner_climb(const struct config_learn *l, int configured, int current)
{
	double v = ceil((double)current / l->factor - 1e-9);
	int n = v > 1e9 ? 1000000000 : (int)v;

	if (n <= current)
		n = current + 1;
	return n >= configured ? 0 : n;
}

void
planner_spread(int per_hour, int per_day, long *burst, time_t *len)
{
	double interval;
	long b;

	*burst = 0;
	*len = 0;
	if (per_hour > 0) {
		interval = 3600.0 / per_hour;
		b = per_hour / 20;
	} else if (per_day > 0) {
		interval = 86400.0 / per_day;
		b = per_day / 480;
	} else
		return;
	*burst = b < 1 ? 1 : b;
	*len = (time_t)ceil((double)*burst * interval);
}

int
planner_warmup(const struct config_warmup *w, int per_day, double now, int *day)
{
	double i;

	*day = 0;
	if (!w->enabled || per_day <= 0)
		return 0;
	i = floor((now - (double)w->start) / 86400.0);
	if (i < 0)
		return w->from;		/* not started: its first day's limit */
	if (i >= w->days)
		return 0;
	*day = (int)i + 1;
	return w->from + (int)((long long)(per_day - w->from) * (long long)i / w->days);
}

void
planner_effective(const struct config_account *a, const struct planner_learned *p,
    double now, struct planner_limits *out)
{
	const struct config_limits *c = &a->limits;
	int w, day;

	out->per_hour = c->per_hour;
	out->per_day = c->per_day;
	if ((w = planner_warmup(&a->warmup, c->per_day, now, &day)) > 0 && w < out->per_day)
		out->per_day = w;
	if (p != NULL && p->hour > 0 && (out->per_hour == 0 || p->hour < out->per_hour))
		out->per_hour = p->hour;
	if (p != NULL && p->day > 0 && (out->per_day == 0 || p->day < out->per_day))
		out->per_day = p->day;
	out->burst = 0;
	out->burst_len = 0;
	if (c->spread)
		planner_spread(out->per_hour, out->per_day, &out->burst, &out->burst_len);
}

/* planner_log: one line for one change of an effective limit. */
static void
planner_log(const struct config_account *a, const char *window, int configured, int from,
    int to, const char *why)
{
	log_info("account=%s limit=%s effective=%d was=%d configured=%d (%s)", a->name,
	    window, to ? to : configured, from ? from : configured, configured, why);
}

int
planner_throttled(struct planner_learned *p, const struct config_account *a, long hour,
    long day, double now, const char *reply)
{
	const struct config_learn *l = &a->learn;
	int h = p->hour, d = p->day;
	char why[PLANNER_WHY + 32];

	if (!l->enabled)
		return 0;
	if (a->limits.per_hour > 0)
		h = planner_drop(l, p->hour ? p->hour : a->limits.per_hour, hour);
	/* The day learns once an episode, and only from a throttle that came after
	 * more than an hour's sending (Mail.ru's 553 after 182 in a day): one within
	 * the first hour says nothing of the day. Later throttles come from the hour
	 * (a provider's penalty rate), and what got through in a day the learned
	 * limit held says nothing of the provider's day either. */
	if (a->limits.per_day > 0 && p->day == 0 && day > hour)
		d = planner_drop(l, a->limits.per_day, day);
	snprintf(p->why, sizeof(p->why), "%s", reply ? reply : "throttle");
	for (char *c = p->why; *c; c++)
		if (*c == '\r' || *c == '\n')
			*c = ' ';
	snprintf(why, sizeof(why), "learned after %s", p->why);
	if (h != p->hour)
		planner_log(a, "hour", a->limits.per_hour, p->hour, h, why);
	if (d != p->day)
		planner_log(a, "day", a->limits.per_day, p->day, d, why);
	p->hour = h;
	p->day = d;
	p->at = p->step_at = now;
	p->drops++;
	return 1;
}

int
planner_recover(struct planner_learned *p, const struct config_account *a, double now)
{
	const struct config_learn *l = &a->learn;
	double every = l->recover_after * 3600.0;
	int changed = 0, h, d;

	if (!l->enabled) {
		if (p->hour == 0 && p->day == 0)
			return 0;
		/* learn switched off in the configuration: the configured limits hold */
		memset(p, 0, sizeof(*p));
		log_info("account=%s limit=configured (learn is off)", a->name);
		return 1;
	}
	while ((p->hour > 0 || p->day > 0) && every > 0 && now >= p->step_at + every) {
		h = p->hour ? planner_climb(l, a->limits.per_hour, p->hour) : 0;
		d = p->day ? planner_climb(l, a->limits.per_day, p->day) : 0;
		if (h != p->hour)
			planner_log(a, "hour", a->limits.per_hour, p->hour, h, "recovering");
		if (d != p->day)
			planner_log(a, "day", a->limits.per_day, p->day, d, "recovering");
		p->hour = h;
		p->day = d;
		p->step_at += every;
		changed = 1;
	}
	if (changed && p->hour == 0 && p->day == 0) {
		p->drops = 0;
		p->why[0] = '\0';
	}
	return changed;
}

void
planner_apply(const struct config_account *a, struct planner_learned *p, struct quota *q,
    double now)
{
	struct planner_limits e;
	char why[48];
	int w, day;

	if ((w = planner_warmup(&a->warmup, a->limits.per_day, now, &day)) != p->warm) {
		snprintf(why, sizeof(why), day > 0 ? "warm-up day %d of %d" :
		    "warm-up not started", day, a->warmup.days);
		planner_log(a, "day", a->limits.per_day, p->warm, w, w ? why : "warm-up over");
		p->warm = w;
	}
	planner_effective(a, p, now, &e);
	quota_set_limits(q, e.per_hour, e.per_day);
	quota_set_burst(q, e.burst, e.burst_len);
}

void
planner_explain(const struct config_account *a, const struct planner_learned *p,
    double now, char *buf, size_t len)
{
	char at[32], code[8];
	time_t t;
	struct tm tm;
	double left;
	size_t n, used = 0;
	int day;

	buf[0] = '\0';
	if (p != NULL && (p->hour > 0 || p->day > 0)) {
		t = (time_t)p->at;
		gmtime_r(&t, &tm);
		strftime(at, sizeof(at), "%Y-%m-%d %H:%M UTC", &tm);
		/* The reply's code (553, 550 ...) says enough; the reply is under "why". */
		n = strcspn(p->why, " -");
		if (n >= sizeof(code))
			n = sizeof(code) - 1;
		memcpy(code, p->why, n);
		code[n] = '\0';
		left = p->step_at + a->learn.recover_after * 3600.0 - now;
		if (left < 0)
			left = 0;
		snprintf(buf, len, "learned after %s at %s, recovering in %.0fh", code[0] ?
		    code : "a throttle", at, ceil(left / 3600.0));
		used = strlen(buf);
	}
	if (planner_warmup(&a->warmup, a->limits.per_day, now, &day) > 0 && used < len)
		snprintf(buf + used, len - used, "%swarm-up %s %d of %d", used ? "; " : "",
		    day > 0 ? "day" : "not started: day", day > 0 ? day : 1, a->warmup.days);
}

/*
 * scheduler_account: the scheduler's state of one provider account, apart from the
 * policy that uses it: its TLS context and ledger, when it may next send (suspended
 * by the provider, backed off after failures, min_interval, quota), and the backoff
 * schedule. scheduler.c decides with it; scheduler_report.c shows it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "events.h"
#include "humantime.h"
#include "jsonstr.h"
#include "log.h"
#include "scheduler_int.h"
#include "scheduler_state.h"
#include "sendwindow.h"
#include "tls.h"
#include "xmalloc.h"

#define SCHED_UNTIL_LEN	(2 * HUMANTIME_LEN + 16)

/*
 * scheduler_account_until: "KEY=2026-12-05T00:56:12.708Z in=56m" for a time on the
 * scheduler's clock (wall 0 for a wall clock time), into buf: what a person reads
 * in the log, the instant in UTC and how far off it is.
 */
static const char *
scheduler_account_until(const char *key, double steady, double wall, char *buf,
    size_t len)
{
	char iso[HUMANTIME_LEN], rel[HUMANTIME_LEN];
	double now = clock_now();

	if (wall == 0)
		wall = clock_to_wall(steady);
	humantime_rel_frac(wall, now, rel, sizeof(rel));
	if (strncmp(rel, "in ", 3) == 0)
		snprintf(buf, len, "%s=%s in=%s", key, humantime_utc(wall, 1, iso, sizeof(iso)),
		    rel + 3);
	else if (strcmp(rel, "now") == 0)
		snprintf(buf, len, "%s=%s in=0s", key, humantime_utc(wall, 1, iso, sizeof(iso)));
	else	/* "12s ago" */
		snprintf(buf, len, "%s=%s ago=%.*s", key, humantime_utc(wall, 1, iso,
		    sizeof(iso)), (int)strcspn(rel, " "), rel);
	return buf;
}

/* scheduler_account_tls: (re)build the account's TLS context. Returns 0 or -1. */
static int
scheduler_account_tls(struct sched_account *a)
{
	SSL_CTX *ctx = NULL;

	if (a->cfg->tls != CONFIG_TLS_NONE && (ctx = tls_client_ctx(a->cfg->ca_file)) == NULL)
		return -1;
	SSL_CTX_free(a->ssl_ctx);	/* sessions using it hold their own reference */
	a->ssl_ctx = ctx;
	return 0;
}

/* scheduler_account_quota: open the ledger as the account's limits need it. */
static int
scheduler_account_quota(struct sched_account *a, const struct config *cfg, time_t now)
{
	const struct config_limits *l = &a->cfg->limits;
	int durable = l->per_hour > 0 || l->per_day > 0;	/* only limits need a disk */

	if (a->quota == NULL || durable != a->quota_durable) {	/* first time only */
		struct quota *q = quota_open(cfg->spool_dir, a->cfg->address, a->cfg->name,
		    durable, now);

		if (q == NULL)
			return -1;
		quota_free(a->quota);
		a->quota = q;
		a->quota_durable = durable;
	}
	planner_apply(a->cfg, &a->learned, a->quota, clock_now());
	return 0;
}

/*
 * scheduler_account_config_hash: a fingerprint (FNV-1a) of the settings a disable is
 * about (those scheduler_account_changed compares), kept with a disable on disk so
 * that a configuration changed while relayd was down lifts it.
 */
static uint64_t
scheduler_account_config_hash(const struct config_account *c)
{
	const char *f[] = { c->host, c->username, c->password, c->address, c->ca_file };
	uint64_t h = 14695981039346656037ULL;
	char num[32];

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		for (const char *p = f[i] ? f[i] : ""; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		h = (h ^ 0xff) * 1099511628211ULL;	/* a separator no string has */
	}
	snprintf(num, sizeof(num), "%d/%d", c->port, (int)c->tls);
	for (const char *p = num; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

void
scheduler_account_save(const struct sched_account *a)
{
	struct scheduler_state st = { 0 };
	double now = clock_steady();

	if (a->spool == NULL)
		return;
	if (a->suspended_until > now)
		st.throttled_until = clock_to_wall(a->suspended_until);
	st.throttles = a->throttles;
	if (a->disabled)
		st.disabled_since = clock_to_wall(a->disabled_since);
	st.config = scheduler_account_config_hash(a->cfg);
	if (a->why != NULL && (a->disabled || a->suspended_until > now))
		snprintf(st.why, sizeof(st.why), "%s", a->why);
	st.learned = a->learned;
	scheduler_state_save(a->spool, a->cfg->address, &st);
}

/* scheduler_account_restore: take up the suspension the account had before a restart. */
static void
scheduler_account_restore(struct sched_account *a)
{
	struct scheduler_state st;
	double wall = clock_now(), now = clock_steady();
	char until[SCHED_UNTIL_LEN];

	if (scheduler_state_load(a->spool, a->cfg->address, &st) != 1)
		return;
	a->throttles = st.throttles;
	a->learned = st.learned;
	if (a->learned.hour > 0 || a->learned.day > 0)
		log_info("account=%s limits learned before the restart: per_hour=%d "
		    "per_day=%d (%s)", a->cfg->name, a->learned.hour, a->learned.day,
		    a->learned.why);
	if (st.throttled_until > wall) {
		/* Never longer than a whole step of the backoff from now: the wall clock
		 * may have been stepped back since it was written. */
		double left = st.throttled_until - wall, max = a->cfg->backoff_max * 1.1 + 1;

		a->suspended_until = now + (left < max ? left : max);
		log_warn("account=%s status=throttled %s (before the restart: %s)",
		    a->cfg->name, scheduler_account_until("until", a->suspended_until, 0,
		    until, sizeof(until)), st.why);
	}
	if (st.disabled_since > 0 && st.config == scheduler_account_config_hash(a->cfg)) {
		a->disabled = 1;
		a->disabled_since = now - (wall > st.disabled_since ? wall - st.disabled_since : 0);
		log_err("account=%s status=disabled (before the restart: %s): it sends nothing "
		    "until its configuration changes or relayctl enable %s", a->cfg->name,
		    st.why, a->cfg->name);
	} else if (st.disabled_since > 0)
		log_info("account=%s status=enabled (its configuration changed)", a->cfg->name);
	if (st.why[0] && (a->disabled || a->suspended_until > now))
		a->why = xstrdup(st.why);
}

/* scheduler_account_new: the scheduler's state for a configured account, or NULL. */
struct sched_account *
scheduler_account_new(struct config_account *ca, const struct config *cfg, time_t now)
{
	struct sched_account *a = xcalloc(1, sizeof(*a));

	a->cfg = ca;
	a->spool = xstrdup(cfg->spool_dir);
	if (scheduler_account_quota(a, cfg, now) == -1 || scheduler_account_tls(a) == -1) {
		scheduler_account_free(a);
		return NULL;
	}
	scheduler_account_restore(a);
	scheduler_account_plan(a);
	return a;
}

/* scheduler_account_event: an "account" event: state, why (or NULL), until (steady, or 0). */
static void
scheduler_account_event(const struct sched_account *a, const char *state, const char *why,
    double until)
{
	json_t *x = json_pack("{s:s, s:o}", "state", state, "why", jsonstr_new(why));

	json_object_set_new(x, "until", until > 0 ? json_integer((json_int_t)ceil(
	    clock_to_wall(until))) : json_null());
	events_emit(EVENTS_ACCOUNT, NULL, NULL, NULL, a->cfg->name, x);
}

/*
 * scheduler_account_limits_event: the effective limits changed (learned from a
 * throttle, climbing back, reset): an "account" event in state "limits", with the
 * effective per_hour and per_day and why they differ from the configured ones.
 */
static void
scheduler_account_limits_event(const struct sched_account *a)
{
	struct planner_limits e;
	char why[256];
	json_t *x;

	planner_effective(a->cfg, &a->learned, clock_now(), &e);
	planner_explain(a->cfg, &a->learned, clock_now(), why, sizeof(why));
	x = json_pack("{s:s, s:o, s:o, s:o, s:o}", "state", "limits", "why",
	    why[0] ? jsonstr_new(why) : json_string("the configured limits"), "until",
	    json_null(), "per_hour", e.per_hour ? json_integer(e.per_hour) : json_null(),
	    "per_day", e.per_day ? json_integer(e.per_day) : json_null());
	events_emit(EVENTS_ACCOUNT, NULL, NULL, NULL, a->cfg->name, x);
}

void
scheduler_account_plan(struct sched_account *a)
{
	double wall = clock_now();
	char until[SCHED_UNTIL_LEN];

	if (a->suspended_until > 0 && a->suspended_until <= clock_steady()) {
		/* The throttle is over: said once, then forgotten. */
		log_info("account=%s status=ready (the throttle ended %s: it may send again)",
		    a->cfg->name, scheduler_account_until("at", a->suspended_until, 0, until,
		    sizeof(until)));
		a->suspended_until = 0;
	}

	if (planner_recover(&a->learned, a->cfg, wall)) {
		scheduler_account_save(a);
		scheduler_account_limits_event(a);
	}
	planner_apply(a->cfg, &a->learned, a->quota, wall);
	if (a->shared != NULL) {	/* Redis away (local_share): this host's share */
		struct planner_limits e;

		planner_effective(a->cfg, &a->learned, wall, &e);
		if (shared_ledger_limits(a->shared, &e.per_hour, &e.per_day))
			quota_set_limits(a->quota, e.per_hour, e.per_day);
	}
	/* The send window: shut until it opens (asked once per opening). */
	if (a->cfg->window == NULL || sendwindow_inside(a->cfg->window, (int64_t)wall)) {
		if (a->closed_until > 0)
			log_info("account=%s window=open (%s)", a->cfg->name, a->cfg->window ?
			    "its send window opened" : "no send window");
		a->closed_until = a->window_opens = 0;
		return;
	}
	if (a->window_opens <= wall) {
		int64_t t = sendwindow_next_open(a->cfg->window, (int64_t)wall);

		a->window_opens = t < 0 ? wall + 7 * 86400.0 : (double)t;
		log_info("account=%s window=closed %s (outside its send window; mail "
		    "waits)", a->cfg->name, scheduler_account_until("until", 0,
		    a->window_opens, until, sizeof(until)));
	}
	a->closed_until = clock_steady() + (a->window_opens - wall);
}

void
scheduler_account_reset_learned(struct sched_account *a)
{
	memset(&a->learned, 0, sizeof(a->learned));
	planner_apply(a->cfg, &a->learned, a->quota, clock_now());
	scheduler_account_save(a);
	log_info("account=%s limit=configured per_hour=%d per_day=%d (learned limits reset "
	    "by relayctl)", a->cfg->name, a->cfg->limits.per_hour, a->cfg->limits.per_day);
	scheduler_account_limits_event(a);
}

void
scheduler_account_succeeded(struct sched_account *a)
{
	int was = a->throttles;

	a->failures = a->throttles = 0;
	if (was > 0) {		/* the backoff starts over: on disk too */
		scheduler_account_save(a);
		scheduler_account_event(a, "ready", NULL, 0);
	}
}

void
scheduler_account_enable(struct sched_account *a)
{
	a->disabled = a->failures = a->throttles = 0;
	a->suspended_until = a->retry_at = a->disabled_since = 0;
	free(a->why);
	a->why = NULL;
	free(a->last_reply);	/* the 535 that disabled it is history now */
	a->last_reply = NULL;
	scheduler_account_save(a);
	scheduler_account_event(a, "ready", NULL, 0);
}

/*
 * scheduler_account_quota_full: which window of the effective limits is used up
 * ("day", "hour"), or NULL (room in both; a spread's short burst is no news), with
 * "used/limit" of it in buf.
 */
static const char *
scheduler_account_quota_full(const struct sched_account *a, time_t now, char *buf,
    size_t len)
{
	struct planner_limits e;
	long hour, day;

	planner_effective(a->cfg, &a->learned, clock_now(), &e);
	quota_used(a->quota, now, &hour, &day);
	if (e.per_day > 0 && day >= e.per_day) {
		snprintf(buf, len, "%ld/%d", day, e.per_day);
		return "day";
	}
	if (e.per_hour > 0 && hour >= e.per_hour) {
		snprintf(buf, len, "%ld/%d", hour, e.per_hour);
		return "hour";
	}
	return NULL;
}

/*
 * scheduler_account_quota_log: one line when the account's hour or day is used up
 * (with when the next unit frees), and one when it has room again; at most once per
 * SCHED_QUOTA_LOG seconds (a backlog at the limit fills it each time a unit frees).
 */
static void
scheduler_account_quota_log(struct sched_account *a, double now)
{
	char used[48], next[SCHED_UNTIL_LEN];
	const char *w = scheduler_account_quota_full(a, (time_t)now, used, sizeof(used));

	if (w != NULL && (a->quota_logged || (a->quota_logged_at > 0 &&
	    now < a->quota_logged_at + SCHED_QUOTA_LOG)))
		return;		/* told already, or lately (then its room again is no news) */
	if (w == NULL && !a->quota_logged)
		return;
	a->quota_logged = w != NULL;
	if (w != NULL) {
		a->quota_logged_at = now;
		log_warn("account=%s status=exhausted window=%s used=%s %s (quota used up: "
		    "mail goes to the next account, or waits)", a->cfg->name, w, used,
		    scheduler_account_until("next_free", (double)quota_next_free(a->quota,
		    (time_t)now, 1), 0, next, sizeof(next)));
	} else
		log_info("account=%s status=ready (quota has room again)", a->cfg->name);
}

void
scheduler_account_all_used(struct scheduler *s, double now)
{
	char what[512], next[SCHED_UNTIL_LEN];
	size_t used = 0, exhausted = 0;
	double first = 0;

	what[0] = '\0';
	for (size_t i = 0; i < s->naccounts; i++) {
		const struct sched_account *a = s->accounts[i];
		char u[48];
		const char *w;
		double t;

		if (a->disabled) {
			snprintf(what + used, sizeof(what) - used, "%s%s disabled",
			    used ? ", " : "", a->cfg->name);
		} else if ((w = scheduler_account_quota_full(a, (time_t)now, u,
		    sizeof(u))) != NULL) {
			exhausted++;
			t = (double)quota_next_free(a->quota, (time_t)now, 1);
			if (first == 0 || t < first)
				first = t;
			snprintf(what + used, sizeof(what) - used, "%s%s %s %s", used ? ", " :
			    "", a->cfg->name, w, u);
		} else {
			s->all_used_logged = 0;
			return;
		}
		used = strlen(what);
	}
	if (exhausted == 0 || s->all_used_logged || (s->all_used_at > 0 &&
	    now < s->all_used_at + SCHED_QUOTA_LOG))
		return;
	s->all_used_logged = 1;
	s->all_used_at = now;
	log_warn("quota: all accounts used up (%s): mail waits; %s", what,
	    scheduler_account_until("next_free", first, 0, next, sizeof(next)));
}

void
scheduler_account_quota_event(struct sched_account *a, double now)
{
	int full = quota_room(a->quota, (time_t)now) == 0;

	scheduler_account_quota_log(a, now);
	if (full == a->exhausted_told)
		return;
	a->exhausted_told = full;
	if (full)
		scheduler_account_event(a, "exhausted", "quota used up",
		    (double)quota_next_free(a->quota, (time_t)now, 1));
	else
		scheduler_account_event(a, "ready", NULL, 0);
}

/* scheduler_account_free: free it; its sessions are gone. */
void
scheduler_account_free(struct sched_account *a)
{
	if (a == NULL)
		return;
	SSL_CTX_free(a->ssl_ctx);
	shared_ledger_free(a->shared);	/* before its ledger */
	quota_free(a->quota);
	free(a->why);
	free(a->last_reply);
	free(a->spool);
	free(a);
}

/* scheduler_account_units: quota units a transaction of n recipients uses on account a. */
long
scheduler_account_units(const struct sched_account *a, size_t n)
{
	return a->cfg->limits.count_recipients ? (long)n : (n > 0 ? 1 : 0);
}

/*
 * scheduler_account_free_at: the earliest time, not before now, at which nothing but
 * its own pace (min_interval) stops account a: after a throttle or backoff, and once
 * its quota has room for one unit. 0: not at all (disabled). Times are kept to the
 * fraction of a second, so that pauses are neither cut short nor stretched.
 */
double
scheduler_account_free_at(const struct sched_account *a, double now)
{
	double t = now, q;

	if (a->disabled || a->retired)
		return 0;
	if (a->suspended_until > t)
		t = a->suspended_until;
	if (a->retry_at > t)
		t = a->retry_at;
	if (a->closed_until > t)
		t = a->closed_until;	/* outside its send window */
	if ((q = (double)quota_next_free(a->quota, (time_t)now, 1)) > t)
		t = q;
	if (a->shared != NULL && (q = shared_ledger_free_at(a->shared, now)) > t)
		t = q;		/* all hosts' ledger (Redis) */
	return t;
}

/*
 * scheduler_account_ready_at: the earliest time, not before now, at which account a
 * may start a transaction: when it is free, and min_interval after its last send.
 * 0: not at all (disabled).
 */
double
scheduler_account_ready_at(const struct sched_account *a, double now)
{
	double t = scheduler_account_free_at(a, now);

	if (t > 0 && a->cfg->limits.min_interval > 0) {
		/* After a restart only the ledger's whole second is known: round up. */
		double last = a->last_send > 0 ? a->last_send :
		    quota_last(a->quota) > 0 ? quota_last(a->quota) + 1.0 : 0;

		if (last > 0 && last + a->cfg->limits.min_interval > t)
			t = last + a->cfg->limits.min_interval;
	}
	return t;
}

/* scheduler_account_fits: may account a send message m at all (its size)? */
int
scheduler_account_fits(const struct sched_account *a, const struct queue_msg *m)
{
	return m->size <= a->cfg->limits.max_message_size;
}

/* scheduler_account_backoff: delay before attempt n+1: initial doubling to max, +-10%. */
time_t
scheduler_account_backoff(int initial, int max, int n)
{
	double d = initial * pow(2.0, n > 30 ? 30 : n);

	if (d > max)
		d = max;
	d *= 0.9 + 0.2 * (arc4random() / (double)UINT32_MAX);
	return d < 1 ? 1 : (time_t)(d + 0.5);	/* rounded: jitter never shortens a step */
}

time_t
scheduler_account_backoff_span(int initial, int max, int n)
{
	time_t t = 0;

	for (int k = 0; k < n; k++) {
		time_t d = k > 30 ? max : (time_t)initial << k;

		t += d > max ? max : d;
	}
	return t;
}

/* scheduler_account_suspend: the provider told the account to slow down, or refused it. */
void
scheduler_account_suspend(struct sched_account *a, enum outcome_action act,
    const char *reason)
{
	char until[SCHED_UNTIL_LEN];
	long hour, day;

	free(a->why);
	a->why = xstrdup(reason);
	if (act == OUTCOME_DISABLE) {
		if (!a->disabled)
			a->disabled_since = clock_steady();
		a->disabled = 1;
		scheduler_account_save(a);
		scheduler_account_event(a, "disabled", reason, 0);
		log_err("account=%s status=disabled (%s): it sends nothing until its "
		    "configuration changes or relayctl enable %s", a->cfg->name, reason,
		    a->cfg->name);
		if (a->shared != NULL)	/* the other hosts stop too */
			shared_ledger_publish(a->shared, SHARED_DISABLE, 0, reason);
		return;
	}
	/* Throttle: the account's backoff, doubling while the provider keeps refusing. */
	a->nthrottles++;
	if (a->suspended_until > clock_steady()) {
		/* Already suspended: the other sessions of the same episode report it
		 * too. One episode is one step of the backoff, however many saw it. */
		log_info("account=%s status=throttled %s (same episode: %s)",
		    a->cfg->name, scheduler_account_until("until", a->suspended_until, 0,
		    until, sizeof(until)), reason);
		return;
	}
	a->suspended_until = clock_steady() + (double)scheduler_account_backoff(
	    a->cfg->backoff_initial, a->cfg->backoff_max, a->throttles++);
	/* What got through before it tells the planner the real limit. */
	quota_used(a->quota, (time_t)clock_steady(), &hour, &day);
	if (planner_throttled(&a->learned, a->cfg, hour, day, clock_now(), reason)) {
		planner_apply(a->cfg, &a->learned, a->quota, clock_now());
		scheduler_account_limits_event(a);
	}
	scheduler_account_save(a);	/* a restart must not send into it */
	scheduler_account_event(a, "throttled", reason, a->suspended_until);
	log_warn("account=%s status=throttled %s (%s)", a->cfg->name,
	    scheduler_account_until("until", a->suspended_until, 0, until, sizeof(until)),
	    reason);
	if (a->shared != NULL)		/* the other hosts stop at once, not at their next try */
		shared_ledger_publish(a->shared, SHARED_THROTTLE,
		    clock_to_wall(a->suspended_until), reason);
}

void
scheduler_account_shared(struct sched_account *a, enum shared_ledger_kind k, double until,
    const char *reason, const char *host)
{
	double now = clock_steady(), steady = now + (until - clock_now());
	char at[SCHED_UNTIL_LEN];

	if (k == SHARED_ENABLE) {
		if (!a->disabled && a->suspended_until <= now)
			return;
		scheduler_account_enable(a);
		log_info("account=%s status=enabled (by relayctl on %s)", a->cfg->name, host);
		return;
	}
	if (k == SHARED_DISABLE ? a->disabled : steady <= a->suspended_until || steady <= now)
		return;		/* nothing new */
	free(a->why);
	a->why = xasprintf("%s (met by %s)", reason, host);
	if (k == SHARED_DISABLE) {
		a->disabled = 1;
		a->disabled_since = now;
		scheduler_account_save(a);
		scheduler_account_event(a, "disabled", a->why, 0);
		log_err("account=%s status=disabled (%s): it sends nothing until its "
		    "configuration changes or relayctl enable %s", a->cfg->name, a->why,
		    a->cfg->name);
		return;
	}
	a->suspended_until = steady;
	scheduler_account_save(a);
	scheduler_account_event(a, "throttled", a->why, steady);
	log_warn("account=%s status=throttled %s (%s)", a->cfg->name,
	    scheduler_account_until("until", steady, 0, at, sizeof(at)), a->why);
}

/* scheduler_account_changed: do old and new differ in what a disable was about? */
int
scheduler_account_changed(const struct config_account *o, const struct config_account *n)
{
#define DIFF(f)	((o->f == NULL) != (n->f == NULL) || (o->f && strcmp(o->f, n->f) != 0))
	return DIFF(host) || DIFF(username) || DIFF(password) || DIFF(address) ||
	    DIFF(ca_file) || o->port != n->port || o->tls != n->tls;
#undef DIFF
}

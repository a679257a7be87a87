/*
 * scheduler_report: what the scheduler tells the operator: relayctl status (accounts,
 * quota windows, the queue's counts, when it should be drained) and the metrics.
 * The counts are counters; the drain estimate costs the accounts' ledgers (a day of
 * records) and the events it simulates (drain.c, bounded), and the oldest message one
 * pass over the queue's index, without touching the disk.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "clock.h"
#include "drain.h"
#include "jsonstr.h"
#include "planner.h"
#include "quota.h"
#include "scheduler.h"
#include "scheduler_int.h"
#include "sendwindow.h"
#include "shared.h"
#include "xmalloc.h"

/* scheduler_account_state: what relayctl status says of an account. */
static const char *
scheduler_account_state(const struct sched_account *a, double now)
{
	if (a->disabled)
		return "disabled";
	if (a->suspended_until > now)
		return "throttled";
	if (a->retry_at > now)
		return "backoff";
	if (a->closed_until > now)
		return "closed";	/* outside its send window */
	if (quota_room(a->quota, (time_t)now) == 0 ||
	    (a->shared != NULL && shared_ledger_free_at(a->shared, now) > now))
		return "exhausted";	/* here, or on all hosts together (shared) */
	return "ready";
}

/*
 * scheduler_wall: a time of the scheduler's clock as the wall clock shows it, given
 * the offset between the two (clock_now() - clock_steady()), read once per report: read
 * again for each time, it moves by microseconds and two equal times could round to
 * different seconds. 0 stays 0.
 */
static json_int_t
scheduler_wall(double t, double off)
{
	return t > 0 ? (json_int_t)ceil(t + off) : 0;
}

/* scheduler_window: {"used":..,"limit":..,"remaining":..} of one quota window (the
 * effective limit: the planner's, what the ledger enforces). */
static json_t *
scheduler_window(long used, int limit)
{
	return json_pack("{s:I, s:o, s:o}", "used", (json_int_t)used, "limit",
	    limit > 0 ? json_integer(limit) : json_null(), "remaining",
	    limit > 0 ? json_integer(used < limit ? limit - used : 0) : json_null());
}

/* scheduler_limit: a configured limit as JSON (null: none). */
static json_t *
scheduler_limit(int limit)
{
	return limit > 0 ? json_integer(limit) : json_null();
}

/* The ledger's records still in the day window, for the drain estimate. */
struct scheduler_drain_recs {
	time_t	 cut;		/* records at or before it have left the day */
	time_t	*t;		/* NULL: only count them */
	long	*units;
	size_t	 n;
};

/* scheduler_drain_rec: one record of a ledger (quota_foreach). */
static void
scheduler_drain_rec(uint64_t id, time_t t, long units, void *arg)
{
	struct scheduler_drain_recs *r = arg;

	if (t <= r->cut)
		return;
	if (r->t != NULL) {
		r->t[r->n] = t;
		r->units[r->n] = units;
	}
	r->n++;
}

/*
 * scheduler_drain_estimate: when the queue should be empty at the accounts' limits,
 * from a forward simulation of their ledgers (drain.c). Held mail is left out: with
 * only held mail, or no account able to send, it is DRAIN_NEVER.
 */
static enum drain_result
scheduler_drain_estimate(struct scheduler *s, time_t now, time_t *at)
{
	size_t msgs = s->wait.n + s->ninflight, rcpts = s->pending_rcpts, nrec;
	struct scheduler_drain_recs count = { now - QUOTA_DAY, NULL, NULL, 0 };
	struct drain_account *da;
	time_t *t;
	long *u;
	enum drain_result r;
	double off = clock_now() - clock_steady();

	*at = now;
	if (s->nids == 0)
		return DRAIN_EMPTY;
	if (msgs == 0)
		return DRAIN_NEVER;	/* all of it held */
	if (s->nids > msgs)	/* held mail's recipients out, pro rata */
		rcpts = (size_t)((double)rcpts * (double)msgs / (double)s->nids + 0.5);
	for (size_t i = 0; i < s->naccounts; i++)
		quota_foreach(s->accounts[i]->quota, scheduler_drain_rec, &count);
	nrec = count.n;
	da = xcalloc(s->naccounts ? s->naccounts : 1, sizeof(*da));
	t = xcalloc(nrec ? nrec : 1, sizeof(*t));
	u = xcalloc(nrec ? nrec : 1, sizeof(*u));
	nrec = 0;
	for (size_t i = 0; i < s->naccounts; i++) {
		const struct sched_account *a = s->accounts[i];
		struct drain_account *d = &da[i];
		struct planner_limits l;
		double free_at = scheduler_account_free_at(a, (double)now);
		struct scheduler_drain_recs recs = { now - QUOTA_DAY, t + nrec, u + nrec, 0 };

		planner_effective(a->cfg, &a->learned, clock_now(), &l);
		d->disabled = free_at == 0;
		/* Throttle or backoff (the quota and window are simulated). */
		d->free_at = a->suspended_until > a->retry_at ? a->suspended_until : a->retry_at;
		d->per_hour = l.per_hour;
		d->per_day = l.per_day;
		d->burst = l.burst;
		d->burst_len = l.burst_len;
		d->cfg = a->cfg;
		d->learned = &a->learned;
		d->window = a->cfg->window;
		d->min_interval = a->cfg->limits.min_interval;
		d->count_recipients = a->cfg->limits.count_recipients;
		d->rec_t = t + nrec;
		d->rec_units = u + nrec;
		quota_foreach(a->quota, scheduler_drain_rec, &recs);
		d->nrec = recs.n;
		nrec += d->nrec;
	}
	r = drain_estimate(da, s->naccounts, now, off, msgs, rcpts, at);
	free(t);
	free(u);
	free(da);
	return r;
}

/* scheduler_drain_note: what the status says when there is no drain time. */
static const char *
scheduler_drain_note(struct scheduler *s, enum drain_result r)
{
	if (r == DRAIN_OVER)
		return "over 60 days";
	if (r != DRAIN_NEVER)
		return NULL;
	return s->wait.n + s->ninflight == 0 ? "all queued mail is held" :
	    "no account can send";
}

/* scheduler_report_closed: append "outside window until 08:00" (its zone's time). */
static void
scheduler_report_closed(const struct sched_account *a, char *buf, size_t len)
{
	const struct sendwindow *w = a->cfg->window;
	int64_t t = (int64_t)a->window_opens;
	time_t local = (time_t)(t + sendwindow_offset(w, t));
	size_t used = strlen(buf);
	char at[32];
	struct tm tm;

	gmtime_r(&local, &tm);
	strftime(at, sizeof(at), a->window_opens - clock_now() < 86400 ? "%H:%M" :
	    "%a %H:%M", &tm);
	snprintf(buf + used, len - used, "%soutside window until %s %s", used ? "; " : "",
	    at, w->zone);
}

/* scheduler_oldest: the wall time the oldest queued message not held was accepted
 * (0: none). O(queue): for metrics and status, not the hot path. */
static time_t
scheduler_oldest(struct scheduler *s)
{
	time_t oldest = 0;

	for (size_t i = 0; i < s->idcap; i++)
		for (struct queue_msg *m = s->ids[i]; m != NULL; m = m->hnext)
			if (!m->held && (oldest == 0 || m->ctime < oldest))
				oldest = m->ctime;
	return oldest;
}

/*
 * scheduler_report_domains: the domains entries' windows (their limits across the
 * accounts), when a recipient there may go next (null: now), and how many messages
 * wait for it.
 */
static json_t *
scheduler_report_domains(struct scheduler *s, time_t now, double off)
{
	json_t *v = json_array();

	for (size_t i = 0; i < scheduler_domain_count(s->domains); i++) {
		const struct config_domain *d;
		long hour, day;
		size_t waiting;
		time_t free_at = scheduler_domain_used(s->domains, i, now, &d, &hour, &day,
		    &waiting);

		json_array_append_new(v, json_pack("{s:s, s:o, s:o, s:s, s:o, s:I}", "match",
		    d->match, "hour", scheduler_window(hour, d->per_hour), "day",
		    scheduler_window(day, d->per_day), "state", free_at > now ? "full" : "ready",
		    "next_free", free_at > now ? json_integer(scheduler_wall((double)free_at,
		    off)) : json_null(), "waiting", (json_int_t)waiting));
	}
	return v;
}

json_t *
scheduler_status(struct scheduler *s)
{
	time_t now = (time_t)clock_steady(), drain, oldest;
	enum drain_result dr = scheduler_drain_estimate(s, now, &drain);
	double off = clock_now() - clock_steady();	/* once: see scheduler_wall */
	const char *note = scheduler_drain_note(s, dr);
	json_t *accts = json_array(), *st;

	for (size_t i = 0; i < s->naccounts; i++) {
		struct sched_account *a = s->accounts[i];
		const struct config_limits *l = &a->cfg->limits;
		const char *state = scheduler_account_state(a, clock_steady());
		struct planner_limits e;
		char why[160];
		long hour, day;
		time_t free_at;
		json_t *o;

		planner_effective(a->cfg, &a->learned, clock_now(), &e);
		planner_explain(a->cfg, &a->learned, clock_now(), why, sizeof(why));
		if (a->closed_until > clock_steady())
			scheduler_report_closed(a, why, sizeof(why));
		quota_used(a->quota, now, &hour, &day);
		free_at = quota_room(a->quota, now) > 0 ? 0 : quota_next_free(a->quota, now, 1);
		o = json_pack("{s:o, s:s, s:o, s:o, s:s, s:i, s:i}", "name",
		    jsonstr_new(a->cfg->name),
		    "state", state, "hour", scheduler_window(hour, e.per_hour),
		    "day", scheduler_window(day, e.per_day), "count", l->count_recipients ?
		    "recipients" : "messages", "sessions", a->nsessions, "busy", a->nbusy);
		json_object_set_new(o, "provider", jsonstr_new(a->cfg->provider));
		json_object_set_new(o, "next_free", free_at ? json_integer(scheduler_wall(
		    (double)free_at, off)) : json_null());
		json_object_set_new(o, "until", json_integer(scheduler_wall(a->suspended_until >
		    now ? a->suspended_until : a->retry_at > now ? a->retry_at : 0, off)));
		json_object_set_new(o, "why", a->why && (a->disabled || a->suspended_until > now ||
		    a->retry_at > now) ? jsonstr_new(a->why) : json_null());
		json_object_set_new(o, "last_reply", jsonstr_new(a->last_reply));
		json_object_set_new(o, "configured", json_pack("{s:o, s:o}", "per_hour",
		    scheduler_limit(l->per_hour), "per_day", scheduler_limit(l->per_day)));
		json_object_set_new(o, "limits_why", why[0] ? jsonstr_new(why) : json_null());
		json_object_set_new(o, "spread", json_boolean(l->spread));
		if (a->shared != NULL) {	/* all hosts (Redis, as said last) and this one */
			json_t *sh = shared_ledger_status(a->shared);

			json_object_set_new(sh, "hour_here", json_integer(hour));
			json_object_set_new(sh, "day_here", json_integer(day));
			json_object_set_new(o, "shared", sh);
		}
		json_object_set_new(o, "disabled_since", a->disabled ? json_integer(
		    scheduler_wall(a->disabled_since, off)) : json_null());
		json_array_append_new(accts, o);
	}
	st = json_pack("{s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:b, s:o, s:o, "
	    "s:I}}", "accounts", accts, "domains", scheduler_report_domains(s, now, off),
	    "shared", s->shared ? shared_status(s->shared) : json_null(),
	    "queue", "total", (json_int_t)s->nids, "waiting",
	    (json_int_t)(s->wait.n - s->wait.ntried), "inflight", (json_int_t)s->ninflight, "held",
	    (json_int_t)s->nheld, "deferred", (json_int_t)s->wait.ntried, "recipients",
	    (json_int_t)s->pending_rcpts, "drain_estimate", dr == DRAIN_AT || dr == DRAIN_EMPTY ?
	    json_integer(scheduler_wall((double)drain, off)) : json_null(), "loading", s->loading,
	    "stalled_since", s->stalled_since > 0 ? json_integer(scheduler_wall(
	    s->stalled_since, off)) : json_null(), "stalled_why", jsonstr_new(s->stall_why),
	    "quarantined", (json_int_t)queue_quarantined(s->q));
	/* drain: "empty", "at" (drain_estimate), "never" or "over" (drain_note says why) */
	json_object_set_new(json_object_get(st, "queue"), "drain", json_string(
	    drain_result_name(dr)));
	json_object_set_new(json_object_get(st, "queue"), "drain_note", note ?
	    json_string(note) : json_null());
	oldest = scheduler_oldest(s);	/* the oldest not held: when it was accepted */
	json_object_set_new(json_object_get(st, "queue"), "oldest", oldest > 0 ?
	    json_integer((json_int_t)oldest) : json_null());
	return st;
}

/* scheduler_family: the HELP and TYPE lines of a metric family. */
static void
scheduler_family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The states relayd_account_state has a series for (scheduler_account_state's). */
static const char *const scheduler_states[] = {
	"ready", "exhausted", "throttled", "backoff", "closed", "disabled",
};

/* scheduler_metrics_accounts: the per-account families. */
static void
scheduler_metrics_accounts(struct scheduler *s, struct evbuffer *out, time_t now)
{
	static const char *const win[] = { "hour", "day" };

	scheduler_family(out, "relayd_account_state", "gauge", "1 for the account's state "
	    "as relayctl status shows it, 0 for the others (ready, exhausted: quota used "
	    "up, throttled: by the provider, backoff: after connection failures, closed: "
	    "outside its send window, disabled).");
	for (size_t i = 0; i < s->naccounts; i++) {
		const char *st = scheduler_account_state(s->accounts[i], clock_steady());

		for (size_t k = 0; k < sizeof(scheduler_states) / sizeof(*scheduler_states); k++)
			evbuffer_add_printf(out, "relayd_account_state{account=\"%s\",state="
			    "\"%s\"} %d\n", s->accounts[i]->cfg->name, scheduler_states[k],
			    strcmp(st, scheduler_states[k]) == 0);
	}
	scheduler_family(out, "relayd_quota_remaining", "gauge", "Quota units (recipients "
	    "or messages, as the account counts) left per account and window under the "
	    "effective limit (absent: no limit).");
	for (size_t i = 0; i < s->naccounts; i++) {
		const struct sched_account *a = s->accounts[i];
		struct planner_limits e;
		long used[2];

		planner_effective(a->cfg, &a->learned, clock_now(), &e);
		quota_used(a->quota, now, &used[0], &used[1]);
		for (int w = 0; w < 2; w++) {
			int lim = w ? e.per_day : e.per_hour;

			if (lim > 0)
				evbuffer_add_printf(out, "relayd_quota_remaining{account=\"%s\","
				    "window=\"%s\"} %ld\n", a->cfg->name, win[w], lim > used[w] ?
				    lim - used[w] : 0);
		}
	}
	scheduler_family(out, "relayd_quota_used", "gauge", "Quota units used per account "
	    "in the sliding hour and day.");
	for (size_t i = 0; i < s->naccounts; i++) {
		long used[2];

		quota_used(s->accounts[i]->quota, now, &used[0], &used[1]);
		for (int w = 0; w < 2; w++)
			evbuffer_add_printf(out, "relayd_quota_used{account=\"%s\",window="
			    "\"%s\"} %ld\n", s->accounts[i]->cfg->name, win[w], used[w]);
	}
	scheduler_family(out, "relayd_quota_limit", "gauge", "Quota units allowed per "
	    "account and window: kind=\"configured\" (relay.conf, its preset) and "
	    "kind=\"effective\" (what is enforced now: learned from throttles, warm-up); "
	    "absent: no limit.");
	for (size_t i = 0; i < s->naccounts; i++) {
		const struct sched_account *a = s->accounts[i];
		struct planner_limits e;

		planner_effective(a->cfg, &a->learned, clock_now(), &e);
		for (int w = 0; w < 2; w++) {
			int conf = w ? a->cfg->limits.per_day : a->cfg->limits.per_hour;
			int eff = w ? e.per_day : e.per_hour;

			if (conf > 0)
				evbuffer_add_printf(out, "relayd_quota_limit{account=\"%s\","
				    "window=\"%s\",kind=\"configured\"} %d\n", a->cfg->name,
				    win[w], conf);
			if (eff > 0)
				evbuffer_add_printf(out, "relayd_quota_limit{account=\"%s\","
				    "window=\"%s\",kind=\"effective\"} %d\n", a->cfg->name,
				    win[w], eff);
		}
	}
	scheduler_family(out, "relayd_messages_sent_total", "counter", "Messages the "
	    "provider accepted (for at least one recipient), per account; one per "
	    "transaction.");
	for (size_t i = 0; i < s->naccounts; i++)
		evbuffer_add_printf(out, "relayd_messages_sent_total{account=\"%s\"} %llu\n",
		    s->accounts[i]->cfg->name, s->accounts[i]->nsent);
	scheduler_family(out, "relayd_recipients_sent_total", "counter", "Recipients the "
	    "provider accepted, per account.");
	for (size_t i = 0; i < s->naccounts; i++)
		evbuffer_add_printf(out, "relayd_recipients_sent_total{account=\"%s\"} %llu\n",
		    s->accounts[i]->cfg->name, s->accounts[i]->nrcpt_sent);
	scheduler_family(out, "relayd_throttle_events_total", "counter", "Throttle replies, "
	    "per account.");
	for (size_t i = 0; i < s->naccounts; i++)
		evbuffer_add_printf(out, "relayd_throttle_events_total{account=\"%s\"} %llu\n",
		    s->accounts[i]->cfg->name, s->accounts[i]->nthrottles);
}

void
scheduler_metrics(struct scheduler *s, struct evbuffer *out)
{
	static const char *states[] = { "waiting", "deferred", "held", "inflight" };
	time_t now = (time_t)clock_steady(), drain, oldest = scheduler_oldest(s);
	enum drain_result dr = scheduler_drain_estimate(s, now, &drain);
	/* Every message is in the heap, in flight, or held (and not in flight). */
	size_t n[4] = { s->wait.n - s->wait.ntried, s->wait.ntried,
	    s->nids - s->wait.n - s->ninflight, s->ninflight };

	/* The queue-wide counters: messages or recipients, as each says. */
	const struct { const char *name, *help; unsigned long long v; } c[] = {
		{ "relayd_messages_received_total", "Messages accepted (250) from clients.",
		  s->nreceived },
		{ "relayd_messages_deferred_total", "Messages deferred: attempts that left "
		  "recipients for a later try (a temporary reply, or no connection), one per "
		  "message and attempt.", s->ndeferred },
		{ "relayd_recipients_deferred_total", "Recipients deferred, one per recipient "
		  "and attempt.", s->nrcpt_deferred },
		{ "relayd_messages_failed_total", "Messages with recipients failed for good "
		  "(refused, or expired), one per message and attempt.", s->nfailed },
		{ "relayd_recipients_failed_total", "Recipients failed for good.",
		  s->nrcpt_failed },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		scheduler_family(out, c[i].name, "counter", c[i].help);
		evbuffer_add_printf(out, "%s %llu\n", c[i].name, c[i].v);
	}
	scheduler_metrics_accounts(s, out, now);
	scheduler_family(out, "relayd_queue_stalled_seconds", "gauge", "How long ready mail "
	    "has waited with every account that could send it disabled (0: not stalled).");
	evbuffer_add_printf(out, "relayd_queue_stalled_seconds %.0f\n", s->stalled_since > 0 ?
	    (double)now - s->stalled_since : 0.0);
	scheduler_family(out, "relayd_queue_messages", "gauge", "Messages in the queue by "
	    "state.");
	for (size_t i = 0; i < 4; i++)
		evbuffer_add_printf(out, "relayd_queue_messages{state=\"%s\"} %zu\n", states[i],
		    n[i]);
	scheduler_family(out, "relayd_queue_oldest_seconds", "gauge", "Age of the oldest "
	    "queued message not held (0: none).");
	evbuffer_add_printf(out, "relayd_queue_oldest_seconds %.0f\n", oldest > 0 &&
	    clock_now() > (double)oldest ? clock_now() - (double)oldest : 0.0);
	scheduler_family(out, "relayd_queue_drain_seconds", "gauge", "Seconds until the "
	    "queue (held mail aside) should be empty at the accounts' limits, by a forward "
	    "simulation of their windows (0: empty; +Inf: never as things are, or over 60 "
	    "days).");
	if (dr == DRAIN_AT || dr == DRAIN_EMPTY)
		evbuffer_add_printf(out, "relayd_queue_drain_seconds %lld\n", (long long)(
		    drain > now ? drain - now : 0));
	else
		evbuffer_add_printf(out, "relayd_queue_drain_seconds +Inf\n");
	scheduler_family(out, "relayd_queue_quarantined", "gauge", "Queue files that failed "
	    "their checks, in quarantine/.");
	evbuffer_add_printf(out, "relayd_queue_quarantined %lu\n", queue_quarantined(s->q));
	if (s->shared != NULL) {
		scheduler_family(out, "relayd_shared_connected", "gauge", "1 while the Redis "
		    "server of the shared accounts answers.");
		evbuffer_add_printf(out, "relayd_shared_connected %d\n", shared_up(s->shared));
	}
}

json_t *
scheduler_history(struct scheduler *s, size_t hours)
{
	time_t now = (time_t)clock_steady();
	double off = clock_now() - clock_steady();
	long counts[QUOTA_DAY / QUOTA_HOUR];	/* the ledger holds a day */
	json_t *accts = json_array();

	if (hours > sizeof(counts) / sizeof(counts[0]))
		hours = sizeof(counts) / sizeof(counts[0]);
	for (size_t i = 0; i < s->naccounts; i++) {
		json_t *sends = json_array();

		quota_by_hour(s->accounts[i]->quota, now, counts, hours);
		for (size_t h = 0; h < hours; h++)
			json_array_append_new(sends, json_integer(counts[h]));
		json_array_append_new(accts, json_pack("{s:o, s:o}", "name",
		    jsonstr_new(s->accounts[i]->cfg->name), "sends", sends));
	}
	return json_pack("{s:I, s:I, s:o}", "end", (json_int_t)scheduler_wall((double)now, off),
	    "hours", (json_int_t)hours, "accounts", accts);
}

/*
 * scheduler_report: what the scheduler tells the operator: relayctl status (accounts,
 * quota windows, the queue's counts, when it should be drained) and the metrics.
 * Both cost O(accounts), whatever the size of the queue: they read counters.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "clock.h"
#include "jsonstr.h"
#include "planner.h"
#include "quota.h"
#include "scheduler.h"
#include "scheduler_int.h"
#include "sendwindow.h"
#include "shared.h"

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

/*
 * scheduler_drain_estimate: when the queue should be empty at the accounts' limits:
 * what they may send now, then their combined sustained rate (the hourly limit, or
 * the daily one spread over the day if that is lower). 0 when no account can send.
 */
static time_t
scheduler_drain_estimate(struct scheduler *s, time_t now)
{
	double room = 0, rate = 0;	/* units now; units per second after */
	size_t units = s->pending_rcpts;
	time_t start = 0, t;
	double r_at;

	if (units == 0)
		return now;
	for (size_t i = 0; i < s->naccounts; i++) {
		const struct sched_account *a = s->accounts[i];
		struct planner_limits l;
		double r;

		if ((r_at = scheduler_account_ready_at(a, now)) == 0)
			continue;	/* disabled */
		t = (time_t)ceil(r_at);
		if (start == 0 || t < start)
			start = t;	/* nothing goes before the first account may send */
		/* The effective limits (learned, not configured): what the ledger holds
		 * to; a learned limit climbing back is not counted on. */
		planner_effective(a->cfg, &a->learned, clock_now(), &l);
		if (l.per_hour == 0 && l.per_day == 0)
			return t;	/* no limit: as fast as it goes */
		room += (double)quota_room(a->quota, now);
		r = l.per_hour > 0 ? l.per_hour / 3600.0 : 1e9;
		if (a->cfg->window != NULL && r < 1e9)	/* it sends only while open */
			r *= sendwindow_share(a->cfg->window);
		if (l.per_day > 0 && l.per_day / 86400.0 < r)
			r = l.per_day / 86400.0;
		rate += r;
	}
	if (rate == 0)
		return 0;
	if (units <= room)
		return start;
	t = now + (time_t)((units - room) / rate + 0.5);
	return t > start ? t : start;
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

json_t *
scheduler_status(struct scheduler *s)
{
	time_t now = (time_t)clock_steady(), drain = scheduler_drain_estimate(s, now);
	double off = clock_now() - clock_steady();	/* once: see scheduler_wall */
	json_t *accts = json_array();

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
	return json_pack("{s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:b, s:o, s:o, s:I}}",
	    "accounts", accts, "shared", s->shared ? shared_status(s->shared) : json_null(),
	    "queue", "total", (json_int_t)s->nids, "waiting",
	    (json_int_t)s->wait.n, "inflight", (json_int_t)s->ninflight, "held",
	    (json_int_t)s->nheld, "deferred", (json_int_t)s->wait.ntried, "recipients",
	    (json_int_t)s->pending_rcpts, "drain_estimate", drain ?
	    json_integer(scheduler_wall((double)drain, off)) : json_null(), "loading", s->loading,
	    "stalled_since", s->stalled_since > 0 ? json_integer(scheduler_wall(
	    s->stalled_since, off)) : json_null(), "stalled_why", jsonstr_new(s->stall_why),
	    "quarantined", (json_int_t)queue_quarantined(s->q));
}

void
scheduler_metrics(struct scheduler *s, struct evbuffer *out)
{
	static const char *states[] = { "waiting", "deferred", "held", "inflight" };
	time_t now = (time_t)clock_steady();
	/* Every message is in the heap, in flight, or held (and not in flight). */
	size_t n[4] = { s->wait.n - s->wait.ntried, s->wait.ntried,
	    s->nids - s->wait.n - s->ninflight, s->ninflight };

	evbuffer_add_printf(out, "# HELP relayd_messages_received_total Messages accepted "
	    "(250) from clients.\n# TYPE relayd_messages_received_total counter\n"
	    "relayd_messages_received_total %llu\n", s->nreceived);
	evbuffer_add_printf(out, "# HELP relayd_messages_sent_total Messages the provider "
	    "accepted, per account.\n# TYPE relayd_messages_sent_total counter\n");
	for (size_t i = 0; i < s->naccounts; i++)
		evbuffer_add_printf(out, "relayd_messages_sent_total{account=\"%s\"} %llu\n",
		    s->accounts[i]->cfg->name, s->accounts[i]->nsent);
	evbuffer_add_printf(out, "# HELP relayd_messages_deferred_total Deferred attempts "
	    "(per recipient).\n# TYPE relayd_messages_deferred_total counter\n"
	    "relayd_messages_deferred_total %llu\n", s->ndeferred);
	evbuffer_add_printf(out, "# HELP relayd_messages_failed_total Recipients failed for "
	    "good.\n# TYPE relayd_messages_failed_total counter\n"
	    "relayd_messages_failed_total %llu\n", s->nfailed);
	evbuffer_add_printf(out, "# HELP relayd_throttle_events_total Throttle replies, per "
	    "account.\n# TYPE relayd_throttle_events_total counter\n");
	for (size_t i = 0; i < s->naccounts; i++)
		evbuffer_add_printf(out, "relayd_throttle_events_total{account=\"%s\"} %llu\n",
		    s->accounts[i]->cfg->name, s->accounts[i]->nthrottles);
	evbuffer_add_printf(out, "# HELP relayd_queue_stalled_seconds How long ready mail "
	    "has waited with every account that could send it disabled (0: not stalled).\n"
	    "# TYPE relayd_queue_stalled_seconds gauge\nrelayd_queue_stalled_seconds %.0f\n",
	    s->stalled_since > 0 ? (double)now - s->stalled_since : 0.0);
	evbuffer_add_printf(out, "# HELP relayd_queue_messages Messages in the queue by "
	    "state.\n# TYPE relayd_queue_messages gauge\n");
	for (size_t i = 0; i < 4; i++)
		evbuffer_add_printf(out, "relayd_queue_messages{state=\"%s\"} %zu\n", states[i],
		    n[i]);
	evbuffer_add_printf(out, "# HELP relayd_queue_quarantined Queue files that failed "
	    "their checks, in quarantine/.\n# TYPE relayd_queue_quarantined gauge\n"
	    "relayd_queue_quarantined %lu\n", queue_quarantined(s->q));
	if (s->shared != NULL)
		evbuffer_add_printf(out, "# HELP relayd_shared_connected 1 while the Redis server "
		    "of the shared accounts answers.\n# TYPE relayd_shared_connected gauge\n"
		    "relayd_shared_connected %d\n", shared_up(s->shared));
	evbuffer_add_printf(out, "# HELP relayd_quota_remaining Quota units left per account "
	    "and window (absent: no limit).\n# TYPE relayd_quota_remaining gauge\n");
	for (size_t i = 0; i < s->naccounts; i++) {
		const struct sched_account *a = s->accounts[i];
		struct planner_limits e;
		long hour, day;

		planner_effective(a->cfg, &a->learned, clock_now(), &e);
		quota_used(a->quota, now, &hour, &day);
		if (e.per_hour > 0)
			evbuffer_add_printf(out, "relayd_quota_remaining{account=\"%s\",window="
			    "\"hour\"} %ld\n", a->cfg->name, e.per_hour > hour ?
			    e.per_hour - hour : 0);
		if (e.per_day > 0)
			evbuffer_add_printf(out, "relayd_quota_remaining{account=\"%s\",window="
			    "\"day\"} %ld\n", a->cfg->name, e.per_day > day ?
			    e.per_day - day : 0);
	}
}

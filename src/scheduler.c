/*
 * scheduler: the waiting room between the spool and the upstream sessions.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "bounce_store.h"
#include "log.h"
#include "scheduler.h"
#include "tls.h"
#include "upstream.h"
#include "xmalloc.h"

struct scheduler {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct config		*cfg;
	struct queue		*q;
	struct bounce_store	*bounces;
	struct sched_account	*accounts;
	size_t			 naccounts;
	struct queue_msg	**heap;		/* waiting messages, earliest next_try first */
	size_t			 nheap, heapcap;
	size_t			 ninflight;
	struct event		*timer;
	int			 kicking;
};

static void scheduler_kick(struct scheduler *);
static void scheduler_log(const struct queue_msg *, size_t, const struct sched_account *,
    const char *, const char *, const char *);

/* Heap of waiting messages, keyed by next_try; each message knows its slot. */

static void
scheduler_heap_set(struct scheduler *s, size_t i, struct queue_msg *m)
{
	s->heap[i] = m;
	m->sched_index = i;
}

static void
scheduler_heap_up(struct scheduler *s, size_t i)
{
	struct queue_msg *m = s->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (s->heap[p]->next_try <= m->next_try)
			break;
		scheduler_heap_set(s, i, s->heap[p]);
		i = p;
	}
	scheduler_heap_set(s, i, m);
}

static void
scheduler_heap_down(struct scheduler *s, size_t i)
{
	struct queue_msg *m = s->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && s->heap[c + 1]->next_try < s->heap[c]->next_try)
			c++;
		if (m->next_try <= s->heap[c]->next_try)
			break;
		scheduler_heap_set(s, i, s->heap[c]);
		i = c;
	}
	scheduler_heap_set(s, i, m);
}

static void
scheduler_heap_push(struct scheduler *s, struct queue_msg *m)
{
	if (s->nheap == s->heapcap) {
		s->heapcap = s->heapcap ? s->heapcap * 2 : 64;
		s->heap = xreallocarray(s->heap, s->heapcap, sizeof(*s->heap));
	}
	s->heap[s->nheap] = m;
	scheduler_heap_up(s, s->nheap++);
}

static void
scheduler_heap_remove(struct scheduler *s, struct queue_msg *m)
{
	size_t i = m->sched_index;
	struct queue_msg *last = s->heap[--s->nheap];

	m->sched_index = (size_t)-1;
	if (i == s->nheap)
		return;
	scheduler_heap_set(s, i, last);
	scheduler_heap_down(s, i);
	scheduler_heap_up(s, last->sched_index);
}

static void
scheduler_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	scheduler_kick(arg);
}

struct scheduler *
scheduler_new(struct event_base *base, struct evdns_base *dns, struct config *cfg,
    struct queue *q)
{
	struct scheduler *s = xcalloc(1, sizeof(*s));

	s->base = base;
	s->dns = dns;
	s->cfg = cfg;
	s->q = q;
	s->naccounts = cfg->naccounts;
	s->accounts = xcalloc(s->naccounts, sizeof(*s->accounts));
	for (size_t i = 0; i < s->naccounts; i++) {
		struct sched_account *a = &s->accounts[i];

		a->cfg = &cfg->accounts[i];
		if (a->cfg->tls != CONFIG_TLS_NONE &&
		    (a->ssl_ctx = tls_client_ctx(a->cfg->ca_file)) == NULL) {
			scheduler_free(s);
			return NULL;
		}
	}
	s->timer = evtimer_new(base, scheduler_timer_cb, s);
	return s;
}

void
scheduler_free(struct scheduler *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->naccounts; i++) {
		struct sched_account *a = &s->accounts[i];

		while (a->nsessions > 0)
			upstream_stop(a->sess[a->nsessions - 1]);
		SSL_CTX_free(a->ssl_ctx);
		free(a->why);
		free(a->last_reply);
	}
	for (size_t i = 0; i < s->nheap; i++)
		queue_msg_free(s->heap[i]);
	free(s->heap);
	free(s->accounts);
	if (s->timer != NULL)
		event_free(s->timer);
	free(s);
}

size_t
scheduler_count(struct scheduler *s)
{
	return s->nheap + s->ninflight;
}

/* scheduler_account_state: "ready", "throttled", "disabled" or "backoff". */
static const char *
scheduler_account_state(const struct sched_account *a, time_t now)
{
	if (a->disabled)
		return "disabled";
	if (a->suspended_until > now)
		return "throttled";
	if (a->retry_at > now)
		return "backoff";
	return "ready";
}

json_t *
scheduler_status(struct scheduler *s)
{
	time_t now = time(NULL);
	json_t *accts = json_array();
	size_t deferred = 0;

	for (size_t i = 0; i < s->naccounts; i++) {
		struct sched_account *a = &s->accounts[i];
		json_t *o = json_pack("{s:s, s:s, s:i, s:i}", "name", a->cfg->name, "state",
		    scheduler_account_state(a, now), "sessions", a->nsessions, "busy", a->nbusy);

		json_object_set_new(o, "until", json_integer(a->suspended_until > now ?
		    a->suspended_until : a->retry_at > now ? a->retry_at : 0));
		json_object_set_new(o, "why", a->why && (a->disabled || a->suspended_until > now ||
		    a->retry_at > now) ? json_string(a->why) : json_null());
		json_object_set_new(o, "last_reply", a->last_reply ? json_string(a->last_reply) :
		    json_null());
		json_array_append_new(accts, o);
	}
	for (size_t i = 0; i < s->nheap; i++)
		deferred += s->heap[i]->attempts > 0;
	return json_pack("{s:o, s:{s:I, s:I, s:I, s:I}}", "accounts", accts, "queue",
	    "total", (json_int_t)(s->nheap + s->ninflight), "waiting", (json_int_t)s->nheap,
	    "inflight", (json_int_t)s->ninflight, "deferred", (json_int_t)deferred);
}

void
scheduler_add(struct scheduler *s, struct queue_msg *m)
{
	m->inflight = 0;
	scheduler_heap_push(s, m);
	scheduler_kick(s);
}

void
scheduler_msg_loaded(struct queue_msg *m, void *arg)
{
	struct scheduler *s = arg;

	m->next_try = 0;	/* everything queued is attempted right away at start-up */
	scheduler_heap_push(s, m);
}

void
scheduler_run(struct scheduler *s)
{
	scheduler_kick(s);
}

/* scheduler_account_usable: may this account start sending now? */
static int
scheduler_account_usable(const struct sched_account *a, time_t now)
{
	return !a->disabled && a->suspended_until <= now && a->retry_at <= now;
}

/* scheduler_arm: set the timer for the earliest moment something can move. */
static void
scheduler_arm(struct scheduler *s, time_t now)
{
	time_t when = 0;

	if (s->nheap == 0) {
		evtimer_del(s->timer);
		return;
	}
	when = s->heap[0]->next_try;
	if (when <= now) {
		/* Mail is ready but no account may send: wake when the first one may. */
		when = 0;
		for (size_t i = 0; i < s->naccounts; i++) {
			const struct sched_account *a = &s->accounts[i];
			time_t t = a->suspended_until > a->retry_at ?
			    a->suspended_until : a->retry_at;

			if (a->disabled || t <= now)
				continue;
			if (when == 0 || t < when)
				when = t;
		}
		if (when == 0) {	/* waiting for a session, or all disabled */
			evtimer_del(s->timer);
			return;
		}
	}
	struct timeval tv = { .tv_sec = when > now ? when - now : 0 };
	evtimer_add(s->timer, &tv);
}

/* scheduler_kick: hand ready mail to the first account able to send it. */
static void
scheduler_kick(struct scheduler *s)
{
	time_t now = time(NULL);

	if (s->kicking)
		return;
	s->kicking = 1;
	if (s->nheap > 0 && s->heap[0]->next_try <= now) {
		for (size_t i = 0; i < s->naccounts; i++) {
			struct sched_account *a = &s->accounts[i];

			if (!scheduler_account_usable(a, now))
				continue;
			int j;

			for (j = 0; j < a->nsessions && !upstream_is_idle(a->sess[j]); j++)
				;
			if (j < a->nsessions)
				upstream_wake(a->sess[j]);
			else if (a->nsessions == a->nbusy && a->nsessions < a->cfg->sessions) {
				/* Sessions open one at a time, and only when all are busy. */
				a->sess[a->nsessions++] = upstream_new(s, a, s->base, s->dns,
				    s->cfg->hostname);
			}
			break;	/* the first usable account takes the mail */
		}
	}
	s->kicking = 0;
	scheduler_arm(s, now);
}

/*
 * scheduler_drop_suppressed: fail the recipients of m that are on the suppression
 * list (they hard-bounced since m was queued). Returns 1 if m is finished and freed.
 */
static int
scheduler_drop_suppressed(struct scheduler *s, struct queue_msg *m)
{
	char why[256];

	for (size_t i = 0; i < m->nrcpt; i++) {
		if (m->rcpts[i].state != QUEUE_RCPT_PENDING ||
		    !bounce_store_suppressed(s->bounces, m->rcpts[i].addr, why, sizeof(why)))
			continue;
		scheduler_log(m, i, NULL, NULL, "failed", why);
		if (queue_msg_rcpt_done(s->q, m, i, QUEUE_RCPT_FAILED, "none", why)) {
			log_info("%s: removed", m->id);
			queue_msg_free(m);
			return 1;
		}
	}
	return 0;
}

struct queue_msg *
scheduler_take(struct scheduler *s, struct sched_account *a)
{
	time_t now = time(NULL);
	struct queue_msg *m;

again:
	if (s->nheap == 0 || s->heap[0]->next_try > now || !scheduler_account_usable(a, now))
		return NULL;
	m = s->heap[0];
	scheduler_heap_remove(s, m);
	if (scheduler_drop_suppressed(s, m))
		goto again;
	m->inflight = 1;
	s->ninflight++;
	a->nbusy++;
	return m;
}

void
scheduler_set_bounces(struct scheduler *s, struct bounce_store *b)
{
	s->bounces = b;
}

int
scheduler_msg_open(struct scheduler *s, const struct queue_msg *m)
{
	return queue_msg_open(s->q, m);
}

/* scheduler_backoff: delay before attempt n+1: initial doubling to max, +-10%. */
static time_t
scheduler_backoff(int initial, int max, int n)
{
	double d = initial * pow(2.0, n > 30 ? 30 : n);

	if (d > max)
		d = max;
	d *= 0.9 + 0.2 * (arc4random() / (double)UINT32_MAX);
	return d < 1 ? 1 : (time_t)(d + 0.5);	/* rounded: jitter never shortens a step */
}

/* scheduler_log: one delivery log line for one recipient. */
static void
scheduler_log(const struct queue_msg *m, size_t idx, const struct sched_account *a,
    const char *relay, const char *status, const char *reply)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	log_info("%s: to=<%s> account=%s relay=%s delay=%.2f status=%s (%s)", m->id,
	    m->rcpts[idx].addr, a ? a->cfg->name : "none", relay ? relay : "none",
	    tv.tv_sec + tv.tv_usec / 1e6 - m->t_received, status, reply);
}

/* scheduler_suspend: the provider told the account to slow down, or refused it. */
static void
scheduler_suspend(struct scheduler *s, struct sched_account *a, enum outcome_action act,
    const char *reason)
{
	time_t now = time(NULL);

	free(a->why);
	a->why = xstrdup(reason);
	if (act == OUTCOME_DISABLE) {
		a->disabled = 1;
		log_err("account=%s status=disabled (%s): it sends nothing until its "
		    "configuration changes", a->cfg->name, reason);
		return;
	}
	/* Throttle: the retry schedule until the per-account backoff of the quota work. */
	a->failures++;
	a->suspended_until = now + scheduler_backoff(s->cfg->retry_initial,
	    s->cfg->retry_max, a->failures - 1);
	log_warn("account=%s status=throttled until=%lld (%s)", a->cfg->name,
	    (long long)a->suspended_until, reason);
}

void
scheduler_done(struct scheduler *s, struct sched_account *a, struct queue_msg *m,
    const struct sched_rcpt_result *res, size_t n, const char *relay)
{
	time_t now = time(NULL);
	const char *retry_reply = NULL;
	int requeue = 0, finished = 0;

	a->nbusy--;
	s->ninflight--;
	m->inflight = 0;
	for (size_t i = 0; i < n && !finished; i++) {
		const struct sched_rcpt_result *r = &res[i];
		enum outcome_action act = r->action;

		free(a->last_reply);
		a->last_reply = xstrdup(r->reply);
		char *expired = NULL;

		if (act == OUTCOME_RETRY && now - m->ctime > s->cfg->retry_lifetime) {
			expired = xasprintf("gave up after %llds in the queue (retry lifetime "
			    "%ds); last reply: %s", (long long)(now - m->ctime),
			    s->cfg->retry_lifetime, r->reply);
			act = OUTCOME_FAIL;
		}
		switch (act) {
		case OUTCOME_SENT:
			a->failures = 0;
			scheduler_log(m, r->idx, a, relay, "sent", r->reply);
			bounce_store_sent(s->bounces, m, r->idx, a->cfg->name);
			finished = queue_msg_rcpt_done(s->q, m, r->idx, QUEUE_RCPT_SENT,
			    a->cfg->name, r->reply);
			break;
		case OUTCOME_FAIL:
			scheduler_log(m, r->idx, a, relay, "failed", expired ? expired : r->reply);
			finished = queue_msg_rcpt_done(s->q, m, r->idx, QUEUE_RCPT_FAILED,
			    a->cfg->name, expired ? expired : r->reply);
			break;
		case OUTCOME_RETRY:
			scheduler_log(m, r->idx, a, relay, "deferred", r->reply);
			retry_reply = r->reply;
			break;
		case OUTCOME_THROTTLE:
		case OUTCOME_DISABLE:
			/* Not the message's fault: it goes back untouched, not counted. */
			if (!requeue)
				scheduler_suspend(s, a, act, r->reply);
			scheduler_log(m, r->idx, a, relay, "deferred", act == OUTCOME_THROTTLE ?
			    "account throttled by the provider" : "account disabled");
			requeue = 1;
			break;
		}
		free(expired);
	}
	if (finished) {
		log_info("%s: removed", m->id);
		queue_msg_free(m);
	} else {
		if (retry_reply != NULL)
			queue_msg_deferred(s->q, m, now + scheduler_backoff(s->cfg->retry_initial,
			    s->cfg->retry_max, m->attempts), retry_reply);
		scheduler_heap_push(s, m);
	}
	scheduler_kick(s);
}

void
scheduler_session_ready(struct scheduler *s, struct sched_account *a)
{
	a->failures = 0;
	a->retry_at = 0;
}

void
scheduler_session_failed(struct scheduler *s, struct sched_account *a,
    enum outcome_action act, const char *reason, const char *relay)
{
	time_t now = time(NULL), until;

	free(a->last_reply);
	a->last_reply = xstrdup(reason);
	if (act == OUTCOME_THROTTLE || act == OUTCOME_DISABLE) {
		scheduler_suspend(s, a, act, reason);
		until = a->suspended_until;
	} else {
		a->failures++;
		a->retry_at = now + scheduler_backoff(s->cfg->retry_initial,
		    s->cfg->retry_max, a->failures - 1);
		free(a->why);
		a->why = xstrdup(reason);
		until = a->retry_at;
	}
	/* Show the trouble under the first waiting message's id: its story is whole. */
	if (s->nheap > 0 && s->heap[0]->next_try <= now) {
		struct queue_msg *m = s->heap[0];

		for (size_t i = 0; i < m->nrcpt; i++)
			if (m->rcpts[i].state == QUEUE_RCPT_PENDING)
				scheduler_log(m, i, a, relay, "deferred", reason);
		if (act == OUTCOME_RETRY) {	/* a throttle is not the message's attempt */
			queue_msg_deferred(s->q, m, until, reason);
			scheduler_heap_down(s, 0);
		}
	} else if (act == OUTCOME_RETRY)
		log_warn("account=%s relay=%s status=deferred (%s)", a->cfg->name,
		    relay ? relay : "none", reason);
}

void
scheduler_session_closed(struct scheduler *s, struct sched_account *a, struct upstream *u)
{
	for (int i = 0; i < a->nsessions; i++)
		if (a->sess[i] == u) {
			a->sess[i] = a->sess[--a->nsessions];
			break;
		}
	scheduler_kick(s);
}

/*
 * scheduler: the waiting room between the spool and the upstream sessions.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "bounce_store.h"
#include "clock.h"
#include "events.h"
#include "jsonstr.h"
#include "log.h"
#include "scheduler.h"
#include "scheduler_int.h"
#include "tls.h"
#include "upstream.h"
#include "xmalloc.h"

struct queue *
scheduler_queue(struct scheduler *s)
{
	return s->q;
}

/* scheduler_forget: m leaves the scheduler for good (finished or deleted); freed. */
static void
scheduler_forget(struct scheduler *s, struct queue_msg *m)
{
	scheduler_domain_set_waiting(s->domains, m, -1);
	scheduler_id_remove(s, m);
	queue_msg_free(m);
}

/* The default transport: upstream.c's sessions over the network. */

/* scheduler_retired: has account a left the configuration (for upstream_cb)? */
static int
scheduler_retired(struct scheduler *s, struct sched_account *a)
{
	return a->retired;
}

/* How upstream's sessions report back (upstream.h): upstream never calls us by name. */
static const struct upstream_cb scheduler_upstream_cb = {
	.take = scheduler_take,
	.msg_open = scheduler_msg_open,
	.done = scheduler_done,
	.ready = scheduler_session_ready,
	.failed = scheduler_session_failed,
	.closed = scheduler_session_closed,
	.retired = scheduler_retired,
};

static struct upstream *
scheduler_upstream_start(struct scheduler *s, struct sched_account *a, void *arg)
{
	return upstream_new(&scheduler_upstream_cb, s, a, a->cfg, a->ssl_ctx, s->base, s->dns,
	    s->cfg->hostname);
}

static void
scheduler_upstream_wake(struct upstream *u, void *arg)
{
	upstream_wake(u);
}

static int
scheduler_upstream_is_idle(const struct upstream *u, void *arg)
{
	return upstream_is_idle(u);
}

static void
scheduler_upstream_stop(struct upstream *u, void *arg)
{
	upstream_stop(u);
}

static const struct scheduler_transport scheduler_upstream = {
	.start = scheduler_upstream_start,
	.wake = scheduler_upstream_wake,
	.is_idle = scheduler_upstream_is_idle,
	.stop = scheduler_upstream_stop,
};

void
scheduler_set_transport(struct scheduler *s, const struct scheduler_transport *tr, void *arg)
{
	s->tr = tr;
	s->tr_arg = arg;
}

double
scheduler_wakeup(const struct scheduler *s)
{
	return s->wake_at;
}

/* scheduler_account_stop: end the account's sessions now (shutdown) and free it. */
static void
scheduler_account_stop(struct scheduler *s, struct sched_account *a)
{
	while (a->nsessions > 0)
		s->tr->stop(a->sess[a->nsessions - 1], s->tr_arg);
	scheduler_account_free(a);
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
	time_t now = (time_t)clock_steady();

	s->base = base;
	s->dns = dns;
	s->cfg = cfg;
	s->q = q;
	s->accounts = xcalloc(cfg->naccounts, sizeof(*s->accounts));
	for (size_t i = 0; i < cfg->naccounts; i++) {
		if ((s->accounts[i] = scheduler_account_new(&cfg->accounts[i], cfg, now)) == NULL) {
			scheduler_free(s);
			return NULL;
		}
		s->naccounts++;
	}
	if ((s->domains = scheduler_domain_new(cfg, NULL, now)) == NULL) {
		scheduler_free(s);
		return NULL;
	}
	if (base != NULL)
		s->timer = evtimer_new(base, scheduler_timer_cb, s);
	s->tr = &scheduler_upstream;
	return s;
}

void
scheduler_free(struct scheduler *s)
{
	struct sched_account **retired;
	size_t nretired;

	if (s == NULL)
		return;
	retired = s->retired;
	nretired = s->nretired;

	/* Off the list first: the last session of a retired account closing would free
	 * it (scheduler_session_closed) under scheduler_account_stop. */
	s->retired = NULL;
	s->nretired = 0;
	for (size_t i = 0; i < s->naccounts; i++)
		scheduler_account_stop(s, s->accounts[i]);
	for (size_t i = 0; i < nretired; i++)
		scheduler_account_stop(s, retired[i]);
	scheduler_log_flush();
	free(retired);
	for (size_t i = 0; i < s->idcap; i++)	/* every message: it owns them all */
		for (struct queue_msg *m = s->ids[i], *next; m != NULL; m = next) {
			next = m->hnext;
			queue_msg_free(m);
		}
	free(s->ids);
	scheduler_heap_free(&s->wait);
	free(s->accounts);
	scheduler_domain_free(s->domains);
	free(s->stall_why);
	if (s->timer != NULL)
		event_free(s->timer);
	free(s);
}

size_t
scheduler_count(struct scheduler *s)
{
	return s->nids;
}

void
scheduler_set_bounces(struct scheduler *s, struct bounce_store *b)
{
	s->bounces = b;
}

/* scheduler_shared_changed: the shared ledger has news (a grant, Redis came or went). */
static void
scheduler_shared_changed(void *arg)
{
	scheduler_kick(arg);
}

/* scheduler_shared_state: another host throttled, disabled or enabled an account. */
static void
scheduler_shared_state(void *arg, const char *address, enum shared_ledger_kind k,
    double until, const char *reason, const char *host)
{
	struct scheduler *s = arg;

	for (size_t i = 0; i < s->naccounts; i++)
		if (s->accounts[i]->shared != NULL &&
		    strcasecmp(s->accounts[i]->cfg->address, address) == 0)
			scheduler_account_shared(s->accounts[i], k, until, reason, host);
	scheduler_kick(s);
}

void
scheduler_share(struct scheduler *s, struct sched_account *a)
{
	const struct shared_ledger_cb cb = { scheduler_shared_changed, scheduler_shared_state,
	    s };

	if (a->shared != NULL && !(s->shared != NULL && a->cfg->shared)) {
		shared_ledger_free(a->shared);
		a->shared = NULL;
	}
	if (a->shared == NULL && s->shared != NULL && a->cfg->shared)
		a->shared = shared_ledger_new(s->shared, a->cfg->address, a->quota, &cb);
}

void
scheduler_set_shared(struct scheduler *s, struct shared *sh)
{
	s->shared = sh;
	for (size_t i = 0; i < s->naccounts; i++)
		scheduler_share(s, s->accounts[i]);
}

void
scheduler_set_loading(struct scheduler *s, int on)
{
	s->loading = on;
}

int
scheduler_loading(const struct scheduler *s)
{
	return s->loading;
}

int
scheduler_msg_open(struct scheduler *s, const struct queue_msg *m)
{
	return queue_msg_open(s->q, m);
}

/* scheduler_pending: recipients of m not yet done. */
static size_t
scheduler_pending(const struct queue_msg *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nrcpt; i++)
		n += m->rcpts[i].state == QUEUE_RCPT_PENDING;
	return n;
}

void
scheduler_add(struct scheduler *s, struct queue_msg *m)
{
	s->nreceived++;
	m->inflight = 0;
	/* Ready from now: behind what was ready before (a deferred message whose time
	 * has come), and in arrival order among what arrives in the same second. */
	m->next_try = (time_t)clock_steady();
	s->pending_rcpts += scheduler_pending(m);
	scheduler_id_insert(s, m);
	scheduler_heap_push(&s->wait, m);
	scheduler_kick(s);
}

void
scheduler_msg_loaded(struct queue_msg *m, void *arg)
{
	struct scheduler *s = arg;

	m->next_try = 0;	/* everything queued is attempted right away at start-up */
	s->pending_rcpts += scheduler_pending(m);
	scheduler_id_insert(s, m);
	if (m->held)
		s->nheld++;
	else
		scheduler_heap_push(&s->wait, m);
}

int
scheduler_hold(struct scheduler *s, struct queue_msg *m, int on)
{
	if (m->held == on || m->deleted)
		return 0;
	queue_msg_hold(s->q, m, on);
	if (on) {
		s->nheld++;
		scheduler_domain_set_waiting(s->domains, m, -1);	/* held, not waiting */
		if (!m->inflight)	/* an attempt in flight ends first */
			scheduler_heap_remove(&s->wait, m);
	} else {
		s->nheld--;
		if (!m->inflight) {
			m->next_try = 0;
			scheduler_heap_push(&s->wait, m);
			scheduler_kick(s);
		}
	}
	log_info("%s: %s by relayctl", m->id, on ? "held" : "released");
	return 1;
}

/* scheduler_drop: carry out relayctl queue delete on m, which is not in flight. */
static void
scheduler_drop(struct scheduler *s, struct queue_msg *m)
{
	if (m->held)
		s->nheld--;
	else if (m->sched_index != (size_t)-1)
		scheduler_heap_remove(&s->wait, m);
	s->pending_rcpts -= scheduler_pending(m);
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpts[i].state == QUEUE_RCPT_PENDING)
			events_emit_rcpt(EVENTS_FAILED, m, i, NULL, json_pack("{s:s, s:s, s:b}",
			    "reason", "deleted", "reply", "removed by relayctl queue delete",
			    "permanent", 1));
	queue_msg_remove(s->q, m);
	log_info("%s: removed by relayctl (queue delete)", m->id);
	scheduler_forget(s, m);
}

void
scheduler_delete(struct scheduler *s, struct queue_msg *m)
{
	if (m->inflight)
		m->deleted = 1;		/* dropped when its attempt ends */
	else
		scheduler_drop(s, m);
}

size_t
scheduler_flush(struct scheduler *s)
{
	time_t now = (time_t)clock_steady();
	size_t n = 0;

	for (size_t i = 0; i < s->wait.n; i++)
		if (s->wait.v[i]->next_try > now) {
			s->wait.v[i]->next_try = 0;
			n++;
		}
	/* Keys only went down, each to 0: rebuild the heap from the bottom up. */
	scheduler_heap_rebuild(&s->wait);
	for (size_t i = 0; i < s->naccounts; i++)	/* connection backoff too, not throttles */
		s->accounts[i]->retry_at = 0;
	log_info("flush: %zu deferred message(s) to be attempted now", n);
	scheduler_kick(s);
	return n;
}

void
scheduler_run(struct scheduler *s)
{
	scheduler_kick(s);
}



/*
 * scheduler_rcpt_done: a recipient is finished (sent or failed) and logged. Returns 1
 * when that finished the message: its file is gone and it is freed.
 */
static int
scheduler_rcpt_done(struct scheduler *s, struct queue_msg *m, size_t idx,
    enum queue_rcpt_state st, const char *account, const char *reply)
{
	s->pending_rcpts--;
	if (!queue_msg_rcpt_done(s->q, m, idx, st, account, reply))
		return 0;
	log_info("%s: removed", m->id);
	if (m->inflight) {
		m->inflight = 0;
		s->ninflight--;
	}
	scheduler_forget(s, m);
	return 1;
}

/* scheduler_fail_all: every pending recipient of m fails with why (m is freed). */
static void
scheduler_fail_all(struct scheduler *s, struct queue_msg *m, const char *why)
{
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpts[i].state == QUEUE_RCPT_PENDING) {
			scheduler_log(m, i, NULL, NULL, "failed", why);
			events_emit_rcpt(EVENTS_FAILED, m, i, NULL, json_pack("{s:s, s:o, s:b}",
			    "reason", "undeliverable", "reply", jsonstr_new(why), "permanent", 1));
			if (scheduler_rcpt_done(s, m, i, QUEUE_RCPT_FAILED, "none", why))
				return;
		}
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
		events_emit_rcpt(EVENTS_SUPPRESSED, m, i, NULL, json_pack("{s:o}", "reason",
		    jsonstr_new(why)));
		if (scheduler_rcpt_done(s, m, i, QUEUE_RCPT_FAILED, "none", why))
			return 1;
	}
	return 0;
}

/* scheduler_collect_idle: scheduler_foreach's callback gathering what is not in flight. */
static void
scheduler_collect_idle(struct queue_msg *m, void *arg)
{
	struct { struct queue_msg **v; size_t n; } *c = arg;

	if (!m->inflight && !m->deleted)
		c->v[c->n++] = m;
}

size_t
scheduler_drop_suppressed_queued(struct scheduler *s)
{
	struct { struct queue_msg **v; size_t n; } c = { xcalloc(s->nids + 1,
	    sizeof(*c.v)), 0 };
	size_t dropped = 0;
	char why[256];

	/* Collected first: a finished message leaves the table being walked. */
	scheduler_foreach(s, scheduler_collect_idle, &c);
	for (size_t k = 0; k < c.n; k++) {
		struct queue_msg *m = c.v[k];
		size_t n = 0;
		int held = m->held;

		for (size_t i = 0; i < m->nrcpt; i++)
			n += m->rcpts[i].state == QUEUE_RCPT_PENDING &&
			    bounce_store_suppressed(s->bounces, m->rcpts[i].addr, why, sizeof(why));
		if (n == 0)
			continue;
		dropped += n;
		if (held)
			s->nheld--;
		else
			scheduler_heap_remove(&s->wait, m);
		if (scheduler_drop_suppressed(s, m))
			continue;	/* finished and freed */
		if (held)
			s->nheld++;
		else
			scheduler_heap_push(&s->wait, m);
	}
	free(c.v);
	scheduler_log_flush();
	return dropped;
}

/* scheduler_arm: set the timer for when; 0 stops it. */
static void
scheduler_arm(struct scheduler *s, double when, double now)
{
	double d = when - now;

	s->wake_at = when;
	if (s->timer == NULL)
		return;
	if (when == 0) {
		evtimer_del(s->timer);
		return;
	}
	if (d < 0)
		d = 0;
	struct timeval tv = { .tv_sec = (time_t)d, .tv_usec = (suseconds_t)((d -
	    (double)(time_t)d) * 1e6) + 1 };	/* +1 us: never a hair early */
	evtimer_add(s->timer, &tv);
}

/*
 * scheduler_kick_soon: kick on the next turn of the loop (a zero timeout; without an
 * event base, scheduler_wakeup says now). What the sessions report (take, done,
 * closed) comes from inside a kick's own call chain, or from a session's callbacks
 * while the scheduler may be stopping: never a kick from there.
 */
static void
scheduler_kick_soon(struct scheduler *s)
{
	double now = clock_steady();

	scheduler_arm(s, now, now);
}

/*
 * scheduler_start_on: make account a send: wake an idle session (returns 1; it may
 * have taken the first waiting message already), or open sessions, up to the
 * account's sessions, as many as there is waiting mail and quota for (returns 0).
 */
static int
scheduler_start_on(struct scheduler *s, struct sched_account *a, double now)
{
	long room = quota_room(a->quota, (time_t)now);
	/* With min_interval one transaction at a time is all the account may do; after
	 * a throttle one probes until a message goes through. */
	int j, want = a->cfg->limits.min_interval > 0 || a->throttles > 0 ? 1 :
	    a->cfg->sessions;

	scheduler_account_quota_event(a, now);	/* room again after running out? */
	for (j = 0; j < a->nsessions && !s->tr->is_idle(a->sess[j], s->tr_arg); j++)
		;
	if (j < a->nsessions) {
		s->tr->wake(a->sess[j], s->tr_arg);
		return 1;
	}
	/* None idle: those not busy are connecting. */
	while (a->nsessions < want && (size_t)(a->nsessions - a->nbusy) < s->wait.n &&
	    a->nsessions - a->nbusy < room)
		a->sess[a->nsessions++] = s->tr->start(s, a, s->tr_arg);
	return 0;
}

/*
 * scheduler_choose: the account that sends m: the first in config order that takes
 * a message this big and is not stopped (disabled, throttled, backed off, out of
 * quota); or NULL when it may not send yet (its min_interval: waiting that out is
 * no reason to spill over) or none may. Then *when is the first moment one may (0:
 * none ever will: all disabled), and *fits says whether any account takes m at all.
 */
static struct sched_account *
scheduler_choose(struct scheduler *s, const struct queue_msg *m, double now, double *when,
    int *fits)
{
	*when = 0;
	*fits = 0;
	for (size_t i = 0; i < s->naccounts; i++) {
		struct sched_account *a = s->accounts[i];
		double t;

		if (!scheduler_account_fits(a, m))
			continue;
		*fits = 1;
		if ((t = scheduler_account_free_at(a, now)) == 0)
			continue;	/* disabled */
		if (t <= now) {		/* this account has the mail */
			if ((t = scheduler_account_ready_at(a, now)) <= now)
				return a;
			if (*when == 0 || t < *when)
				*when = t;
			return NULL;
		}
		if (*when == 0 || t < *when)
			*when = t;
	}
	return NULL;
}

/*
 * scheduler_stalled: mail is ready and no account will ever send it as things are
 * (every one that takes it is disabled). Nothing is lost: it waits. The operator is
 * told: status says since when and why, the metric shows it, and a warning is
 * logged now and every SCHED_STALL_WARN seconds. Returns when to warn next.
 */
static double
scheduler_stalled(struct scheduler *s, double now)
{
	const char *why = NULL;

	if (s->stalled_since == 0) {
		s->stalled_since = now;
		s->stall_warned = 0;
	}
	for (size_t i = 0; i < s->naccounts && why == NULL; i++)
		why = s->accounts[i]->why;
	free(s->stall_why);
	s->stall_why = xasprintf("no account can send: all are disabled%s%s",
	    why ? "; first reason: " : "", why ? why : "");
	if (now >= s->stall_warned + SCHED_STALL_WARN) {
		log_warn("queue stalled for %.0fs: %zu message(s) wait (%s); fix the accounts "
		    "or relayctl enable NAME", now - s->stalled_since, s->nids, s->stall_why);
		s->stall_warned = now;
	}
	return s->stall_warned + SCHED_STALL_WARN;
}

/* scheduler_unstalled: an account may send again. */
static void
scheduler_unstalled(struct scheduler *s)
{
	if (s->stalled_since == 0)
		return;
	log_info("queue no longer stalled after %.0fs: an account may send",
	    clock_steady() - s->stalled_since);
	s->stalled_since = 0;
	free(s->stall_why);
	s->stall_why = NULL;
}

/*
 * scheduler_wait_domain: m (out of the heap) waits until t for domains entry k (-1:
 * none known): put back, which is not an attempt. Logged as it starts waiting.
 */
static void
scheduler_wait_domain(struct scheduler *s, struct queue_msg *m, double t, int k)
{
	m->next_try = (time_t)ceil(t);
	if (k >= 0 && m->domain_wait != k + 1)
		log_info("%s: domain=%s status=waiting until=%.0f (its limit is reached; "
		    "not an attempt)", m->id, scheduler_domain_match(s->domains, (size_t)k),
		    clock_to_wall((double)m->next_try));
	scheduler_domain_set_waiting(s->domains, m, k);
	scheduler_heap_push(&s->wait, m);
}

/*
 * scheduler_top: the first waiting message. One whose every pending recipient waits
 * for its domain's limit is first put back until one may go: that is no attempt (no
 * failure, nothing toward its retry lifetime), and the mail behind it goes on.
 */
static struct queue_msg *
scheduler_top(struct scheduler *s, double now)
{
	struct queue_msg *m;
	double t;
	int k;

	while ((m = scheduler_heap_top(&s->wait)) != NULL && (double)m->next_try <= now &&
	    (t = scheduler_domain_wait(s->domains, m, now, &k)) > now) {
		scheduler_heap_remove(&s->wait, m);
		scheduler_wait_domain(s, m, t, k);
	}
	return m;
}

/*
 * scheduler_kick: hand ready mail to the first account able to send it now (spill-
 * over in config order); otherwise arm the timer for the first moment one can.
 */
void
scheduler_kick(struct scheduler *s)
{
	double now = clock_steady(), when = 0;
	struct sched_account *a;
	struct queue_msg *m;
	int fits;

	for (size_t i = 0; i < s->naccounts; i++)	/* the planner's limits as of now */
		scheduler_account_plan(s->accounts[i]);
	while ((m = scheduler_top(s, now)) != NULL) {
		if ((double)m->next_try > now) {
			when = (double)m->next_try;
			break;
		}
		if ((a = scheduler_choose(s, m, now, &when, &fits)) != NULL) {
			/* The first able account takes it, even if its sessions are busy:
			 * accounts are used in order, not round robin. Sessions report
			 * back and kick again, so no timer is needed. An idle session
			 * woken may take it at once: then on to the next message. */
			scheduler_unstalled(s);
			if (scheduler_start_on(s, a, now) && scheduler_heap_top(&s->wait) != m)
				continue;
			when = 0;
			break;
		}
		if (fits) {
			if (when == 0)	/* every account that takes it is disabled */
				when = scheduler_stalled(s, now);
			break;		/* wait for the first account that may send */
		}
		/* No account takes a message this big: it can never go. */
		scheduler_heap_remove(&s->wait, m);
		scheduler_fail_all(s, m, "message too big for every account (largest "
		    "max_message_size is smaller than the message)");
	}
	scheduler_arm(s, when, now);
}

struct queue_msg *
scheduler_take(struct scheduler *s, struct sched_account *a, size_t *max_rcpts)
{
	double now_f = clock_steady();
	time_t now = (time_t)now_f;
	struct queue_msg *m;
	size_t n;
	long room;

	struct sched_account *first;
	double when;
	int fits, k;

	scheduler_account_plan(a);	/* its window may have shut since the last kick */
again:
	if ((m = scheduler_top(s, now_f)) == NULL || m->next_try > now)
		return NULL;
	if (a->throttles > 0 && a->nbusy > 0)
		return NULL;	/* after a throttle: one probe at a time until one goes */
	if ((first = scheduler_choose(s, m, now_f, &when, &fits)) != a) {
		/* An earlier account may send it (config order), or this one may not
		 * (yet): the kick hands it on, or arms the timer for when one may. */
		scheduler_kick_soon(s);
		return NULL;
	}
	scheduler_heap_remove(&s->wait, m);
	if (scheduler_drop_suppressed(s, m))
		goto again;
	n = scheduler_pending(m);
	if (n > (size_t)a->cfg->limits.max_recipients)
		n = (size_t)a->cfg->limits.max_recipients;
	room = quota_room(a->quota, now);
	if (a->cfg->limits.count_recipients && (long)n > room)
		n = (size_t)room;	/* what the quota allows now; the rest later */
	if ((n = scheduler_domain_pick(s->domains, m, now_f, n)) == 0) {
		/* Its domains filled up since the kick (another account's send). */
		scheduler_wait_domain(s, m, fmax(scheduler_domain_wait(s->domains, m, now_f,
		    &k), now_f + 1), k);
		goto again;
	}
	if (a->shared != NULL && (n = scheduler_shared_take(s, a, m, n)) == 0)
		return NULL;	/* all hosts' ledger has not granted it (yet) */
	/* Rounded up: a record leaves the windows no sooner than a whole hour (day)
	 * after the moment it stands for. */
	if ((m->quota_id = quota_reserve(a->quota, (time_t)ceil(now_f),
	    scheduler_account_units(a, n))) != 0 &&
	    scheduler_domain_reserve(s->domains, m, (time_t)ceil(now_f)) == -1) {
		quota_settle(a->quota, m->quota_id, 0, (time_t)ceil(now_f));
		m->quota_id = 0;
	}
	if (a->shared != NULL)
		shared_ledger_bind(a->shared, m->quota_id);	/* the grant is this one (0: released) */
	if (m->quota_id == 0) {
		scheduler_heap_push(&s->wait, m);	/* the ledger cannot be written: wait */
		a->retry_at = now + s->cfg->retry_initial;
		return NULL;
	}
	a->last_send = now_f;
	scheduler_account_quota_event(a, now_f);	/* that may have used it up */
	scheduler_account_all_used(s, now_f);
	scheduler_domain_set_waiting(s->domains, m, -1);
	m->inflight = 1;
	free(m->account);
	m->account = xstrdup(a->cfg->name);
	s->ninflight++;
	a->nbusy++;
	*max_rcpts = n;
	return m;
}

void
scheduler_done(struct scheduler *s, struct sched_account *a, struct queue_msg *m,
    const struct sched_rcpt_result *res, size_t n, const char *relay)
{
	time_t now = (time_t)clock_steady();
	const char *retry_reply = NULL;
	int suspended = 0, nfail = 0, ndefer = 0;
	size_t nsent = 0, ncharged = 0;
	time_t failing = scheduler_account_backoff_span(s->cfg->retry_initial,
	    s->cfg->retry_max, m->attempts);

	a->nbusy--;
	for (size_t i = 0; i < n; i++)
		nsent += res[i].action == OUTCOME_SENT;
	for (size_t i = 0; i < n; i++)
		ncharged += res[i].action == OUTCOME_SENT || res[i].unknown;
	/* What the provider took is what counts against the quota, and what it may
	 * have taken: a reply lost after the final dot keeps its reservation. */
	quota_settle(a->quota, m->quota_id, scheduler_account_units(a, ncharged),
	    (time_t)ceil(clock_steady()));
	scheduler_domain_settle(s->domains, m, res, n, (time_t)ceil(clock_steady()));
	if (a->shared != NULL)		/* all hosts' ledger follows */
		shared_ledger_settle(a->shared, m->quota_id, scheduler_account_units(a,
		    ncharged), (time_t)ceil(clock_steady()));
	a->nsent += nsent > 0;		/* metrics: messages, and recipients */
	a->nrcpt_sent += nsent;
	for (size_t i = 0; i < n; i++) {
		const struct sched_rcpt_result *r = &res[i];
		enum outcome_action act = r->action;
		char *note = NULL;	/* the reply with what the scheduler adds */
		int finished = 0;

		free(a->last_reply);
		a->last_reply = xstrdup(r->reply);
		/* The lifetime counts the message's own transient failures (the retry
		 * schedule its deferrals put it on), not time it waited for quota or
		 * for a suspended account: a mailing that takes weeks at 150 a day is
		 * delivered, not expired. */
		if (act == OUTCOME_RETRY && failing >= s->cfg->retry_lifetime) {
			note = xasprintf("gave up after %d attempts over %llds of transient "
			    "failure (retry lifetime %ds); last reply: %s", m->attempts + 1,
			    (long long)failing, s->cfg->retry_lifetime, r->reply);
			act = OUTCOME_FAIL;
		}
		switch (act) {
		case OUTCOME_SENT:
			scheduler_account_succeeded(a);
			scheduler_log(m, r->idx, a, relay, "sent", r->reply);
			scheduler_log_sent_event(m, r->idx, a->cfg->name, r->reply, relay);
			/* Bounces come back to the account's own mailbox: without a
			 * bounces block nothing would ever be matched against it. */
			if (a->cfg->bounces.enabled)
				bounce_store_sent(s->bounces, m, r->idx, a->cfg->name);
			finished = scheduler_rcpt_done(s, m, r->idx, QUEUE_RCPT_SENT,
			    a->cfg->name, r->reply);
			break;
		case OUTCOME_FAIL:
			s->nrcpt_failed++;
			s->nfailed += nfail++ == 0;	/* a message once an attempt */
			scheduler_log(m, r->idx, a, relay, "failed", note ? note : r->reply);
			events_emit_rcpt(EVENTS_FAILED, m, r->idx, a->cfg->name, json_pack(
			    "{s:s, s:o, s:b, s:o}", "reason", note ? "expired" : "rejected",
			    "reply", jsonstr_new(note ? note : r->reply), "permanent", note == NULL,
			    "relay", jsonstr_new(relay)));
			finished = scheduler_rcpt_done(s, m, r->idx, QUEUE_RCPT_FAILED,
			    a->cfg->name, note ? note : r->reply);
			break;
		case OUTCOME_RETRY:
			s->nrcpt_deferred++;
			s->ndeferred += ndefer++ == 0;
			if (r->unknown) {
				note = xasprintf("%s; outcome unknown, charged to the "
				    "quota", r->reply);
				scheduler_log(m, r->idx, a, relay, "deferred", note);
			} else
				scheduler_log(m, r->idx, a, relay, "deferred", r->reply);
			retry_reply = r->reply;
			break;
		case OUTCOME_THROTTLE:
		case OUTCOME_DISABLE:
			/* Not the message's fault: it goes back on its retry schedule,
			 * the attempt recorded for queue show, not counted in attempts. */
			if (!suspended) {
				scheduler_account_suspend(a, act, r->reply);
				queue_msg_throttled(s->q, m, r->reply);
			}
			scheduler_log(m, r->idx, a, relay, "deferred", act == OUTCOME_THROTTLE ?
			    "account throttled by the provider" : "account disabled");
			suspended = 1;
			break;
		}
		free(note);
		if (finished) {
			scheduler_kick_soon(s);
			return;
		}
	}
	scheduler_log_flush();
	/* Recipients left for later (deferred, or beyond this transaction's share). */
	m->inflight = 0;
	s->ninflight--;
	free(m->account);
	m->account = NULL;
	if (retry_reply != NULL) {
		queue_msg_deferred(s->q, m, now + scheduler_account_backoff(s->cfg->retry_initial,
		    s->cfg->retry_max, m->attempts), retry_reply);
		for (size_t i = 0; i < n; i++)	/* those still pending were deferred */
			if (res[i].action == OUTCOME_RETRY &&
			    m->rcpts[res[i].idx].state == QUEUE_RCPT_PENDING)
				scheduler_log_deferred_event(m, res[i].idx, a->cfg->name, res[i].reply);
	}
	if (m->deleted)
		scheduler_drop(s, m);
	else if (!m->held)
		scheduler_heap_push(&s->wait, m);
	scheduler_kick_soon(s);
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
	time_t now = (time_t)clock_steady();
	struct queue_msg *m;
	double until, when;
	int fits;

	free(a->last_reply);
	a->last_reply = xstrdup(reason);
	if (act == OUTCOME_THROTTLE || act == OUTCOME_DISABLE) {
		scheduler_account_suspend(a, act, reason);
		until = a->suspended_until;
	} else {
		a->failures++;
		a->retry_at = clock_steady() + (double)scheduler_account_backoff(
		    s->cfg->retry_initial, s->cfg->retry_max, a->failures - 1);
		free(a->why);
		a->why = xstrdup(reason);
		until = a->retry_at;
	}
	/* Show the trouble under the first waiting message's id: its story is whole. */
	if ((m = scheduler_heap_top(&s->wait)) != NULL && m->next_try <= now) {
		for (size_t i = 0; i < m->nrcpt; i++)
			if (m->rcpts[i].state == QUEUE_RCPT_PENDING) {
				scheduler_log(m, i, a, relay, "deferred", reason);
				s->nrcpt_deferred++;	/* cannot connect: counted */
			}
		s->ndeferred++;
		scheduler_log_flush();
		/* A throttle is not the message's attempt; and a failing account never
		 * delays mail another account can send now. */
		if (act == OUTCOME_RETRY && scheduler_choose(s, m, clock_steady(), &when,
		    &fits) == NULL) {
			scheduler_heap_remove(&s->wait, m);
			queue_msg_deferred(s->q, m, (time_t)ceil(until), reason);
			for (size_t i = 0; i < m->nrcpt; i++)
				if (m->rcpts[i].state == QUEUE_RCPT_PENDING)
					scheduler_log_deferred_event(m, i, a->cfg->name, reason);
			scheduler_heap_push(&s->wait, m);
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
	if (a->retired && a->nsessions == 0)	/* its last session is gone: free it */
		for (size_t i = 0; i < s->nretired; i++)
			if (s->retired[i] == a) {
				s->retired[i] = s->retired[--s->nretired];
				scheduler_account_free(a);
				break;
			}
	scheduler_kick_soon(s);
}

int
scheduler_enable(struct scheduler *s, const char *name)
{
	for (size_t i = 0; i < s->naccounts; i++) {
		struct sched_account *a = s->accounts[i];

		if (strcmp(a->cfg->name, name) != 0)
			continue;
		scheduler_account_enable(a);
		log_info("account=%s status=enabled (by relayctl)", name);
		if (a->shared != NULL)	/* on every host */
			shared_ledger_publish(a->shared, SHARED_ENABLE, 0, "relayctl enable");
		scheduler_kick(s);
		return 0;
	}
	return -1;
}

struct sched_account *
scheduler_account_named(struct scheduler *s, const char *name)
{
	for (size_t i = 0; i < s->naccounts; i++)
		if (strcmp(s->accounts[i]->cfg->name, name) == 0)
			return s->accounts[i];
	return NULL;
}

int
scheduler_reset_learned(struct scheduler *s, const char *name)
{
	for (size_t i = 0; i < s->naccounts; i++)
		if (strcmp(s->accounts[i]->cfg->name, name) == 0) {
			scheduler_account_reset_learned(s->accounts[i]);
			scheduler_kick(s);
			return 0;
		}
	return -1;
}

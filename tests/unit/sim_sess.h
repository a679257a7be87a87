/*
 * sim_sess.h: simulated upstream sessions for the virtual-clock tests of the planner
 * (test_planner_sim.c) and of domain pacing (test_domain_sim.c): the scheduler's
 * transport (scheduler_set_transport) without sockets, and the step of the event loop
 * that finds what happens next. A session connects in 0.5 s, then asks for mail; a
 * transaction takes 1 s and is then handed to the test's own provider (transaction),
 * which answers through sim_sess_reply; an idle session leaves after 30 s.
 *
 * A test keeps a struct sim_sess, points mono and wall at its clocks and s at its
 * scheduler, and sets transaction; the transport's arg is the struct sim_sess. Its
 * loop: sim_sess_step says what is next, sim_sess_go carries it out.
 */
#ifndef RELAYD_SIM_SESS_H
#define RELAYD_SIM_SESS_H

#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "outcome.h"
#include "queue.h"
#include "scheduler.h"
#include "scheduler_int.h"

#define SIM_SESS_MAX	8
#define SIM_SESS_RCPTS	8

enum sim_sess_state { SIM_FREE, SIM_CONNECTING, SIM_IDLE, SIM_BUSY };

struct upstream {
	enum sim_sess_state	 st;
	int			 acct;		/* index of its account in the config */
	double			 at;		/* its next event */
	struct queue_msg	*m;
	size_t			 max;
	size_t			 idx[SIM_SESS_RCPTS];	/* the transaction's recipients */
	size_t			 n;
};

struct sim_sess {
	double			*mono, *wall;	/* the test's two clocks */
	struct scheduler	**s;
	const struct config	*cfg;
	struct upstream		 sess[SIM_SESS_MAX];
	void			(*transaction)(void *test, struct upstream *);
	void			*test;
};

/* sim_sess_account: the scheduler's account of session u. */
static inline struct sched_account *
sim_sess_account(struct sim_sess *h, const struct upstream *u)
{
	return (*h->s)->accounts[u->acct];
}

static inline struct upstream *
sim_sess_start(struct scheduler *s, struct sched_account *a, void *arg)
{
	struct sim_sess *h = arg;
	int k;

	for (k = 0; k < (int)h->cfg->naccounts && a->cfg != &h->cfg->accounts[k]; k++)
		;
	for (int i = 0; i < SIM_SESS_MAX; i++)
		if (h->sess[i].st == SIM_FREE) {
			h->sess[i] = (struct upstream){ .st = SIM_CONNECTING, .acct = k,
			    .at = *h->mono + 0.5 };
			return &h->sess[i];
		}
	abort();	/* sessions are bounded by the config */
}

/* sim_sess_next: an idle session asks for mail: the transaction's recipients are the
 * pending ones not kept for later, as upstream.c takes them. */
static inline void
sim_sess_next(struct sim_sess *h, struct upstream *u)
{
	struct queue_msg *m = scheduler_take(*h->s, sim_sess_account(h, u), &u->max);

	if (m == NULL) {
		u->st = SIM_IDLE;
		u->at = *h->mono + 30;	/* UPSTREAM_IDLE */
		return;
	}
	u->st = SIM_BUSY;
	u->m = m;
	u->n = 0;
	for (size_t i = 0; i < m->nrcpt && u->n < u->max && u->n < SIM_SESS_RCPTS; i++)
		if (m->rcpts[i].state == QUEUE_RCPT_PENDING && !m->rcpts[i].later)
			u->idx[u->n++] = i;
	u->at = *h->mono + 1;
}

/* sim_sess_reply: the test's provider has answered u's transaction with res: the
 * scheduler is told, and the session asks for more (unless the scheduler's kick
 * woke it for mail already). */
static inline void
sim_sess_reply(struct sim_sess *h, struct upstream *u, const struct sched_rcpt_result *res,
    size_t n)
{
	struct queue_msg *m = u->m;

	u->m = NULL;
	u->st = SIM_IDLE;
	u->at = *h->mono + 30;
	scheduler_done(*h->s, sim_sess_account(h, u), m, res, n, "sim");
	if (u->st == SIM_IDLE)
		sim_sess_next(h, u);
}

static inline void
sim_sess_wake(struct upstream *u, void *arg)
{
	if (u->st == SIM_IDLE)
		sim_sess_next(arg, u);
}

static inline int
sim_sess_is_idle(const struct upstream *u, void *arg)
{
	return u->st == SIM_IDLE;
}

static inline void
sim_sess_stop(struct upstream *u, void *arg)
{
	struct sim_sess *h = arg;

	if (u->st == SIM_BUSY)	/* relayd stopped mid-transaction: it stays queued */
		sim_sess_account(h, u)->nbusy--;
	u->st = SIM_FREE;
	u->m = NULL;
	scheduler_session_closed(*h->s, sim_sess_account(h, u), u);
}

static const struct scheduler_transport sim_sess_transport = {
	.start = sim_sess_start, .wake = sim_sess_wake, .is_idle = sim_sess_is_idle,
	.stop = sim_sess_stop,
};

/* sim_sess_event: session u's next event is due. */
static inline void
sim_sess_event(struct sim_sess *h, struct upstream *u)
{
	switch (u->st) {
	case SIM_CONNECTING:
		scheduler_session_ready(*h->s, sim_sess_account(h, u));
		sim_sess_next(h, u);
		break;
	case SIM_IDLE:
		u->st = SIM_FREE;
		scheduler_session_closed(*h->s, sim_sess_account(h, u), u);
		break;
	case SIM_BUSY:
		h->transaction(h->test, u);
		break;
	case SIM_FREE:
		break;
	}
}

/*
 * sim_sess_step: what happens next: the scheduler's timer (returns 1), a session's
 * event (2, *which), or the test's own at one of extra[0..nextra) (3, *which; 0 is
 * none); 0: nothing at all. *t is when.
 */
static inline int
sim_sess_step(struct sim_sess *h, const double *extra, int nextra, double *t, int *which)
{
	int what = 0;

	*t = 0;
	if (scheduler_wakeup(*h->s) > 0) {
		*t = *h->mono + (scheduler_wakeup(*h->s) - clock_steady()) + 1e-6;
		what = 1;
	}
	for (int i = 0; i < SIM_SESS_MAX; i++)
		if (h->sess[i].st != SIM_FREE && (*t == 0 || h->sess[i].at < *t)) {
			*t = h->sess[i].at;
			what = 2;
			*which = i;
		}
	for (int i = 0; i < nextra; i++)
		if (extra[i] > 0 && (*t == 0 || extra[i] < *t)) {
			*t = extra[i];
			what = 3;
			*which = i;
		}
	return what;
}

/*
 * sim_sess_go: move both clocks on to t (never back) and carry out what sim_sess_step
 * found: the scheduler's run or the session's event. Returns 1 when it is the test's
 * own (3), which the caller carries out.
 */
static inline int
sim_sess_go(struct sim_sess *h, int what, int which, double t)
{
	if (t > *h->mono) {
		*h->wall += t - *h->mono;
		*h->mono = t;
	}
	clock_fake(1, *h->wall, *h->mono);
	if (what == 1)
		scheduler_run(*h->s);
	else if (what == 2)
		sim_sess_event(h, &h->sess[which]);
	return what == 3;
}

/*
 * sim_sess_spool: a test's setting up: quiet logs (SIM_DEBUG=1: all of them), the
 * reply rules, a temporary directory base (/dev/shm/NAME.XXXXXX, else under /tmp;
 * len at least 64) and a spool in it on *eb. NULL after saying why.
 */
static inline struct queue *
sim_sess_spool(const char *name, char *base, size_t len, struct event_base **eb)
{
	char path[512];
	struct queue *q;

	log_init(0, getenv("SIM_DEBUG") ? LOG_DEBUG : LOG_CRIT);
	snprintf(base, len, "/dev/shm/%s.XXXXXX", name);
	if (mkdtemp(base) == NULL && (snprintf(base, len, "/tmp/%s.XXXXXX", name),
	    mkdtemp(base) == NULL)) {
		perror("mkdtemp");
		return NULL;
	}
	if (outcome_init() != 0) {
		fprintf(stderr, "outcome_init failed\n");
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/queue", base);
	*eb = event_base_new();
	if ((q = queue_open(*eb, path)) == NULL)
		fprintf(stderr, "queue_open %s failed\n", path);
	return q;
}

#endif

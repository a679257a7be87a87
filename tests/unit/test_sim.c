/*
 * test_sim: the scheduler, its ledger and the outcome rules, run on a virtual clock
 * against a scripted provider, over thousands of seeded random scenarios (issue 13).
 *
 * No sockets: the scheduler drives simulated sessions through its transport
 * interface (scheduler_set_transport) and is run at scheduler_wakeup; the clock is
 * clock_fake's, moved by the simulation. Each scenario has 1-3 accounts, each with
 * its configured limits, sessions, min_interval and backoff, and a provider that
 * throttles after N messages per window of its own (with the replies real providers
 * send, read by outcome.c), answers 451 now and then, loses the reply after the
 * final dot (having taken the message or not), or is down for a while. relayd is
 * restarted (the scheduler freed and made anew over the same spool) and the wall
 * clock stepped (hours, days, forward and back) at random moments.
 *
 * Invariants, checked in every scenario:
 *   window:   the provider never received more than the configured per_hour (per_day)
 *             in any sliding hour (day) of real time, counting what it took and what
 *             it took before the reply was lost;
 *   nofail:   no recipient failed (the provider never refuses one for good: every
 *             failure would be because of a throttle or a wait);
 *   delivery: every recipient reached the provider at least once;
 *   fifo:     messages went out in arrival order among those never deferred;
 *   status:   relayctl status agrees with the scheduler (an account "ready" exactly
 *             when it is free to send, its used hour what the ledger says).
 *
 * Two fixed scenarios come first: a 2,000-recipient mailing through one account of
 * 150 a day (sim_mailing), and the acceptance mailing through a mail.ru-
 * and a yandex-preset account whose providers refuse with their real replies
 * (sim_acceptance); their figures are printed.
 */
#include <sys/stat.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "outcome.h"
#include "preset.h"
#include "queue.h"
#include "quota.h"
#include "scheduler.h"
#include "scheduler_int.h"
#include "xmalloc.h"
#include "t.h"

#define SIM_SCENARIOS	2000
#define SIM_ACCTS	3
#define SIM_MSGS	2000	/* the mailing; random scenarios have up to 60 */
#define SIM_RCPTS	3
#define SIM_SESS	64
#define SIM_SENDS	4096
#define SIM_EVENTS	200000	/* bound on the events of one scenario */
#define SIM_HORIZON	(40 * 86400.0)

enum sim_sess_state { SS_FREE, SS_CONNECTING, SS_IDLE, SS_BUSY, SS_CLOSING };

struct upstream {			/* a simulated session */
	enum sim_sess_state	 st;
	int			 acct;
	double			 at;		/* its next event */
	struct queue_msg	*m;
	size_t			 max;
	size_t			 idx[SIM_RCPTS];
	size_t			 n;
};

/* A refusal as the provider sends it: at a stage, on one or several lines. */
struct sim_refusal {
	enum outcome_stage	 stage;
	const char		*lines[4];	/* raw reply lines, NULL-terminated */
};

struct sim_provider {
	int		 limit;		/* it throttles after this many per window */
	double		 window;
	const char	*throttle;	/* the reply it throttles with */
	int		 throttle_at_mail;
	double		 p_451, p_lost, p_down;
	const struct sim_refusal *script;	/* if set: its refusals, in turn, instead */
	int		 nscript, nrefused, nguessed;
	int		 episode, refusing;	/* refusals of one episode are alike */
	int		 twice;		/* recipients it got again */
	double		 block, blocked_until;	/* once over its limit, it refuses all
						 * for block seconds (Yandex: 24 h) */
	double		 sends[SIM_SENDS];	/* real (monotonic) times it took a message */
	int		 units[SIM_SENDS];	/* and how many recipients each time */
	int		 nsends;
};

struct sim_msg {
	char		 id[QUEUE_ID_LEN + 1];
	double		 arrive;
	int		 nrcpt;
	int		 sent[SIM_RCPTS];	/* relayd was told SENT */
	int		 got[SIM_RCPTS];	/* the provider has it */
	int		 submitted;
	int		 first_take;		/* order of its first take, 0: none */
	int		 deferred_before;	/* deferred before its first take */
};

struct sim {
	unsigned		 seed;
	double			 mono, wall;	/* the two clocks */
	struct config		 cfg;
	struct config_account	 acct[SIM_ACCTS];
	struct sim_provider	 prov[SIM_ACCTS];
	struct scheduler	*s;
	struct queue		*q;
	struct upstream		 sess[SIM_SESS];
	struct sim_msg		 msgs[SIM_MSGS];
	int			 nmsgs, ntakes;
	double			 restarts[4], steps[4], step_by[4];
	int			 nrestarts, nsteps;
	char			 spool[256];
	char			 fail[512];	/* the first violation */
};

static unsigned long long stat_events, stat_sends, stat_throttles, stat_lost, stat_restarts,
    stat_steps, stat_status;

/*
 * arc4random: the backoff's jitter, made deterministic for the simulation (this
 * definition interposes libc's), so that a scenario replays from its number.
 */
static unsigned sim_jitter_seed;

uint32_t
arc4random(void)
{
	return (uint32_t)rand_r(&sim_jitter_seed) * 2654435761u;
}

static double
rnd(struct sim *x)
{
	return rand_r(&x->seed) / ((double)RAND_MAX + 1);
}

static int
rndi(struct sim *x, int lo, int hi)
{
	return lo + (int)(rnd(x) * (hi - lo + 1));
}

static void
sim_fail(struct sim *x, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
sim_fail(struct sim *x, const char *what, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (x->fail[0])
		return;
	n = snprintf(x->fail, sizeof(x->fail), "%s: ", what);
	va_start(ap, fmt);
	vsnprintf(x->fail + n, sizeof(x->fail) - (size_t)n, fmt, ap);
	va_end(ap);
}

static void
sim_clock(struct sim *x)
{
	clock_fake(1, x->wall, x->mono);
}

static int
sim_acct_index(struct sim *x, const struct sched_account *a)
{
	for (int i = 0; i < (int)x->cfg.naccounts; i++)
		if (a->cfg == &x->acct[i])
			return i;
	return -1;
}

static struct sim_msg *
sim_msg_of(struct sim *x, const struct queue_msg *m)
{
	for (int i = 0; i < x->nmsgs; i++)
		if (strcmp(x->msgs[i].id, m->id) == 0)
			return &x->msgs[i];
	return NULL;
}

/* The transport. */

static struct upstream *
sim_start(struct scheduler *s, struct sched_account *a, void *arg)
{
	struct sim *x = arg;

	for (int i = 0; i < SIM_SESS; i++)
		if (x->sess[i].st == SS_FREE) {
			x->sess[i] = (struct upstream){ .st = SS_CONNECTING,
			    .acct = sim_acct_index(x, a), .at = x->mono + 0.2 + rnd(x) };
			return &x->sess[i];
		}
	abort();	/* sessions are bounded by the config (<= 3 per account) */
}

/* sim_next_tx: an idle session asks for mail. */
static void
sim_next_tx(struct sim *x, struct upstream *u)
{
	struct sched_account *a = x->s->accounts[u->acct];
	struct queue_msg *m = scheduler_take(x->s, a, &u->max);
	struct sim_msg *sm;

	if (m == NULL) {
		u->st = SS_IDLE;
		u->at = x->mono + 30;	/* UPSTREAM_IDLE */
		return;
	}
	if ((sm = sim_msg_of(x, m)) != NULL && sm->first_take == 0) {
		sm->first_take = ++x->ntakes;
		sm->deferred_before = m->attempts > 0;
	}
	u->st = SS_BUSY;
	u->m = m;
	u->n = 0;
	for (size_t i = 0; i < m->nrcpt && u->n < u->max; i++)
		if (m->rcpts[i].state == QUEUE_RCPT_PENDING && !m->rcpts[i].later)
			u->idx[u->n++] = i;
	u->at = x->mono + 0.5 + rnd(x) * 2;
}

static void
sim_wake(struct upstream *u, void *arg)
{
	if (u->st == SS_IDLE)
		sim_next_tx(arg, u);
}

static int
sim_is_idle(const struct upstream *u, void *arg)
{
	return u->st == SS_IDLE;
}

static void
sim_stop(struct upstream *u, void *arg)
{
	struct sim *x = arg;
	struct sched_account *a = x->s->accounts[u->acct];

	if (u->st == SS_BUSY)	/* relayd stopped mid-transaction: it stays queued */
		a->nbusy--;
	u->st = SS_FREE;
	u->m = NULL;
	scheduler_session_closed(x->s, a, u);
}

static const struct scheduler_transport sim_transport = {
	.start = sim_start, .wake = sim_wake, .is_idle = sim_is_idle, .stop = sim_stop,
};

/* sim_provider_room: would the provider take one more now (its own window)? */
static int
sim_provider_room(struct sim *x, struct sim_provider *p)
{
	int used = 0;

	if (x->mono < p->blocked_until)
		return 0;
	for (int i = 0; i < p->nsends; i++)
		used += p->sends[i] > x->mono - p->window ? p->units[i] : 0;
	if (used >= p->limit && p->block > 0)
		p->blocked_until = x->mono + p->block;
	return used < p->limit;
}

/* sim_provider_take: the provider takes the transaction's recipients. */
static void
sim_provider_take(struct sim *x, struct sim_provider *p, struct upstream *u)
{
	struct sim_msg *sm = sim_msg_of(x, u->m);

	if (p->nsends < SIM_SENDS) {
		p->units[p->nsends] = x->acct[u->acct].limits.count_recipients ? (int)u->n : 1;
		p->sends[p->nsends++] = x->mono;
	}
	stat_sends++;
	p->refusing = 0;
	for (size_t i = 0; i < u->n && sm != NULL; i++) {
		p->twice += sm->got[u->idx[i]];
		sm->got[u->idx[i]] = 1;
	}
}

/* sim_normalise: the raw reply lines as upstream.c reads them (outcome_reply_line). */
static void
sim_normalise(struct sim *x, const char *const *lines, char *out, size_t len)
{
	struct outcome_reply r;
	int rc = 0;

	outcome_reply_init(&r);
	for (int i = 0; lines[i] != NULL && rc == 0; i++)
		rc = outcome_reply_line(&r, lines[i], strlen(lines[i]));
	if (rc != 1)
		sim_fail(x, "setup", "\"%s\" is not a whole reply", lines[0]);
	snprintf(out, len, "%s", r.text);
}

/*
 * sim_refuse: the scripted provider refuses the transaction with its next refusal;
 * what relayd makes of it, recipient by recipient, as upstream.c does: a refusal at
 * MAIL or after DATA is every recipient's; at RCPT each recipient gets it, and the
 * same refusal for all of them is the account's (outcome_all_refused); guessed
 * throttles (outcome_is_guess) are bounded by outcome_guess_bound
 * (upstream_tx_bound).
 */
static void
sim_refuse(struct sim *x, struct sim_provider *p, struct upstream *u,
    enum outcome_action *acts, char *text, size_t len)
{
	const struct config_account *ca = &x->acct[u->acct];
	const char *replies[SIM_RCPTS];
	int guess = 0, throttled = 0;
	const struct sim_refusal *f;

	if (!p->refusing)	/* a new episode: the script's next refusal */
		p->episode++;
	p->refusing = 1;
	p->nrefused++;
	f = &p->script[(p->episode - 1) % p->nscript];
	sim_normalise(x, f->lines, text, len);
	for (size_t i = 0; i < u->n; i++) {
		replies[i] = text;
		acts[i] = outcome_classify(ca->rules, ca->nrules, f->stage, text);
	}
	guess = acts[0] == OUTCOME_THROTTLE && outcome_is_guess(f->stage, text);
	if (f->stage == OUTCOME_RCPT && outcome_all_refused(replies, acts, u->n)) {
		for (size_t i = 0; i < u->n; i++)
			acts[i] = OUTCOME_THROTTLE;
		guess = 1;
	}
	for (size_t i = 0; i < u->n; i++)
		throttled |= acts[i] == OUTCOME_THROTTLE;
	p->nguessed += guess && throttled;
	if (outcome_guess_bound(&u->m->guesses, &u->m->guess_since, throttled, guess,
	    clock_steady(), ca->backoff_initial, ca->backoff_max))
		for (size_t i = 0; i < u->n; i++)
			if (acts[i] == OUTCOME_THROTTLE)
				acts[i] = OUTCOME_FAIL;
}

/* sim_transaction: the session's transaction ends: the provider answers (or not). */
static void
sim_transaction(struct sim *x, struct upstream *u)
{
	struct sim_provider *p = &x->prov[u->acct];
	struct sched_account *a = x->s->accounts[u->acct];
	struct sched_rcpt_result res[SIM_RCPTS];
	enum outcome_action acts[SIM_RCPTS];
	struct queue_msg *m = u->m;
	struct sim_msg *sm = sim_msg_of(x, m);
	const char *reply = "250 2.0.0 OK queued";
	char text[OUTCOME_REPLY_MAX];
	enum outcome_stage stage = OUTCOME_DATA;
	int unknown = 0, scripted = 0;

	if (!sim_provider_room(x, p)) {
		reply = p->throttle;
		stage = p->throttle_at_mail ? OUTCOME_MAIL : OUTCOME_DATA;
		stat_throttles++;
		if (p->script != NULL) {
			sim_refuse(x, p, u, acts, text, sizeof(text));
			reply = text;
			scripted = 1;
		}
	} else if (rnd(x) < p->p_451)
		reply = "451 4.3.0 Temporary local problem, please try again";
	else if (rnd(x) < p->p_lost) {
		if (rnd(x) < 0.5)	/* taken, then the connection dropped */
			sim_provider_take(x, p, u);
		reply = "lost connection while in state eom";
		unknown = 1;
		stat_lost++;
	} else
		sim_provider_take(x, p, u);
	enum outcome_action act = unknown ? OUTCOME_RETRY :
	    outcome_classify(NULL, 0, stage, reply);
	for (size_t i = 0; i < u->n; i++) {
		res[i] = (struct sched_rcpt_result){ .idx = u->idx[i], .action = scripted ?
		    acts[i] : act, .reply = reply, .unknown = unknown };
		if (res[i].action == OUTCOME_SENT && sm != NULL)
			sm->sent[u->idx[i]] = 1;
	}
	u->m = NULL;
	/* Before done, which may wake an idle session: one whose connection dropped
	 * with the reply is not idle, it is closing. */
	u->st = unknown ? SS_CLOSING : SS_IDLE;
	u->at = x->mono + 30;
	scheduler_done(x->s, a, m, res, u->n, "sim");
	if (unknown) {		/* the session is gone with its connection */
		u->st = SS_FREE;
		scheduler_session_closed(x->s, a, u);
	} else if (u->st == SS_IDLE)
		sim_next_tx(x, u);
}

/* sim_session_event: the session's next event is due. */
static void
sim_session_event(struct sim *x, struct upstream *u)
{
	struct sched_account *a = x->s->accounts[u->acct];

	switch (u->st) {
	case SS_CONNECTING:
		if (rnd(x) < x->prov[u->acct].p_down) {
			scheduler_session_failed(x->s, a, OUTCOME_RETRY,
			    "cannot connect: Connection refused", "sim");
			u->st = SS_FREE;
			scheduler_session_closed(x->s, a, u);
			return;
		}
		scheduler_session_ready(x->s, a);
		sim_next_tx(x, u);
		break;
	case SS_IDLE:		/* idle long enough: QUIT */
		u->st = SS_FREE;
		scheduler_session_closed(x->s, a, u);
		break;
	case SS_BUSY:
		sim_transaction(x, u);
		break;
	case SS_FREE:
	case SS_CLOSING:
		break;
	}
}

/* Messages. */

static struct queue_msg *
sim_queue_msg(struct sim *x, struct sim_msg *sm, int attempts)
{
	struct queue_msg *m = queue_msg_new(x->q, "127.0.0.1", "crm@app.example");
	char addr[64];

	memcpy(m->id, sm->id, sizeof(m->id));
	m->ctime = (time_t)sm->arrive;
	m->size = 1000;
	m->attempts = attempts;
	for (int r = 0; r < sm->nrcpt; r++) {
		snprintf(addr, sizeof(addr), "r%d@example.org", r);
		queue_msg_add_rcpt(m, addr);
		if (sm->sent[r])
			m->rcpts[r].state = QUEUE_RCPT_SENT;
	}
	return m;
}

/* Status against the scheduler. */

static void
sim_check_status(struct sim *x)
{
	json_t *st = scheduler_status(x->s);
	double now = clock_steady();
	size_t i;
	json_t *o;

	stat_status++;
	json_array_foreach(json_object_get(st, "accounts"), i, o) {
		struct sched_account *a = x->s->accounts[i];
		const char *state = json_string_value(json_object_get(o, "state"));
		long hour, day;
		int ready = scheduler_account_free_at(a, now) != 0 &&
		    scheduler_account_free_at(a, now) <= now;

		quota_used(a->quota, (time_t)now, &hour, &day);
		if ((strcmp(state, "ready") == 0) != ready)
			sim_fail(x, "status", "account %zu is \"%s\" but the scheduler %s it "
			    "send now", i, state, ready ? "lets" : "does not let");
		if (json_integer_value(json_object_get(json_object_get(o, "hour"), "used")) !=
		    hour)
			sim_fail(x, "status", "account %zu: hour used differs", i);
	}
	json_decref(st);
}

/* Invariants at the end of a scenario. */

/*
 * sim_check_window: the most units (messages, or recipients where the account counts
 * them) the provider took in any sliding window; a violation when over limit (> 0).
 */
static int
sim_check_window(struct sim *x, int i, int limit, double window, const char *name)
{
	struct sim_provider *p = &x->prov[i];
	int used = 0, most = 0;

	for (int a = 0, b = 0; b < p->nsends; b++) {
		used += p->units[b];
		while (p->sends[a] <= p->sends[b] - window)
			used -= p->units[a++];
		most = used > most ? used : most;
		if (limit > 0 && used > limit) {
			sim_fail(x, "window", "account %d: %d %s in a sliding %s (limit %d), "
			    "the last at %.0f s", i, used, x->acct[i].limits.count_recipients ?
			    "recipients" : "messages", name, limit, p->sends[b]);
			for (int k = a; getenv("SIM_DEBUG") && k <= b; k++)
				fprintf(stderr, "send %.3f (%d)\n", p->sends[k], p->units[k]);
			return most;
		}
	}
	return most;
}

static void
sim_check_end(struct sim *x)
{
	int last = 0;

	for (int i = 0; i < (int)x->cfg.naccounts; i++) {
		sim_check_window(x, i, x->acct[i].limits.per_hour, 3600, "hour");
		sim_check_window(x, i, x->acct[i].limits.per_day, 86400, "day");
	}
	if (x->s->nfailed > 0)
		sim_fail(x, "nofail", "%llu recipient(s) failed", x->s->nfailed);
	for (int k = 0; k < x->nmsgs; k++) {
		struct sim_msg *sm = &x->msgs[k];

		for (int r = 0; r < sm->nrcpt; r++)
			if (!sm->got[r])
				sim_fail(x, "delivery", "message %d recipient %d never reached "
				    "the provider (%zu queued at the end)", k, r, scheduler_count(x->s));
	}
	/* fifo: first takes of messages never deferred come in arrival order */
	for (int k = 0; k < x->nmsgs; k++) {
		struct sim_msg *sm = &x->msgs[k];

		if (sm->first_take == 0 || sm->deferred_before)
			continue;
		if (sm->first_take < last)
			sim_fail(x, "fifo", "message %d taken as number %d after a later one "
			    "(number %d)", k, sm->first_take, last);
		last = sm->first_take;
	}
}

/* A restart: the scheduler goes (sessions stopped, mid-transaction too) and comes
 * back over the same spool; the queue is what relayd knew (the sim's model). */
static void
sim_restart(struct sim *x)
{
	int attempts[SIM_MSGS] = { 0 };

	for (int k = 0; k < x->nmsgs; k++) {
		struct queue_msg *m = scheduler_find(x->s, x->msgs[k].id);

		attempts[k] = m ? m->attempts : 0;
	}
	scheduler_free(x->s);
	clock_restart();
	stat_restarts++;
	x->s = scheduler_new(NULL, NULL, &x->cfg, x->q);
	scheduler_set_transport(x->s, &sim_transport, x);
	for (int k = 0; k < x->nmsgs; k++) {
		struct sim_msg *sm = &x->msgs[k];
		int pending = 0;

		for (int r = 0; r < sm->nrcpt; r++)
			pending += !sm->sent[r];
		if (sm->submitted && pending)
			scheduler_msg_loaded(sim_queue_msg(x, sm, attempts[k]), x->s);
	}
	scheduler_run(x->s);
}

static const char *throttles[][2] = {	/* reply, "mail" if at MAIL */
	{ "421 4.7.0 Try again later, closing connection", NULL },
	{ "550 5.4.5 Daily user sending limit exceeded", NULL },
	{ "451 4.7.1 Too many messages, slow down", NULL },
	{ "554 5.7.1 Message rejected: sending rate limit exceeded", NULL },
	{ "550", "mail" },				/* Yandex's bare code at MAIL */
	{ "553 5.7.1 Sender rate limit, try later", "mail" },
};

/* sim_setup: scenario number n. */
static void
sim_setup(struct sim *x, unsigned n, const char *base)
{
	memset(x, 0, sizeof(*x));
	x->seed = n * 2654435761u + 13;
	sim_jitter_seed = n;
	x->mono = 1000;
	x->wall = 1.8e9 + rndi(x, 0, 86400);
	snprintf(x->spool, sizeof(x->spool), "%s/s%u", base, n);
	x->cfg.spool_dir = x->spool;
	x->cfg.hostname = "relay.test";
	x->cfg.retry_initial = rndi(x, 30, 300);
	x->cfg.retry_max = 3600;
	x->cfg.retry_lifetime = 5 * 86400;
	x->cfg.naccounts = (size_t)rndi(x, 1, SIM_ACCTS);
	x->cfg.accounts = x->acct;
	for (int i = 0; i < (int)x->cfg.naccounts; i++) {
		struct config_account *a = &x->acct[i];
		struct sim_provider *p = &x->prov[i];
		static char names[SIM_ACCTS][16], addrs[SIM_ACCTS][32];

		snprintf(names[i], sizeof(names[i]), "a%d", i);
		snprintf(addrs[i], sizeof(addrs[i]), "box%d@example.ru", i);
		a->name = names[i];
		a->address = a->username = addrs[i];
		a->host = "smtp.example.ru";
		a->port = 465;
		a->tls = CONFIG_TLS_NONE;
		a->sessions = rndi(x, 1, 3);
		a->limits.per_hour = rndi(x, 2, 15);
		a->limits.per_day = rnd(x) < 0.5 ? 0 : a->limits.per_hour * rndi(x, 2, 6);
		a->limits.min_interval = rnd(x) < 0.6 ? 0 : rndi(x, 1, 60);
		a->limits.max_recipients = rndi(x, 1, SIM_RCPTS);
		a->limits.max_message_size = 1 << 20;
		a->backoff_initial = rndi(x, 10, 600);
		a->backoff_max = a->backoff_initial * rndi(x, 1, 8);
		/* The provider's own limit: often below the configured one (it throttles). */
		p->limit = rnd(x) < 0.5 ? a->limits.per_hour + 5 : rndi(x, 1, a->limits.per_hour);
		p->window = rnd(x) < 0.5 ? 3600 : rndi(x, 60, 1800);
		int t = rndi(x, 0, (int)(sizeof(throttles) / sizeof(throttles[0])) - 1);
		p->throttle = throttles[t][0];
		p->throttle_at_mail = throttles[t][1] != NULL;
		p->p_451 = rnd(x) < 0.3 ? 0.05 : 0;
		p->p_lost = rnd(x) < 0.3 ? 0.08 : 0;
		p->p_down = rnd(x) < 0.2 ? 0.3 : 0;
	}
	/* Where the providers never fail a message (only throttle), a lifetime shorter
	 * than the waits for quota: waiting must not count as failing. */
	int failing = 0;
	for (int i = 0; i < (int)x->cfg.naccounts; i++)
		failing |= x->prov[i].p_451 > 0 || x->prov[i].p_lost > 0 || x->prov[i].p_down > 0;
	if (!failing && rnd(x) < 0.7)
		x->cfg.retry_lifetime = 4 * 3600;
	x->nmsgs = rndi(x, 5, 60);
	double t = x->mono;
	for (int k = 0; k < x->nmsgs; k++) {
		struct sim_msg *sm = &x->msgs[k];

		t += rnd(x) < 0.5 ? 0 : rnd(x) * 600;	/* bursts and trickles */
		sm->arrive = t;
		sm->nrcpt = rndi(x, 1, SIM_RCPTS);
	}
	x->nrestarts = rndi(x, 0, 3);
	for (int i = 0; i < x->nrestarts; i++)
		x->restarts[i] = x->mono + rnd(x) * 4 * 3600;
	x->nsteps = rnd(x) < 0.5 ? rndi(x, 1, 3) : 0;
	for (int i = 0; i < x->nsteps; i++) {
		static const double by[] = { 7200, -7200, 2 * 86400, -2 * 86400, 30, -30 };

		x->steps[i] = x->mono + rnd(x) * 4 * 3600;
		x->step_by[i] = by[rndi(x, 0, 5)];
	}
}

/* sim_dump: the scheduler's state, for SIM_DEBUG. */
static void
sim_dump(struct sim *x)
{
	double now = clock_steady();
	struct queue_msg *m = scheduler_heap_top(&x->s->wait);

	for (size_t i = 0; i < x->s->naccounts; i++) {
		struct sched_account *a = x->s->accounts[i];

		fprintf(stderr, "account %zu: sessions %d busy %d throttles %d suspended %+.1f "
		    "retry %+.1f free_at %+.1f ready_at %+.1f disabled %d\n", i, a->nsessions,
		    a->nbusy, a->throttles, a->suspended_until - now, a->retry_at - now,
		    scheduler_account_free_at(a, now) - now, scheduler_account_ready_at(a, now) -
		    now, a->disabled);
	}
	for (int i = 0; i < SIM_SESS; i++)
		if (x->sess[i].st != SS_FREE)
			fprintf(stderr, "session %d: account %d state %d at %+.1f\n", i,
			    x->sess[i].acct, x->sess[i].st, x->sess[i].at - x->mono);
	if (m != NULL)
		fprintf(stderr, "top: %s next_try %+.1f attempts %d\n", m->id,
		    (double)m->next_try - now, m->attempts);
	fprintf(stderr, "waiting %zu inflight %zu wakeup %.1f\n", x->s->wait.n,
	    x->s->ninflight, scheduler_wakeup(x->s));
}

/* sim_fixed: the common setup of a fixed scenario (seed, clocks, spool, retry). */
static void
sim_fixed(struct sim *x, const char *base, unsigned seed, size_t naccounts)
{
	memset(x, 0, sizeof(*x));
	x->seed = seed;
	sim_jitter_seed = seed;
	x->mono = 1000;
	x->wall = 1.8e9;
	snprintf(x->spool, sizeof(x->spool), "%s/f%u", base, seed);
	x->cfg.spool_dir = x->spool;
	x->cfg.hostname = "relay.test";
	x->cfg.retry_initial = 60;
	x->cfg.retry_max = 3600;
	x->cfg.retry_lifetime = 5 * 86400;
	x->cfg.naccounts = naccounts;
	x->cfg.accounts = x->acct;
}

/*
 * sim_mailing: scenario 0, issue 13's: a 2,000-recipient mailing through one
 * Mail.ru-like account of 150 a day (and 50 an hour), whose provider throttles a
 * little below that, now and then answers 451 or loses a reply, across two
 * restarts: it must be delivered completely in about two weeks, nothing failed
 * (retry.lifetime, 5 days, counts failing, not waiting).
 */
static void
sim_mailing(struct sim *x, const char *base)
{
	struct config_account *a = &x->acct[0];
	struct sim_provider *p = &x->prov[0];

	sim_fixed(x, base, 20000, 1);
	a->name = "mailru";
	a->address = a->username = "shop@mail.example";
	a->host = "smtp.mail.example";
	a->port = 465;
	a->tls = CONFIG_TLS_NONE;
	a->sessions = 2;
	a->limits = (struct config_limits){ .per_hour = 50, .per_day = 150,
	    .count_recipients = 1, .max_recipients = 1, .max_message_size = 1 << 20 };
	a->backoff_initial = 300;
	a->backoff_max = 3600;
	p->limit = 140;
	p->window = 86400;
	p->throttle = "550 5.4.5 Daily user sending limit exceeded";
	p->p_451 = 0.01;
	p->p_lost = 0.01;
	x->nmsgs = SIM_MSGS;
	for (int k = 0; k < x->nmsgs; k++) {
		x->msgs[k].arrive = 1000 + k * 0.05;	/* the CRM submits it in 100 s */
		x->msgs[k].nrcpt = 1;
	}
	x->nrestarts = 2;
	x->restarts[0] = 1000 + 3 * 86400 + 1234;
	x->restarts[1] = 1000 + 9 * 86400 + 42;
}

/*
 * The refusals of the acceptance mailing's providers, one table entry per episode
 * (alike while it lasts): Mail.ru's 553 at MAIL (bare, with text, on several
 * lines), a bare 553 at RCPT and a Gmail-style multi-line limit after DATA; Yandex's
 * bare 550 at MAIL, at RCPT for every recipient and after DATA, the same on several
 * lines, and its limit text.
 */
static const struct sim_refusal sim_mailru_refusals[] = {
	{ OUTCOME_MAIL, { "553", NULL } },
	{ OUTCOME_MAIL, { "553 Sorry, the server does not want to send this now", NULL } },
	{ OUTCOME_MAIL, { "553-5.7.1 Message sending is limited for this account,",
	    "553-5.7.1 too many messages;", "553 5.7.1 try again in an hour", NULL } },
	{ OUTCOME_RCPT, { "553", NULL } },
	{ OUTCOME_DATA, { "550-5.4.5 Daily user sending limit exceeded. For more",
	    "550-5.4.5 information on sending limits go to",
	    "550 5.4.5  https://help.mail.example/limits", NULL } },
};

static const struct sim_refusal sim_yandex_refusals[] = {
	{ OUTCOME_RCPT, { "550", NULL } },
	{ OUTCOME_DATA, { "550", NULL } },
	{ OUTCOME_RCPT, { "550-", "550", NULL } },
	{ OUTCOME_MAIL, { "550", NULL } },
	{ OUTCOME_DATA, { "550-", "550 ", NULL } },
	{ OUTCOME_RCPT, { "550", NULL } },
	{ OUTCOME_MAIL, { "550-", "550 ", NULL } },
	{ OUTCOME_DATA, { "550-5.7.1 Too many messages,", "550 5.7.1 frequency limit", NULL } },
};

/* sim_preset_account: account i configured as provider preset name says. */
static void
sim_preset_account(struct sim *x, int i, const char *name, const char *addr)
{
	const struct preset *pr = preset_find(name);
	struct config_account *a = &x->acct[i];
	size_t n = 0;
	char err[256];

	CHECK(pr != NULL, "no preset %s", name);
	if (pr == NULL)
		abort();
	a->name = a->provider = (char *)name;
	a->address = a->username = (char *)addr;
	a->host = (char *)pr->host;
	a->port = pr->port;
	a->tls = CONFIG_TLS_NONE;
	a->sessions = 2;
	a->limits = (struct config_limits){ .per_hour = pr->per_hour, .per_day = pr->per_day,
	    .count_recipients = pr->count_recipients, .min_interval = pr->min_interval,
	    .max_recipients = pr->max_recipients, .max_message_size = pr->max_message_size };
	a->backoff_initial = 300;	/* the defaults */
	a->backoff_max = 3600;
	while (pr->rules[n].match != NULL)
		n++;
	a->rules = xcalloc(n, sizeof(*a->rules));
	for (size_t k = 0; k < n; k++) {
		CHECK(outcome_rule_compile(&a->rules[k], pr->rules[k].match, pr->rules[k].stage,
		    pr->rules[k].action, err, sizeof(err)) == 0, "preset %s: %s", name, err);
		a->nrules++;
	}
}

/*
 * sim_acceptance: issue 13's "done when": a 2,000-recipient mailing (messages of one
 * to three recipients) through a mail.ru-preset account and a yandex-preset account,
 * both with the presets' limits and reply rules (preset.c). Their providers take
 * less than the presets allow: Mail.ru 130 recipients in a sliding day, refusing the
 * rest; Yandex 60 in a sliding day, then it refuses everything for 24 hours
 * (PROVIDERS.md). Each episode of refusals has the next reply of the tables above
 * (bare and multi-line, at MAIL, RCPT and DATA). relayd restarts once on day 2. It
 * must be delivered completely, every recipient once, never over a configured
 * limit, with no recipient failed. (Late in the mailing both accounts are at their
 * limits and refuse the oldest message in turn: before outcome_guess_bound counted
 * the span of the refusals, that message reached the bound on guesses in 20 hours
 * and its recipient failed.)
 */
static void
sim_acceptance(struct sim *x, const char *base)
{
	int total = 0;

	sim_fixed(x, base, 13013, 2);
	sim_preset_account(x, 0, "mail.ru", "shop@mail.example");
	sim_preset_account(x, 1, "yandex", "shop@yandex.example");
	x->prov[0] = (struct sim_provider){ .limit = 130, .window = 86400,
	    .script = sim_mailru_refusals, .nscript = sizeof(sim_mailru_refusals) /
	    sizeof(sim_mailru_refusals[0]) };
	x->prov[1] = (struct sim_provider){ .limit = 60, .window = 86400, .block = 86400,
	    .script = sim_yandex_refusals, .nscript = sizeof(sim_yandex_refusals) /
	    sizeof(sim_yandex_refusals[0]) };
	for (int i = 0; i < 2; i++)
		x->prov[i].throttle = "unused (scripted)";
	for (x->nmsgs = 0; total < 2000; x->nmsgs++) {
		struct sim_msg *sm = &x->msgs[x->nmsgs];

		sm->arrive = 1000 + x->nmsgs * 0.1;
		sm->nrcpt = x->nmsgs % SIM_RCPTS + 1 < 2000 - total ?
		    x->nmsgs % SIM_RCPTS + 1 : 2000 - total;
		total += sm->nrcpt;
	}
	x->nrestarts = 1;
	x->restarts[0] = 1000 + 86400 + 777;
}

/* sim_run: one scenario to its end; returns 0 or -1 (x->fail says why). */
static int
sim_run(struct sim *x, struct queue *q)
{
	int next_msg = 0, events = 0;

	x->q = q;
	mkdir(x->spool, 0700);
	sim_clock(x);
	clock_restart();
	x->s = scheduler_new(NULL, NULL, &x->cfg, x->q);
	if (x->s == NULL) {
		sim_fail(x, "setup", "scheduler_new failed");
		return -1;
	}
	scheduler_set_transport(x->s, &sim_transport, x);
	while (events++ < SIM_EVENTS && x->mono < 1000 + SIM_HORIZON && !x->fail[0]) {
		double t = 0;
		int what = 0, which = -1;	/* 1 msg, 2 timer, 3 session, 4 restart, 5 step */

#define CAND(tt, w, i) do { if ((tt) > 0 && (t == 0 || (tt) < t)) { t = (tt); \
	what = (w); which = (i); } } while (0)
		if (next_msg < x->nmsgs)
			CAND(x->msgs[next_msg].arrive, 1, next_msg);
		if (scheduler_wakeup(x->s) > 0)	/* steady clock -> monotonic */
			CAND(x->mono + (scheduler_wakeup(x->s) - clock_steady()) + 1e-6, 2, 0);
		for (int i = 0; i < SIM_SESS; i++)
			if (x->sess[i].st != SS_FREE)
				CAND(x->sess[i].at, 3, i);
		for (int i = 0; i < x->nrestarts; i++)
			CAND(x->restarts[i], 4, i);
		for (int i = 0; i < x->nsteps; i++)
			CAND(x->steps[i], 5, i);
#undef CAND
		if (what == 0)
			break;		/* nothing more will happen */
		if (t > x->mono) {
			x->wall += t - x->mono;
			x->mono = t;
		}
		sim_clock(x);
		stat_events++;
		switch (what) {
		case 1:
			x->msgs[which].submitted = 1;
			/* queue.c's id: arrival second and a sequence number. The
			 * second is taken before any step of the wall clock: a step
			 * back between two arrivals reorders their ids, in relayd
			 * too (only among messages ready in the same second). */
			snprintf(x->msgs[which].id, sizeof(x->msgs[which].id), "%08X%08X",
			    (unsigned)(1.8e9 + x->mono), (unsigned)which + 1);
			next_msg++;
			scheduler_add(x->s, sim_queue_msg(x, &x->msgs[which], 0));
			break;
		case 2:
			scheduler_run(x->s);
			break;
		case 3:
			sim_session_event(x, &x->sess[which]);
			break;
		case 4:
			x->restarts[which] = 0;
			log_debug("SIM restart at %.3f", x->mono);
			sim_restart(x);
			break;
		case 5:
			x->wall += x->step_by[which];
			x->steps[which] = 0;
			stat_steps++;
			sim_clock(x);
			break;
		}
		if (rnd(x) < 0.05)
			sim_check_status(x);
		/* Deferred messages wait for their time: a message whose time came but
		 * nothing woke the scheduler would wait without bound. */
		if (next_msg == x->nmsgs && scheduler_count(x->s) > 0 && scheduler_wakeup(x->s)
		    == 0 && x->s->ninflight == 0) {
			int busy = 0;

			for (int i = 0; i < SIM_SESS; i++)
				busy |= x->sess[i].st == SS_CONNECTING || x->sess[i].st == SS_BUSY;
			if (!busy) {
				sim_fail(x, "delivery", "%zu message(s) queued and nothing will "
				    "ever run the scheduler again", scheduler_count(x->s));
				if (getenv("SIM_DEBUG"))
					sim_dump(x);
			}
		}
	}
	if (!x->fail[0] && scheduler_count(x->s) > 0)
		sim_fail(x, "delivery", "%zu message(s) still queued after %d events, %.0f s",
		    scheduler_count(x->s), events, x->mono - 1000);
	if (!x->fail[0])
		sim_check_end(x);
	if (x->fail[0] && getenv("SIM_DEBUG")) {
		char *cmd = xasprintf("echo wall-mono %.3f; cat %s/ledger/*", x->wall - x->mono,
		    x->spool);
		if (system(cmd) == -1)
			perror("cat");
		free(cmd);
	}
	scheduler_free(x->s);
	x->s = NULL;
	return x->fail[0] ? -1 : 0;
}

int
main(int argc, char **argv)
{
	char base[] = "/dev/shm/test_sim.XXXXXX", path[512];
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : SIM_SCENARIOS, failed = 0;
	unsigned only = argc > 2 ? (unsigned)atoi(argv[2]) : 0;
	struct event_base *eb;
	struct queue *q;

	/* The scheduler's log lines are not checked; SIM_DEBUG=1 shows them. */
	log_init(0, getenv("SIM_DEBUG") ? LOG_DEBUG : LOG_CRIT);
	if (mkdtemp(base) == NULL && (strcpy(base, "/tmp/test_sim.XXXXXX"),
	    mkdtemp(base) == NULL)) {
		perror("mkdtemp");
		return 1;
	}
	CHECK(outcome_init() == 0, "outcome_init");
	for (size_t i = 0; i < sizeof(throttles) / sizeof(throttles[0]); i++)
		CHECK(outcome_classify(NULL, 0, throttles[i][1] ? OUTCOME_MAIL : OUTCOME_DATA,
		    throttles[i][0]) == OUTCOME_THROTTLE, "\"%s\" does not throttle",
		    throttles[i][0]);
	snprintf(path, sizeof(path), "%s/queue", base);
	eb = event_base_new();
	q = queue_open(eb, path);
	CHECK(q != NULL, "queue_open");
	if (q != NULL && !only) {
		struct sim *x = xcalloc(1, sizeof(*x));

		sim_mailing(x, base);
		CHECK(sim_run(x, q) == 0, "the mailing: %s", x->fail);
		CHECK(x->mono - 1000 > 12 * 86400 && x->mono - 1000 < 16 * 86400,
		    "the mailing took %.1f days, not about two weeks", (x->mono - 1000) / 86400);
		if (!x->fail[0])
			printf("test_sim: the mailing: %d recipients at 150 a day delivered in %.1f "
		    "days, none failed\n", x->nmsgs, (x->mono - 1000) / 86400);
		free(x);
	}
	if (q != NULL && !only) {
		struct sim *x = xcalloc(1, sizeof(*x));
		int hour[2], day[2];

		sim_acceptance(x, base);
		CHECK(sim_run(x, q) == 0, "the acceptance mailing: %s", x->fail);
		for (int i = 0; i < 2; i++) {
			hour[i] = sim_check_window(x, i, 0, 3600, "hour");
			day[i] = sim_check_window(x, i, 0, 86400, "day");
			CHECK(x->prov[i].nrefused > 0, "account %s was never refused",
			    x->acct[i].name);
		}
		/* No reply is lost here: every recipient is delivered exactly once (a
		 * message may go in parts, as the quota left allows). */
		int got = 0;
		for (int i = 0; i < 2; i++)
			for (int k = 0; k < x->prov[i].nsends; k++)
				got += x->prov[i].units[k];
		CHECK(x->prov[0].twice + x->prov[1].twice == 0 && got == 2000, "%d recipients "
		    "taken, %d + %d of them twice", got, x->prov[0].twice, x->prov[1].twice);
		if (!x->fail[0])
			printf("test_sim: the acceptance mailing: 2000 recipients in %d messages "
			    "through mail.ru (%d/h, %d/day) and yandex (%d/h, %d/day) presets "
			    "delivered in %.1f days, none failed; mail.ru took %d transactions, most "
			    "%d an hour, %d a day, refused %d times (%d guessed); yandex took %d, "
			    "most %d an hour, %d a day, refused %d times (%d guessed)\n",
			    x->nmsgs, x->acct[0].limits.per_hour, x->acct[0].limits.per_day,
			    x->acct[1].limits.per_hour, x->acct[1].limits.per_day,
			    (x->mono - 1000) / 86400, x->prov[0].nsends, hour[0], day[0],
			    x->prov[0].nrefused, x->prov[0].nguessed, x->prov[1].nsends, hour[1],
			    day[1], x->prov[1].nrefused, x->prov[1].nguessed);
		for (int i = 0; i < 2; i++) {
			for (size_t k = 0; k < x->acct[i].nrules; k++)
				outcome_rule_free(&x->acct[i].rules[k]);
			free(x->acct[i].rules);
		}
		free(x);
	}
	for (unsigned i = only ? only : 1; q != NULL && i <= (only ? only : n); i++) {
		struct sim *x = xcalloc(1, sizeof(*x));

		sim_setup(x, i, base);
		if (sim_run(x, q) == -1) {
			if (failed++ < 5)
				fprintf(stderr, "scenario %u (seed %u): %s\n", i, i, x->fail);
		}
		char *cmd = xasprintf("rm -rf '%s'", x->spool);
		if (system(cmd) == -1)
			perror("rm");
		free(cmd);
		free(x);
	}
	CHECK(failed == 0, "%u of %u scenarios broke an invariant (rerun one: %s N SEED)",
	    failed, n, argv[0]);
	printf("test_sim: %u scenarios, %llu events, %llu sends, %llu throttles, %llu lost "
	    "replies, %llu restarts, %llu clock steps, %llu status checks; invariants: "
	    "window, nofail, delivery, fifo, status\n", only ? 1 : n, stat_events, stat_sends,
	    stat_throttles, stat_lost, stat_restarts, stat_steps, stat_status);
	queue_close(q);
	event_base_free(eb);
	t_rmtree(base);
	T_DONE();
}

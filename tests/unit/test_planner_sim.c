/*
 * test_planner_sim: the planner (issue 16) on a virtual clock, the scheduler driving
 * simulated sessions against a provider model, as test_sim.c does for pacing.
 *
 * The learn mailing: a 2,000-recipient mailing through one account whose operator
 * guessed its limits too high (100 an hour, 500 a day), at a provider that behaves
 * as Mail.ru did for the people who measured it (PROVIDERS.md): it takes 182 in a
 * day, refuses the next with 553, and then for two days takes no more than 5 an
 * hour, each refused try extending those two days. relayd is restarted twice on the
 * way (what it learned must survive). Run with learn off (today's behaviour) and with
 * the Mail.ru preset's learn; the figures (refused attempts, days) are printed, and
 * with learn on the refusals must be a handful.
 *
 * The warm-up: a new account (per_day 500) warming up from 10 over 30 days, with
 * mail always waiting: in no sliding day does the provider receive more than the
 * ramp allows that day, and on its last days it receives close to it.
 *
 * The window: "Mon-Fri 08:00-20:00 Europe/Berlin" over the spring DST change (2027-03-28)
 * with mail always waiting: no send outside the window, and each day's first send at
 * 08:00 local (within five minutes), before and after the change.
 *
 * The spread scenarios: seeded random limits and sessions with limits.spread: the
 * provider never receives more than the burst in any burst window, nor more than
 * per_hour in any sliding hour, and everything is delivered.
 */
#include <sys/stat.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "outcome.h"
#include "planner.h"
#include "preset.h"
#include "queue.h"
#include "scheduler.h"
#include "scheduler_int.h"
#include "sendwindow.h"
#include "xmalloc.h"
#include "t.h"
#include "sim_sess.h"

#define PS_MSGS		2000
#define PS_SENDS	4096
#define PS_EVENTS	400000
#define PS_SPREADS	200

struct ps {
	double			 mono, wall;
	struct config		 cfg;
	struct config_account	 acct;
	struct scheduler	*s;
	struct queue		*q;
	struct sim_sess		 h;		/* its sessions (sim_sess.h) */
	char			 spool[256];
	unsigned		 seed;
	/* the provider */
	int			 model;		/* 1: Mail.ru-like penalty; 0: takes all */
	int			 day_limit, penalty_rate;
	double			 penalty_until;
	double			 sends[PS_SENDS];
	int			 nsends;
	int			 refused;
	int			 sent;
	double			 restarts[2];
	int			 restarted_learned;	/* restarts with limits learned */
	long long		 last_day;		/* window: local day of the last send */
	int			 window_days;		/* days with sends */
	char			 fail[256];
};

static unsigned ps_jitter;

uint32_t
arc4random(void)
{
	return (uint32_t)rand_r(&ps_jitter) * 2654435761u;
}

static void
ps_clock(struct ps *x)
{
	clock_fake(1, x->wall, x->mono);
}

/* ps_count: what the provider took in the window before now. */
static int
ps_count(const struct ps *x, double window)
{
	int n = 0;

	for (int i = x->nsends - 1; i >= 0 && x->sends[i] > x->mono - window; i--)
		n++;
	return n;
}

/*
 * ps_window_check: a send now is inside the window (Mon-Fri 08:00-20:00), and a day's
 * first at its opening. Local time comes from libc (TZ=Europe/Berlin, set by main:
 * this test is one thread), not from sendwindow.c, which it checks.
 */
static void
ps_window_check(struct ps *x)
{
	time_t t = (time_t)x->wall;
	struct tm tm;
	long long day;
	int min;

	localtime_r(&t, &tm);
	day = tm.tm_year * 1000LL + tm.tm_yday;
	min = tm.tm_hour * 60 + tm.tm_min;
	if (tm.tm_wday == 0 || tm.tm_wday == 6 || min < 480 || min >= 1200)
		snprintf(x->fail, sizeof(x->fail), "a send at %lld, outside the window (local "
		    "%02d:%02d, day %d of the week)", (long long)t, min / 60, min % 60,
		    tm.tm_wday);
	else if (day != x->last_day && min >= 480 + 5)
		snprintf(x->fail, sizeof(x->fail), "the first send of local day %lld at "
		    "%02d:%02d, not at the window's opening", day, min / 60, min % 60);
	if (day != x->last_day)
		x->window_days++;
	x->last_day = day;
}

/* ps_provider: does the provider take one more now? A refusal starts or extends
 * its penalty. */
static int
ps_provider(struct ps *x)
{
	int ok;

	if (x->model == 0)
		ok = 1;
	else if (x->mono < x->penalty_until)
		ok = ps_count(x, 3600) < x->penalty_rate;
	else
		ok = ps_count(x, 86400) < x->day_limit;
	if (!ok) {
		x->refused++;
		if (getenv("SIM_DEBUG"))
			fprintf(stderr, "SIM refused at day %.3f (%s)\n", (x->mono - 1000) / 86400,
			    x->spool);
		x->penalty_until = x->mono + 2 * 86400;
		return 0;
	}
	if (x->acct.window != NULL)
		ps_window_check(x);
	if (x->nsends == PS_SENDS) {	/* keep the last day's */
		memmove(x->sends, x->sends + PS_SENDS / 2, PS_SENDS / 2 * sizeof(double));
		x->nsends = PS_SENDS / 2;
	}
	x->sends[x->nsends++] = x->mono;
	return 1;
}

/* ps_transaction: the provider answers a transaction, recipient by recipient. */
static void
ps_transaction(void *test, struct upstream *u)
{
	struct ps *x = test;
	struct sched_rcpt_result res[SIM_SESS_RCPTS];
	const char *reply;

	for (size_t i = 0; i < u->n; i++) {
		/* Each recipient is one delivery the provider counts. Mail.ru's 553
		 * comes at MAIL FROM (PROVIDERS.md). */
		reply = ps_provider(x) ? "250 2.0.0 OK" : "553 5.7.1 Sender rate limit, try later";
		res[i] = (struct sched_rcpt_result){ .idx = u->idx[i], .action =
		    outcome_classify(NULL, 0, OUTCOME_MAIL, reply), .reply = reply };
		x->sent += res[i].action == OUTCOME_SENT;
	}
	sim_sess_reply(&x->h, u, res, u->n);
}

static struct queue_msg *
ps_msg(struct ps *x, int k, int nrcpt)
{
	struct queue_msg *m = queue_msg_new(x->q, "127.0.0.1", "crm@app.example");
	char addr[64];

	snprintf(m->id, sizeof(m->id), "%08X%08X", 1234u, (unsigned)k + 1);
	m->size = 1000;
	for (int r = 0; r < nrcpt; r++) {
		snprintf(addr, sizeof(addr), "r%d.%d@example.org", k, r);
		queue_msg_add_rcpt(m, addr);
	}
	return m;
}

/*
 * ps_run: submit nmsgs messages of nrcpt at the start and run until they are sent
 * (or the horizon). Restarts rebuild the scheduler over the same spool with what is
 * still queued. check (may be NULL) runs after every event.
 */
static double
ps_run(struct ps *x, int nmsgs, int nrcpt, double horizon, void (*check)(struct ps *))
{
	int events = 0, sent_msgs[PS_MSGS] = { 0 };
	double start = x->mono;

	mkdir(x->spool, 0700);
	ps_clock(x);
	clock_restart();
	x->h = (struct sim_sess){ .mono = &x->mono, .wall = &x->wall, .s = &x->s,
	    .cfg = &x->cfg, .transaction = ps_transaction, .test = x };
	x->s = scheduler_new(NULL, NULL, &x->cfg, x->q);
	scheduler_set_transport(x->s, &sim_sess_transport, &x->h);
	for (int k = 0; k < nmsgs; k++)
		scheduler_add(x->s, ps_msg(x, k, nrcpt));
	while (events++ < PS_EVENTS && scheduler_count(x->s) > 0 && !x->fail[0] &&
	    x->mono < start + horizon) {
		double t;
		int which = 0, what = sim_sess_step(&x->h, x->restarts, 2, &t, &which);

		if (what == 0)
			break;
		if (sim_sess_go(&x->h, what, which, t)) {
			/* relayd restarts: what is still queued is loaded anew, and
			 * what it learned is kept. */
			struct planner_learned was = x->s->accounts[0]->learned;

			x->restarts[which] = 0;
			for (int k = 0; k < nmsgs; k++) {
				char id[QUEUE_ID_LEN + 1];

				snprintf(id, sizeof(id), "%08X%08X", 1234u, (unsigned)k + 1);
				sent_msgs[k] = scheduler_find(x->s, id) == NULL;
			}
			scheduler_free(x->s);
			clock_restart();
			x->s = scheduler_new(NULL, NULL, &x->cfg, x->q);
			scheduler_set_transport(x->s, &sim_sess_transport, &x->h);
			if ((was.hour > 0) != (x->s->accounts[0]->learned.hour > 0) ||
			    (was.day > 0) != (x->s->accounts[0]->learned.day > 0))
				snprintf(x->fail, sizeof(x->fail), "the restart lost the learned "
				    "limits (%d/%d before, %d/%d after)", was.hour, was.day,
				    x->s->accounts[0]->learned.hour, x->s->accounts[0]->learned.day);
			x->restarted_learned += was.hour > 0;
			for (int k = 0; k < nmsgs; k++)
				if (!sent_msgs[k])
					scheduler_msg_loaded(ps_msg(x, k, nrcpt), x->s);
			scheduler_run(x->s);
		}
		if (check != NULL)
			check(x);
	}
	if (!x->fail[0] && scheduler_count(x->s) > 0)
		snprintf(x->fail, sizeof(x->fail), "%zu message(s) still queued after %.1f days",
		    scheduler_count(x->s), (x->mono - start) / 86400);
	scheduler_free(x->s);
	x->s = NULL;
	return (x->mono - start) / 86400;
}

/* ps_setup: a scenario of one account over x->spool, its clocks at wall and 1000. */
static void
ps_setup(struct ps *x, unsigned jitter, double wall)
{
	memset(x, 0, sizeof(*x));
	ps_jitter = jitter;
	x->mono = 1000;
	x->wall = wall;
	x->cfg.spool_dir = x->spool;
	x->cfg.hostname = "relay.test";
	x->cfg.retry_initial = 60;
	x->cfg.retry_max = 3600;
	x->cfg.retry_lifetime = 5 * 86400;
	x->cfg.naccounts = 1;
	x->cfg.accounts = &x->acct;
}

/* The learn mailing (see the top): learn from the preset, or off; the provider takes
 * day_limit a day, then rate an hour for two days after each refusal. */
static void
ps_mailing(struct ps *x, const char *base, const char *preset, int learn, int day_limit,
    int rate)
{
	const struct preset *p = preset_find(preset);

	ps_setup(x, 16, 1.8e9);
	snprintf(x->spool, sizeof(x->spool), "%s/%s-%s", base, preset, learn ? "on" : "off");
	x->acct = (struct config_account){ .name = "mailru", .address = "shop@mail.example",
	    .username = "shop@mail.example", .host = "smtp.mail.example", .port = 465,
	    .tls = CONFIG_TLS_NONE, .sessions = 1, .backoff_initial = 300,
	    .backoff_max = 3600 };
	x->acct.limits = (struct config_limits){ .per_hour = 100, .per_day = 500,
	    .count_recipients = 1, .max_recipients = 1, .max_message_size = 1 << 20 };
	if (learn)
		x->acct.learn = (struct config_learn){ 1, p->learn_factor, p->learn_floor,
		    p->learn_recover_after };
	x->model = 1;
	x->day_limit = day_limit;
	x->penalty_rate = rate;
	x->restarts[0] = 1000 + 1.5 * 86400;
	x->restarts[1] = 1000 + 5.25 * 86400;
}

/* ps_learn: the learn mailing at preset's provider, learn off then on: the figures. */
static void
ps_learn(struct ps *x, struct queue *q, const char *base, const char *preset, int day_limit,
    int rate, int most)
{
	double days_off, days_on;
	int refused_off;

	ps_mailing(x, base, preset, 0, day_limit, rate);
	x->q = q;
	days_off = ps_run(x, PS_MSGS, 1, 60 * 86400, NULL);
	refused_off = x->refused;
	CHECK(x->fail[0] == 0, "%s, learn off: %s", preset, x->fail);
	printf("test_planner_sim: %s-like provider (%d a day, then %d an hour for two days "
	    "after each refusal), learn off: %d recipients in %.1f days, %d refused "
	    "attempts\n", preset, day_limit, rate, x->sent, days_off, refused_off);
	ps_mailing(x, base, preset, 1, day_limit, rate);
	x->q = q;
	days_on = ps_run(x, PS_MSGS, 1, 60 * 86400, NULL);
	CHECK(x->fail[0] == 0, "%s, learn on: %s", preset, x->fail);
	CHECK(x->sent == PS_MSGS, "%s, learn on: %d sent", preset, x->sent);
	CHECK(x->restarted_learned == 2, "%s, learn on: %d of 2 restarts with learned limits",
	    preset, x->restarted_learned);
	printf("test_planner_sim: %s-like provider, learn on (%s preset: factor %.2f, floor "
	    "%d, recover_after %dh): %d recipients in %.1f days, %d refused attempts\n",
	    preset, preset, x->acct.learn.factor, x->acct.learn.floor,
	    x->acct.learn.recover_after, x->sent, days_on, x->refused);
	CHECK(x->refused <= most, "%s, learn on: %d refused attempts, not a handful (%d)",
	    preset, x->refused, most);
	CHECK(x->refused * 10 < refused_off, "%s, learn on: %d refusals against %d without",
	    preset, x->refused, refused_off);
}

/* ps_warmup_check: the last sliding day never beyond the ramp's limit now. */
static int ps_warm_max, ps_warm_ramp;

static void
ps_warmup_check(struct ps *x)
{
	int day, limit = planner_warmup(&x->acct.warmup, x->acct.limits.per_day, x->wall,
	    &day), n = ps_count(x, 86400);

	if (limit == 0)
		limit = x->acct.limits.per_day;
	if (n > limit)
		snprintf(x->fail, sizeof(x->fail), "%d sends in a day on warm-up day %d "
		    "(limit %d)", n, day, limit);
	if (n > ps_warm_max && day > 0) {
		ps_warm_max = n;
		ps_warm_ramp = limit;
	}
}

/* ps_spread_check: no burst beyond the spread's, no hour beyond per_hour. */
static void
ps_spread_check(struct ps *x)
{
	long burst;
	time_t len;

	planner_spread(x->acct.limits.per_hour, x->acct.limits.per_day, &burst, &len);
	if (ps_count(x, (double)len) > burst)
		snprintf(x->fail, sizeof(x->fail), "%d sends in %lld s at %.0f (burst %ld)",
		    ps_count(x, (double)len), (long long)len, x->mono, burst);
	else if (ps_count(x, 3600) > x->acct.limits.per_hour)
		snprintf(x->fail, sizeof(x->fail), "%d sends in an hour (limit %d)",
		    ps_count(x, 3600), x->acct.limits.per_hour);
}

static void
ps_spread(struct ps *x, const char *base, unsigned n)
{
	ps_setup(x, n, 1.8e9 + n * 977);
	x->seed = n * 2654435761u + 7;
	snprintf(x->spool, sizeof(x->spool), "%s/spread%u", base, n);
	x->acct = (struct config_account){ .name = "a", .address = "a@example.ru",
	    .username = "a@example.ru", .host = "smtp.example.ru", .port = 465,
	    .tls = CONFIG_TLS_NONE, .sessions = 1 + (int)(rand_r(&x->seed) % 3),
	    .backoff_initial = 300, .backoff_max = 3600 };
	x->acct.limits = (struct config_limits){ .per_hour = 2 + (int)(rand_r(&x->seed) % 150),
	    .count_recipients = (int)(rand_r(&x->seed) % 2), .max_recipients =
	    1 + (int)(rand_r(&x->seed) % 5), .max_message_size = 1 << 20, .spread = 1 };
	if (rand_r(&x->seed) % 2)
		x->acct.limits.per_day = x->acct.limits.per_hour * 5;
	x->model = 0;
}

int
main(int argc, char **argv)
{
	char base[64];
	struct event_base *eb;
	struct ps *x;
	struct queue *q;
	double days;
	int failed = 0;

	if ((q = sim_sess_spool("test_planner_sim", base, sizeof(base), &eb)) == NULL)
		return 1;
	x = xcalloc(1, sizeof(*x));

	ps_learn(x, q, base, "mail.ru", 182, 5, 8);
	/* Yandex's day (90) is below the hour's learned climb: the day limit climbs
	 * back past it every few days and is refused once each time (12 in 32 days). */
	ps_learn(x, q, base, "yandex", 90, 4, 15);

	/* The warm-up: 30 days from 10 to 500 a day, 2,000 messages of 3 waiting. */
	ps_setup(x, 30, 1.8e9);
	snprintf(x->spool, sizeof(x->spool), "%s/warmup", base);
	x->acct = (struct config_account){ .name = "new", .address = "new@example.ru",
	    .username = "new@example.ru", .host = "smtp.example.ru", .port = 465,
	    .tls = CONFIG_TLS_NONE, .sessions = 2, .backoff_initial = 300,
	    .backoff_max = 3600 };
	x->acct.limits = (struct config_limits){ .per_hour = 100, .per_day = 500,
	    .count_recipients = 1, .max_recipients = 3, .max_message_size = 1 << 20 };
	x->acct.warmup = (struct config_warmup){ 1, (long long)floor(1.8e9 / 86400) * 86400,
	    10, 30 };
	x->q = q;
	days = ps_run(x, PS_MSGS, 3, 30 * 86400, ps_warmup_check);
	CHECK(strstr(x->fail, "still queued") != NULL || x->fail[0] == 0, "warm-up: %s",
	    x->fail);
	CHECK(ps_warm_max > 400, "warm-up: at most %d in a day, the ramp never used",
	    ps_warm_max);
	printf("test_planner_sim: warm-up 10 -> 500 a day over 30 days: %d recipients in "
	    "%.1f days, never beyond the ramp (busiest sliding day %d, its limit %d)\n",
	    x->sent, days, ps_warm_max, ps_warm_ramp);

	/* The window over a DST change: from Wednesday 2027-03-24 00:00 UTC, 30 an hour. */
	struct sendwindow win;
	char err[256];

	ps_setup(x, 31, 1805846400.0);
	snprintf(x->spool, sizeof(x->spool), "%s/window", base);
	x->acct = (struct config_account){ .name = "win", .address = "win@example.de",
	    .username = "win@example.de", .host = "smtp.example.de", .port = 465,
	    .tls = CONFIG_TLS_NONE, .sessions = 1, .backoff_initial = 300,
	    .backoff_max = 3600, .window = &win };
	x->acct.limits = (struct config_limits){ .per_hour = 30, .count_recipients = 1,
	    .max_recipients = 1, .max_message_size = 1 << 20 };
	x->q = q;
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	if (sendwindow_parse("Mon-Fri 08:00-20:00 Europe/Berlin", &win, err, sizeof(err)) == 0 &&
	    sendwindow_load(&win, NULL, err, sizeof(err)) == 0) {
		days = ps_run(x, PS_MSGS, 1, 30 * 86400, NULL);
		CHECK(x->fail[0] == 0 && x->sent == PS_MSGS, "window: %s (%d sent)", x->fail,
		    x->sent);
		CHECK(x->window_days >= 6, "window: only %d days, the DST change not crossed",
		    x->window_days);
		if (x->fail[0] == 0)
			printf("test_planner_sim: window Mon-Fri 08:00-20:00 Europe/Berlin across the "
			    "2027-03-28 DST change: %d recipients on %d weekdays in %.1f days, "
			    "none outside, each day's first at 08:00 local\n", x->sent,
			    x->window_days, days);
		sendwindow_free_data(&win);
	} else
		printf("test_planner_sim: no tz database (%s): window scenario skipped\n", err);

	for (unsigned i = 1; i <= PS_SPREADS; i++) {
		ps_spread(x, base, i);
		x->q = q;
		/* Counting messages, the provider's count (recipients) must match. */
		ps_run(x, 60, x->acct.limits.count_recipients ? 1 + (int)(i % 3) : 1, 30 * 86400,
		    ps_spread_check);
		if (x->fail[0] && failed++ < 5)
			fprintf(stderr, "spread scenario %u (per_hour %d, sessions %d): %s\n", i,
			    x->acct.limits.per_hour, x->acct.sessions, x->fail);
	}
	CHECK(failed == 0, "%d of %d spread scenarios burst or stalled", failed, PS_SPREADS);
	printf("test_planner_sim: %d spread scenarios; invariants: burst, hour, delivery\n",
	    PS_SPREADS);
	queue_close(q);
	event_base_free(eb);
	free(x);
	t_rmtree(base);
	(void)argc;
	(void)argv;
	T_DONE();
}

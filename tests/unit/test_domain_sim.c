/*
 * test_domain_sim: per recipient domain pacing (relay.conf `domains`, issue 16) on a
 * virtual clock: the scheduler drives simulated sessions (sim_sess.h) of one to three accounts
 * (spill-over in config order) against a provider that takes everything and counts
 * what it received per recipient domain, as test_planner_sim.c does for one account.
 *
 * Each seeded scenario limits gmail.com and *.example.com (random per_hour, some a
 * per_day too) and leaves example.com itself, mail.test and yandex.test unlimited.
 * The mail starts with a backlog to gmail.com alone (far more than its hour), then
 * mixed messages with recipients at several domains. relayd restarts once (the
 * domain ledgers must survive it) and reloads once with gmail.com's limit changed.
 * retry lifetime is ten minutes: a domain wait counted as failing would expire mail.
 *
 * Invariants, checked at every send:
 *   domain:   the provider never received more recipients of a limited entry in a
 *             sliding hour (day) than its per_hour (per_day), across all accounts,
 *             restarts included; after the reload, the new limit;
 *   account:  nor more than an account's per_hour units through that account;
 *   status:   the messages relayctl status counts as waiting for each entry are the
 *             ones that wait for it, none in flight (every 64 events);
 * and at the end:
 *   delivery: every recipient delivered, once; nothing failed or deferred;
 *   flow:     the unlimited domains' recipients were all delivered within what the
 *             accounts' rate, less what the limited domains may take of it, allows
 *             (no head-of-line blocking behind the gmail.com backlog).
 * The first scenario's figures are printed.
 */
#include <sys/stat.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "outcome.h"
#include "queue.h"
#include "scheduler.h"
#include "scheduler_int.h"
#include "xmalloc.h"
#include "t.h"
#include "sim_sess.h"

#define DS_SCENARIOS	60
#define DS_ACCTS	3
#define DS_MSGS		400
#define DS_RCPTS	4
#define DS_SENDS	8192
#define DS_EVENTS	400000
#define DS_HORIZON	(20 * 86400.0)

static const char *ds_domains[] = {
	"gmail.com", "a.example.com", "mx.b.example.com", "example.com", "mail.test",
	"yandex.test",
};
#define DS_NDOMAINS	(sizeof(ds_domains) / sizeof(ds_domains[0]))

/* What the provider received of one limited entry, or through one account. */
struct ds_log {
	double		 t[DS_SENDS];
	int		 n;
};

struct ds_msg {
	int		 nrcpt;
	int		 dom[DS_RCPTS];		/* index in ds_domains */
	int		 got[DS_RCPTS];
};

struct ds {
	unsigned		 seed;
	double			 mono, wall, start;
	struct config		 cfg, cfg2;	/* cfg2: after the reload */
	struct config_account	 acct[DS_ACCTS];
	struct config_domain	 dom[2], dom2[2];
	struct scheduler	*s;
	struct queue		*q;
	struct sim_sess		 h;		/* its sessions (sim_sess.h) */
	struct ds_msg		 msgs[DS_MSGS];
	int			 nmsgs;
	struct ds_log		 bydom[2], byacct[DS_ACCTS];
	double			 restart_at, reload_at, reloaded;
	int			 busiest[2];	/* most in a sliding hour, per entry */
	int			 others, others_got;
	double			 others_done, limited_done;
	char			 spool[256];
	char			 fail[512];
};

static unsigned ds_jitter;

uint32_t
arc4random(void)
{
	return (uint32_t)rand_r(&ds_jitter) * 2654435761u;
}

static int
ds_rnd(struct ds *x, int lo, int hi)
{
	return lo + (int)(rand_r(&x->seed) % (unsigned)(hi - lo + 1));
}

static void
ds_clock(struct ds *x)
{
	clock_fake(1, x->wall, x->mono);
}

/* ds_entry: the limited entry of domain index d (the test's own reading), or -1. */
static int
ds_entry(int d)
{
	const char *dom = ds_domains[d];
	size_t n = strlen(dom);

	if (strcmp(dom, "gmail.com") == 0)
		return 0;
	if (n > 12 && strcmp(dom + n - 12, ".example.com") == 0)
		return 1;
	return -1;
}

/* ds_cur: the domain entries in force now (before or after the reload). */
static const struct config_domain *
ds_cur(struct ds *x)
{
	return x->reloaded > 0 ? x->dom2 : x->dom;
}

/* ds_count: what log holds in the window before now. */
static int
ds_count(const struct ds *x, const struct ds_log *l, double window)
{
	int n = 0;

	for (int i = l->n - 1; i >= 0 && l->t[i] > x->mono - window; i--)
		n++;
	return n;
}

static void
ds_record(struct ds_log *l, double t, int units)
{
	for (int i = 0; i < units; i++) {
		if (l->n == DS_SENDS) {	/* keep the last half: more than a day */
			memmove(l->t, l->t + DS_SENDS / 2, DS_SENDS / 2 * sizeof(double));
			l->n = DS_SENDS / 2;
		}
		l->t[l->n++] = t;
	}
}

static int
ds_msg_index(const struct queue_msg *m)
{
	return (int)strtol(m->id + 8, NULL, 16) - 1;
}

/* ds_transaction: the provider takes the transaction's recipients; the checks. */
static void
ds_transaction(void *test, struct upstream *u)
{
	struct ds *x = test;
	const struct config_account *ca = &x->acct[u->acct];
	struct sched_rcpt_result res[DS_RCPTS];
	struct queue_msg *m = u->m;
	struct ds_msg *dm = &x->msgs[ds_msg_index(m)];
	int add[2] = { 0, 0 }, units = ca->limits.count_recipients ? (int)u->n : 1;

	if (u->n == 0)
		snprintf(x->fail, sizeof(x->fail), "%s taken with no recipient to send", m->id);

	for (size_t i = 0; i < u->n; i++) {
		int e = ds_entry(dm->dom[u->idx[i]]);

		if (e >= 0)
			add[e]++;
		if (dm->got[u->idx[i]]++)
			snprintf(x->fail, sizeof(x->fail), "%s: recipient %zu got twice", m->id,
			    u->idx[i]);
		if (e < 0) {
			x->others_got++;
			x->others_done = x->mono - x->start;
		} else
			x->limited_done = x->mono - x->start;
		res[i] = (struct sched_rcpt_result){ .idx = u->idx[i], .action = OUTCOME_SENT,
		    .reply = "250 2.0.0 OK" };
	}
	for (int e = 0; e < 2; e++) {
		const struct config_domain *d = &ds_cur(x)[e];
		int h = ds_count(x, &x->bydom[e], 3600) + add[e];
		int day = ds_count(x, &x->bydom[e], 86400) + add[e];

		if (add[e] == 0)
			continue;
		if (d->per_hour > 0 && h > d->per_hour)
			snprintf(x->fail, sizeof(x->fail), "domain %s: %d in a sliding hour at "
			    "%.0f s (per_hour %d)", d->match, h, x->mono - x->start, d->per_hour);
		if (d->per_day > 0 && day > d->per_day)
			snprintf(x->fail, sizeof(x->fail), "domain %s: %d in a sliding day "
			    "(per_day %d)", d->match, day, d->per_day);
		ds_record(&x->bydom[e], x->mono, add[e]);
		if (h > x->busiest[e])
			x->busiest[e] = h;
	}
	if (ds_count(x, &x->byacct[u->acct], 3600) + units > ca->limits.per_hour)
		snprintf(x->fail, sizeof(x->fail), "account %s: more than %d in an hour",
		    ca->name, ca->limits.per_hour);
	ds_record(&x->byacct[u->acct], x->mono, units);
	sim_sess_reply(&x->h, u, res, u->n);
}

/* ds_msg: message k as queued (its recipients still pending only). */
static struct queue_msg *
ds_msg(struct ds *x, int k)
{
	struct queue_msg *m = queue_msg_new(x->q, "127.0.0.1", "crm@app.example");
	char addr[96];

	snprintf(m->id, sizeof(m->id), "%08X%08X", 4321u, (unsigned)k + 1);
	m->size = 1000;
	for (int r = 0; r < x->msgs[k].nrcpt; r++) {
		snprintf(addr, sizeof(addr), "r%d.%d@%s", k, r, ds_domains[x->msgs[k].dom[r]]);
		queue_msg_add_rcpt(m, addr);
		if (x->msgs[k].got[r])
			m->rcpts[r].state = QUEUE_RCPT_SENT;
	}
	return m;
}

/* ds_setup: scenario n: its accounts, domain limits and mail. */
static void
ds_setup(struct ds *x, const char *base, unsigned n)
{
	int gmail_first, total = 0;

	memset(x, 0, sizeof(*x));
	ds_jitter = n;
	x->seed = n * 2654435761u + 11;
	x->mono = x->start = 1000;
	x->wall = 1.8e9 + n * 977;
	snprintf(x->spool, sizeof(x->spool), "%s/s%u", base, n);
	x->cfg.spool_dir = x->spool;
	x->cfg.hostname = "relay.test";
	x->cfg.retry_initial = 60;
	x->cfg.retry_max = 600;
	x->cfg.retry_lifetime = 600;	/* a domain wait counted as failing expires */
	x->cfg.naccounts = (size_t)ds_rnd(x, 1, DS_ACCTS);
	x->cfg.accounts = x->acct;
	for (size_t i = 0; i < x->cfg.naccounts; i++) {
		struct config_account *a = &x->acct[i];

		*a = (struct config_account){ .tls = CONFIG_TLS_NONE, .port = 465,
		    .sessions = ds_rnd(x, 1, 2), .backoff_initial = 300, .backoff_max = 3600 };
		a->name = xasprintf("a%zu", i);
		a->address = xasprintf("a%zu@relay.test", i);
		a->username = a->address;
		a->host = "smtp.relay.test";
		a->limits = (struct config_limits){ .per_hour = ds_rnd(x, 40, 150),
		    .count_recipients = n == 1 || ds_rnd(x, 0, 3) > 0,
		    .max_recipients = ds_rnd(x, 1, DS_RCPTS), .max_message_size = 1 << 20 };
	}
	for (size_t i = 0; i < x->cfg.naccounts; i++)
		total += x->acct[i].limits.per_hour;
	/* Each limited entry may take up to a quarter of the accounts' hour. */
	x->dom[0] = (struct config_domain){ .match = "gmail.com", .domain = "gmail.com",
	    .per_hour = ds_rnd(x, 2, total / 4), .per_day = ds_rnd(x, 0, 1) ?
	    ds_rnd(x, 40, 200) : 0 };
	x->dom[1] = (struct config_domain){ .match = "*.example.com", .domain = "example.com",
	    .subdomains = 1, .per_hour = ds_rnd(x, 2, total / 4) };
	x->cfg.domains = x->dom;
	x->cfg.ndomains = 2;
	x->cfg2 = x->cfg;
	memcpy(x->dom2, x->dom, sizeof(x->dom));
	x->dom2[0].per_hour = ds_rnd(x, 2, total / 4);	/* the reload changes gmail.com's */
	x->cfg2.domains = x->dom2;
	/* A gmail.com backlog first, then mixed mail. */
	x->nmsgs = ds_rnd(x, 150, DS_MSGS);
	gmail_first = ds_rnd(x, 40, 120);
	for (int k = 0; k < x->nmsgs; k++) {
		struct ds_msg *dm = &x->msgs[k];

		dm->nrcpt = ds_rnd(x, 1, DS_RCPTS);
		for (int r = 0; r < dm->nrcpt; r++) {
			dm->dom[r] = k < gmail_first ? 0 : ds_rnd(x, 0, (int)DS_NDOMAINS - 1);
			x->others += ds_entry(dm->dom[r]) < 0;
		}
	}
	x->restart_at = x->start + ds_rnd(x, 600, 4 * 3600);
	x->reload_at = x->start + ds_rnd(x, 600, 6 * 3600);
}

static void
ds_teardown(struct ds *x)
{
	for (size_t i = 0; i < x->cfg.naccounts; i++) {
		free(x->acct[i].name);
		free(x->acct[i].address);
	}
}

/* ds_new: relayd (re)starts over the spool with what is still queued. */
static void
ds_new(struct ds *x, int first)
{
	clock_restart();
	x->h.cfg = x->reloaded > 0 ? &x->cfg2 : &x->cfg;
	x->s = scheduler_new(NULL, NULL, x->reloaded > 0 ? &x->cfg2 : &x->cfg, x->q);
	scheduler_set_transport(x->s, &sim_sess_transport, &x->h);
	for (int k = 0; k < x->nmsgs; k++) {
		int left = 0;

		for (int r = 0; r < x->msgs[k].nrcpt; r++)
			left += !x->msgs[k].got[r];
		if (left == 0)
			continue;
		if (first)
			scheduler_add(x->s, ds_msg(x, k));
		else
			scheduler_msg_loaded(ds_msg(x, k), x->s);
	}
	scheduler_run(x->s);
}

/* ds_waiting_msg: count m per domains entry it waits for (scheduler_foreach). */
static void
ds_waiting_msg(struct queue_msg *m, void *arg)
{
	size_t *n = arg;

	if (m->domain_wait > 0 && m->domain_wait <= 2 && !m->inflight && !m->held)
		n[m->domain_wait - 1]++;
	else if (m->domain_wait != 0)
		n[2]++;		/* in flight or held, or no such entry: not waiting */
}

/* ds_check_waiting: relayctl status's waiting counts are the messages that wait. */
static void
ds_check_waiting(struct ds *x)
{
	size_t n[3] = { 0, 0, 0 }, waiting;
	const struct config_domain *d;
	long hour, day;

	scheduler_foreach(x->s, ds_waiting_msg, n);
	for (size_t e = 0; e < 2; e++) {
		scheduler_domain_used(x->s->domains, e, (time_t)clock_steady(), &d, &hour, &day,
		    &waiting);
		if (waiting != n[e] || n[2] != 0)
			snprintf(x->fail, sizeof(x->fail), "status: %zu waiting for %s, %zu "
			    "messages do (%zu marked that do not wait)", waiting, d->match, n[e],
			    n[2]);
	}
}

/* ds_run: scenario x until everything is delivered (or the horizon). */
static void
ds_run(struct ds *x)
{
	int events = 0;

	mkdir(x->spool, 0700);
	ds_clock(x);
	x->h = (struct sim_sess){ .mono = &x->mono, .wall = &x->wall, .s = &x->s,
	    .transaction = ds_transaction, .test = x };
	ds_new(x, 1);
	while (events++ < DS_EVENTS && scheduler_count(x->s) > 0 && !x->fail[0] &&
	    x->mono < x->start + DS_HORIZON) {
		double t, extra[2] = { x->restart_at, x->reload_at };
		int which = 0, what = sim_sess_step(&x->h, extra, 2, &t, &which);

		if (what == 0)
			break;
		if (events % 64 == 0)
			ds_check_waiting(x);
		if (!sim_sess_go(&x->h, what, which, t))
			continue;
		if (which == 0) {	/* the restart */
			x->restart_at = 0;
			scheduler_free(x->s);
			ds_new(x, 0);
		} else {
			x->reload_at = 0;
			if (scheduler_reconfigure(x->s, &x->cfg2) != 0)
				snprintf(x->fail, sizeof(x->fail), "the reload failed");
			x->reloaded = x->mono;
		}
	}
	if (!x->fail[0] && scheduler_count(x->s) > 0)
		snprintf(x->fail, sizeof(x->fail), "%zu message(s) still queued after %.1f days",
		    scheduler_count(x->s), (x->mono - x->start) / 86400);
	if (!x->fail[0] && (x->s->nfailed > 0 || x->s->ndeferred > 0))
		snprintf(x->fail, sizeof(x->fail), "%llu failed, %llu deferred: a domain wait "
		    "is no failure", x->s->nfailed, x->s->ndeferred);
	scheduler_free(x->s);
	x->s = NULL;
}

/*
 * ds_flow_bound: the latest the unlimited domains' recipients may all be delivered:
 * whole hours at the accounts' combined per_hour, less what the limited entries may
 * take of each hour, and one hour more (the last hour's sends, sessions starting).
 */
static double
ds_flow_bound(const struct ds *x)
{
	double rate = 0;
	int dom_hour = x->dom[0].per_hour > x->dom2[0].per_hour ? x->dom[0].per_hour :
	    x->dom2[0].per_hour;

	for (size_t i = 0; i < x->cfg.naccounts; i++)
		rate += x->acct[i].limits.per_hour;
	rate -= dom_hour + x->dom[1].per_hour;
	return 3600 * (ceil(x->others / rate) + 1);
}

int
main(void)
{
	char base[64];
	struct ds *x;
	struct event_base *eb;
	struct queue *q;
	int failed = 0, slow = 0;

	if ((q = sim_sess_spool("test_domain_sim", base, sizeof(base), &eb)) == NULL)
		return 1;
	x = xcalloc(1, sizeof(*x));
	for (unsigned n = 1; n <= DS_SCENARIOS; n++) {
		int delivered = 1;
		double bound;

		ds_setup(x, base, n);
		x->q = q;
		ds_run(x);
		for (int k = 0; k < x->nmsgs; k++)
			for (int r = 0; r < x->msgs[k].nrcpt; r++)
				delivered &= x->msgs[k].got[r] == 1;
		if (!x->fail[0] && !delivered)
			snprintf(x->fail, sizeof(x->fail), "not every recipient delivered once");
		bound = ds_flow_bound(x);
		if (!x->fail[0] && x->others_done > bound) {
			snprintf(x->fail, sizeof(x->fail), "the other domains' %d recipients took "
			    "%.1f h, more than their %.1f h: blocked behind a limited domain",
			    x->others, x->others_done / 3600, bound / 3600);
			slow++;
		}
		if (x->fail[0] && failed++ < 5)
			fprintf(stderr, "domain scenario %u (%zu accounts, gmail.com %d/h then "
			    "%d/h, *.example.com %d/h): %s\n", n, x->cfg.naccounts,
			    x->dom[0].per_hour, x->dom2[0].per_hour, x->dom[1].per_hour, x->fail);
		if (n == 1)
			printf("test_domain_sim: %zu account(s) at %d/h, gmail.com at %d/h (%d/h "
			    "after a reload), *.example.com at %d/h, a restart: %d messages; the "
			    "limited domains held in every sliding hour (busiest %d and %d), "
			    "their mail done in %.1f h; the other domains' %d recipients in "
			    "%.1f h (bound %.1f h)\n", x->cfg.naccounts, x->acct[0].limits.per_hour,
			    x->dom[0].per_hour, x->dom2[0].per_hour, x->dom[1].per_hour, x->nmsgs,
			    x->busiest[0], x->busiest[1], x->limited_done / 3600, x->others,
			    x->others_done / 3600, bound / 3600);
		ds_teardown(x);
	}
	CHECK(failed == 0, "%d of %d domain scenarios broke an invariant (%d blocked)", failed,
	    DS_SCENARIOS, slow);
	printf("test_domain_sim: %d scenarios; invariants: domain hour and day across "
	    "accounts, restarts and a reload, account hour, delivery, no failure, flow\n",
	    DS_SCENARIOS);
	queue_close(q);
	event_base_free(eb);
	free(x);
	t_rmtree(base);
	T_DONE();
}

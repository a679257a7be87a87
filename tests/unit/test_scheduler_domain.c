/*
 * test_scheduler_domain: the domain ledgers (scheduler_domain.c) without the
 * scheduler: which entry a recipient counts against (the first that matches), which
 * recipients a transaction carries (those whose domain has room, in order, up to
 * max), what a transaction is charged (what the provider took or may have), when a
 * message whose every recipient waits may go, the waiting counts, a reload keeping
 * the ledgers and the reservations in flight, a restart keeping the hour, and a
 * ledger that cannot be written reserving nothing.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "queue.h"
#include "scheduler_domain.h"
#include "xmalloc.h"
#include "t.h"

#define T0	1800000000

static struct config_domain domains[] = {
	{ .match = "gmail.com", .domain = "gmail.com", .per_hour = 3 },
	{ .match = "*.example.com", .domain = "example.com", .subdomains = 1, .per_hour = 2,
	  .per_day = 4 },
	{ .match = "mx.example.com", .domain = "mx.example.com", .per_hour = 100 },
};

/* msg: a message to the recipients (NULL-terminated), all pending. */
static struct queue_msg *
msg(const char *id, const char **rcpts)
{
	struct queue_msg *m = xcalloc(1, sizeof(*m));

	snprintf(m->id, sizeof(m->id), "%s", id);
	for (; *rcpts; rcpts++) {
		m->rcpts = xreallocarray(m->rcpts, m->nrcpt + 1, sizeof(*m->rcpts));
		m->rcpts[m->nrcpt++] = (struct queue_rcpt){ .addr = (char *)*rcpts };
	}
	return m;
}

static void
msg_free(struct queue_msg *m)
{
	free(m->rcpts);
	free(m);
}

/* picked: the recipients of m not kept for later, as "0,2,3". */
static const char *
picked(const struct queue_msg *m)
{
	static char buf[64];
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < m->nrcpt; i++)
		if (!m->rcpts[i].later)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%zu", n ? "," : "", i);
	return buf;
}

static long
hour_used(struct sched_domains *d, size_t i, time_t now, size_t *waiting)
{
	const struct config_domain *c;
	long hour, day;

	scheduler_domain_used(d, i, now, &c, &hour, &day, waiting);
	return hour;
}

/* results: the results of a transaction that carried m's picked recipients. */
static size_t
results(const struct queue_msg *m, struct sched_rcpt_result *res, enum outcome_action act,
    int unknown)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nrcpt; i++)
		if (!m->rcpts[i].later)
			res[n++] = (struct sched_rcpt_result){ .idx = i, .action = act,
			    .reply = "x", .unknown = unknown };
	return n;
}

int
main(void)
{
	char dir[] = "/tmp/test_scheduler_domain.XXXXXX";
	struct config cfg = { .domains = domains, .ndomains = 3 };
	struct sched_domains *d;
	struct sched_rcpt_result res[8];
	size_t n, waiting;
	int k;

	log_init(0, LOG_CRIT);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	cfg.spool_dir = dir;
	CHECK((d = scheduler_domain_new(&cfg, NULL, T0)) != NULL, "new");

	/* The first entry that matches: mx.example.com is *.example.com's. */
	static const struct {
		const char	*addr;
		int		 entry;
	} of[] = {
		{ "a@gmail.com", 0 }, { "a@GMAIL.COM", 0 }, { "a@googlemail.com", -1 },
		{ "a@b.example.com", 1 }, { "a@mx.example.com", 1 }, { "a@example.com", -1 },
		{ "\"a@gmail.com\"@example.org", -1 }, { "postmaster", -1 },
	};
	for (size_t i = 0; i < sizeof(of) / sizeof(of[0]); i++)
		CHECK(scheduler_domain_of(d, of[i].addr) == of[i].entry, "%s: entry %d",
		    of[i].addr, scheduler_domain_of(d, of[i].addr));

	/* Picking: gmail.com has room for 3, *.example.com for 2; others unlimited. */
	const char *r1[] = { "1@gmail.com", "2@x.example.com", "3@gmail.com", "4@y.example.com",
	    "5@z.example.com", "6@other.org", "7@gmail.com", "8@gmail.com", NULL };
	struct queue_msg *m1 = msg("M1", r1);

	CHECK(scheduler_domain_wait(d, m1, T0, &k) == 0 && k == -1, "m1 may go now");
	n = scheduler_domain_pick(d, m1, T0, 5);
	CHECK(n == 5 && strcmp(picked(m1), "0,1,2,3,5") == 0, "max 5: %zu %s", n, picked(m1));
	n = scheduler_domain_pick(d, m1, T0, 100);
	CHECK(n == 6 && strcmp(picked(m1), "0,1,2,3,5,6") == 0, "all: %zu %s", n, picked(m1));
	CHECK(scheduler_domain_reserve(d, m1, T0) == 0, "reserve");
	CHECK(hour_used(d, 0, T0, &waiting) == 3 && hour_used(d, 1, T0, &waiting) == 2,
	    "reserved 3 and 2");
	/* The provider took the gmail.com ones; the reply after the dot was lost for one
	 * example.com (may have been taken); 451 for the other. */
	n = results(m1, res, OUTCOME_SENT, 0);
	res[1] = (struct sched_rcpt_result){ .idx = 1, .action = OUTCOME_RETRY, .reply = "x",
	    .unknown = 1 };
	res[3] = (struct sched_rcpt_result){ .idx = 3, .action = OUTCOME_RETRY, .reply = "x" };
	scheduler_domain_settle(d, m1, res, n, T0 + 5);
	CHECK(hour_used(d, 0, T0 + 5, &waiting) == 3, "gmail.com charged 3");
	CHECK(hour_used(d, 1, T0 + 5, &waiting) == 1, "example.com charged 1 (lost reply), "
	    "not the 451: %ld", hour_used(d, 1, T0 + 5, &waiting));
	for (size_t i = 0; i < m1->nrcpt; i++)	/* what went is done */
		if (i == 0 || i == 2 || i == 5 || i == 6)
			m1->rcpts[i].state = QUEUE_RCPT_SENT;

	/* Now gmail.com is full: m1's 8@gmail.com waits, its example.com ones may go. */
	CHECK(scheduler_domain_wait(d, m1, T0 + 10, NULL) == 0, "example.com has room");
	n = scheduler_domain_pick(d, m1, T0 + 10, 100);
	CHECK(n == 1 && strcmp(picked(m1), "1") == 0, "one example.com: %zu %s", n, picked(m1));
	CHECK(scheduler_domain_reserve(d, m1, T0 + 10) == 0, "m1's example.com reserved");
	const char *r2[] = { "9@gmail.com", "10@gmail.com", NULL };
	struct queue_msg *m2 = msg("M2", r2);
	double t = scheduler_domain_wait(d, m2, T0 + 10, &k);

	CHECK(k == 0 && t == T0 + 5 + 3600, "m2 waits for gmail.com until %.0f (entry %d)",
	    t - T0, k);
	CHECK(scheduler_domain_pick(d, m2, T0 + 10, 100) == 0, "m2: nothing to send");
	scheduler_domain_set_waiting(d, m2, k);
	scheduler_domain_set_waiting(d, m2, k);		/* again: counted once */
	hour_used(d, 0, T0, &waiting);
	CHECK(waiting == 1 && m2->domain_wait == 1, "waiting %zu", waiting);

	/* A reload (gmail.com to 5 an hour, the others kept): the ledgers and the
	 * reservations in flight carry over; waiting counts start anew. */
	struct config_domain domains2[] = { domains[1], domains[0] };
	struct config cfg2 = { .domains = domains2, .ndomains = 2, .spool_dir = dir };
	struct sched_domains *d2;

	domains2[1].per_hour = 5;
	CHECK((d2 = scheduler_domain_new(&cfg2, d, T0 + 20)) != NULL, "reload: new");
	scheduler_domain_adopt(d2, d);
	d = d2;
	CHECK(hour_used(d, 1, T0 + 20, &waiting) == 3 && waiting == 0, "gmail.com kept: 3");
	CHECK(scheduler_domain_wait(d, m2, T0 + 20, NULL) == 0, "gmail.com has room at 5");
	n = results(m1, res, OUTCOME_SENT, 0);
	scheduler_domain_settle(d, m1, res, n, T0 + 25);
	CHECK(hour_used(d, 0, T0 + 25, &waiting) == 2, "m1 settled after the reload: %ld",
	    hour_used(d, 0, T0 + 25, &waiting));

	/* A restart (gmail.com listed first now): the hours are on disk. */
	struct config_domain domains3[] = { domains2[1], domains2[0] };
	struct config cfg3 = { .domains = domains3, .ndomains = 2, .spool_dir = dir };

	scheduler_domain_free(d);
	CHECK((d = scheduler_domain_new(&cfg3, NULL, T0 + 30)) != NULL, "restart");
	CHECK(hour_used(d, 0, T0 + 30, &waiting) == 3 && hour_used(d, 1, T0 + 30, &waiting) ==
	    2, "the hours after a restart");
	CHECK(hour_used(d, 0, T0 + 5 + 3600, &waiting) == 0, "an hour later: free");

	/* A ledger that cannot be written (the example.com one: files may not grow past
	 * its size; gmail.com's is smaller and takes its line): nothing is reserved, in
	 * no ledger. */
	struct rlimit was, lim;
	struct stat st;
	const char *r3[] = { "11@x.example.com", "12@gmail.com", NULL };
	struct queue_msg *m3 = msg("M3", r3);
	char path[512];

	snprintf(path, sizeof(path), "%s/ledger/domain__.example.com", dir);
	CHECK(stat(path, &st) == 0, "%s", path);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &was);
	lim = was;
	lim.rlim_cur = (rlim_t)st.st_size;
	n = scheduler_domain_pick(d, m3, T0 + 3700, 100);
	CHECK(n == 2, "m3: both go: %zu", n);
	setrlimit(RLIMIT_FSIZE, &lim);
	CHECK(scheduler_domain_reserve(d, m3, T0 + 3700) == -1, "no ledger: -1");
	setrlimit(RLIMIT_FSIZE, &was);
	CHECK(hour_used(d, 0, T0 + 3700, &waiting) == 0 && hour_used(d, 1, T0 + 3700,
	    &waiting) == 0, "nothing reserved: %ld and %ld", hour_used(d, 0, T0 + 3700,
	    &waiting), hour_used(d, 1, T0 + 3700, &waiting));
	CHECK(scheduler_domain_reserve(d, m3, T0 + 3700) == 0, "the ledger again: 0");
	CHECK(hour_used(d, 0, T0 + 3700, &waiting) == 1 && hour_used(d, 1, T0 + 3700,
	    &waiting) == 1, "one each");

	scheduler_domain_free(d);
	msg_free(m1);
	msg_free(m2);
	msg_free(m3);
	t_rmtree(dir);
	T_DONE();
}

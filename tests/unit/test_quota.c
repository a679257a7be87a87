/*
 * test_quota: the sliding-window ledger, with the clock passed in by the test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "quota.h"
#include "t.h"

/* One step of a scenario: at time t, do op with n, then expect room and next_free. */
struct step {
	time_t		 t;
	char		 op;		/* 'r' reserve n, 's' settle the last reservation to n, '-' none */
	long		 n;
	long		 room;		/* expected quota_room at t after op */
	time_t		 next_free;	/* expected quota_next_free(t, 1) */
};

struct scenario {
	const char	*name;
	int		 per_hour, per_day;
	struct step	 steps[8];
};

static const struct scenario scenarios[] = {
	{ "hour window slides", 5, 0, {
		{ 0, 'r', 3, 2, 0 },
		{ 10, 'r', 2, 0, 3600 },		/* full until the first send leaves */
		{ 3599, '-', 0, 0, 3600 },
		{ 3600, '-', 0, 3, 3600 },		/* 3 units left the window */
		{ 3610, '-', 0, 5, 3610 },
		{ -1, 0, 0, 0, 0 } } },
	{ "day window holds after the hour", 100, 4, {
		{ 0, 'r', 4, 0, 86400 },
		{ 7200, '-', 0, 0, 86400 },		/* hour is free, the day is not */
		{ 86400, '-', 0, 4, 86400 },
		{ -1, 0, 0, 0, 0 } } },
	{ "settle gives back what was not sent", 5, 0, {
		{ 0, 'r', 5, 0, 3600 },
		{ 1, 's', 2, 3, 1 },
		{ -1, 0, 0, 0, 0 } } },
	{ "the window runs from the end of the transaction (as the provider's)", 1, 0, {
		{ 0, 'r', 1, 0, 3600 },
		{ 5, 's', 1, 0, 3605 },
		{ 3604, '-', 0, 0, 3605 },
		{ 3605, '-', 0, 1, 3605 },
		{ -1, 0, 0, 0, 0 } } },
	{ "no limits", 0, 0, {
		{ 0, 'r', 1000, 0x7fffffff, 0 },
		{ -1, 0, 0, 0, 0 } } },
};

static void
run_scenario(const struct scenario *sc, struct quota *q)
{
	uint64_t last = 0;

	quota_set_limits(q, sc->per_hour, sc->per_day);
	for (const struct step *st = sc->steps; st->t != -1; st++) {
		if (st->op == 'r')
			last = quota_reserve(q, st->t, st->n);
		else if (st->op == 's')
			quota_settle(q, last, st->n, st->t);
		long room = quota_room(q, st->t);
		if (st->room == 0x7fffffff)
			CHECK(room > 1000000, "%s t=%lld: room %ld, want unlimited", sc->name,
			    (long long)st->t, room);
		else
			CHECK(room == st->room, "%s t=%lld: room %ld, want %ld", sc->name,
			    (long long)st->t, room, st->room);
		time_t nf = quota_next_free(q, st->t, 1);
		time_t want = st->next_free == 0 ? st->t : st->next_free;
		CHECK(nf == want, "%s t=%lld: next_free %lld, want %lld", sc->name,
		    (long long)st->t, (long long)nf, (long long)want);
	}
}

/* quota_by_hour: records at these times (units 1 each, then more), bucketed at now. */
static const struct by_hour_case {
	const char	*name;
	time_t		 at[6];		/* record times, -1 ends */
	long		 units[6];
	time_t		 now;
	long		 want[4];	/* the 4 hours before now, oldest first */
} by_hour_cases[] = {
	{ "empty", { -1 }, { 0 }, 100000, { 0, 0, 0, 0 } },
	{ "one in the last hour", { 99000, -1 }, { 2 }, 100000, { 0, 0, 0, 2 } },
	{ "the hour's edge is quota_used's: now - 3600 is the hour before",
	  { 96400, 96401, -1 }, { 1, 5 }, 100000, { 0, 0, 1, 5 } },
	{ "each hour back", { 100000 - 3 * 3600, 100000 - 2 * 3600 - 1, 100000 - 3600 - 1,
	  100000, -1 }, { 1, 2, 3, 4 }, 100000, { 1, 2, 3, 4 } },
	{ "older than the buckets: left out", { 100000 - 5 * 3600, 99999, -1 }, { 7, 1 },
	  100000, { 0, 0, 0, 1 } },
};

/* check_by_hour: the table above, and 24 buckets add up to quota_used's day. */
static void
check_by_hour(void)
{
	for (size_t i = 0; i < sizeof(by_hour_cases) / sizeof(by_hour_cases[0]); i++) {
		const struct by_hour_case *c = &by_hour_cases[i];
		struct quota *q = quota_open(NULL, "x", NULL, 0, 0);
		long got[4], day24[24], hour, day, sum = 0;

		for (size_t k = 0; c->at[k] != -1; k++)
			quota_reserve(q, c->at[k], c->units[k]);
		quota_by_hour(q, c->now, got, 4);
		for (size_t k = 0; k < 4; k++)
			CHECK(got[k] == c->want[k], "%s: bucket %zu is %ld, want %ld", c->name,
			    k, got[k], c->want[k]);
		quota_by_hour(q, c->now, day24, 24);
		quota_used(q, c->now, &hour, &day);
		for (size_t k = 0; k < 24; k++)
			sum += day24[k];
		CHECK(sum == day && day24[23] == hour, "%s: 24 buckets sum %ld last %ld, "
		    "used day %ld hour %ld", c->name, sum, day24[23], day, hour);
		quota_free(q);
	}
}

int
main(void)
{
	char dir[] = "/tmp/test_quota.XXXXXX";
	long hour, day;

	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		struct quota *q = quota_open(NULL, "x", NULL, 0, 0);

		run_scenario(&scenarios[i], q);
		quota_free(q);
	}
	check_by_hour();

	/* The ledger survives a restart: the hour is not handed out again. */
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	struct quota *q = quota_open(dir, "main", NULL, 1, 1000);
	CHECK(q != NULL, "open durable ledger");
	quota_set_limits(q, 10, 20);
	uint64_t a = quota_reserve(q, 1000, 4);
	uint64_t b = quota_reserve(q, 1100, 5);
	CHECK(a != 0 && b != 0 && a != b, "reservations get ids");
	quota_settle(q, b, 3, 1100);		/* two were refused by the provider */
	quota_reserve(q, 1200, 2);		/* no settle: a crash mid-transaction */
	quota_free(q);

	q = quota_open(dir, "main", NULL, 1, 1300);
	quota_set_limits(q, 10, 20);
	quota_used(q, 1300, &hour, &day);
	CHECK(hour == 9 && day == 9, "after restart used hour=%ld day=%ld, want 9 and 9",
	    hour, day);
	CHECK(quota_room(q, 1300) == 1, "room after restart %ld, want 1", quota_room(q, 1300));
	CHECK(quota_last(q) == 1200, "last send %lld, want 1200", (long long)quota_last(q));
	uint64_t c = quota_reserve(q, 1400, 1);
	CHECK(c > b, "ids keep growing across restarts");
	quota_free(q);

	/* A torn last line (crash while appending) is ignored; a day later all is gone. */
	char *path;
	if (asprintf(&path, "%s/ledger/main", dir) > 0) {
		FILE *fp = fopen(path, "a");

		if (fp != NULL) {
			fputs("R 99 14", fp);
			fclose(fp);
		}
		free(path);
	}
	q = quota_open(dir, "main", NULL, 1, 1500);
	quota_used(q, 1500, &hour, &day);
	CHECK(hour == 10 && day == 10, "torn line: used hour=%ld day=%ld, want 10", hour, day);
	quota_free(q);
	q = quota_open(dir, "main", NULL, 1, 1400 + 86400);
	quota_used(q, 1400 + 86400, &hour, &day);
	CHECK(day == 0, "a day later used %ld, want 0", day);
	quota_free(q);

	/* The ledger follows the mailbox: one kept under the account's name moves to the
	 * address (a rename keeps the day's count); the address's case does not matter. */
	q = quota_open(dir, "main", NULL, 1, 5000);
	quota_set_limits(q, 10, 20);
	quota_reserve(q, 5000, 6);
	quota_free(q);
	q = quota_open(dir, "Shop@Example.RU", "main", 1, 5100);
	quota_set_limits(q, 10, 20);
	quota_used(q, 5100, &hour, &day);
	CHECK(hour == 6, "ledger moved from the name: hour used %ld, want 6", hour);
	quota_free(q);
	q = quota_open(dir, "shop@example.ru", "renamed", 1, 5200);
	quota_set_limits(q, 10, 20);
	quota_used(q, 5200, &hour, &day);
	CHECK(hour == 6, "renamed account, same mailbox: hour used %ld, want 6", hour);
	quota_free(q);

	/* A clock stepped back 2 days while relayd was down: the records from "the
	 * future" count as made now: the hour is full for an hour, not for 49 hours,
	 * and what is used agrees with when the quota frees up (status and scheduler). */
	time_t back = 5200 - 2 * 86400;
	q = quota_open(dir, "shop@example.ru", NULL, 1, back);
	quota_set_limits(q, 6, 20);
	quota_used(q, back, &hour, &day);
	CHECK(hour == 6 && day == 6, "stepped back: used hour=%ld day=%ld, want 6", hour, day);
	CHECK(quota_room(q, back) == 0, "stepped back: room %ld, want 0", quota_room(q, back));
	CHECK(quota_next_free(q, back, 1) == back + 3600, "stepped back: free at %+lld s, "
	    "want +3600", (long long)(quota_next_free(q, back, 1) - back));
	quota_free(q);

	/* The wall clock stepped 2 h forward during a run, then a restart: the ledger
	 * on disk is on the wall clock, so the sends of a minute ago still fill the hour
	 * (kept on the run's steady clock, they looked 2 h old: a fresh hour). */
	clock_fake(1, 1e6, 100);
	clock_restart();
	q = quota_open(dir, "step@example.ru", NULL, 1, (time_t)clock_steady());
	quota_set_limits(q, 2, 0);
	quota_reserve(q, (time_t)clock_steady(), 2);
	clock_fake(1, 1e6 + 7200 + 10, 110);		/* the step, 10 s later */
	CHECK(quota_room(q, (time_t)clock_steady()) == 0, "within the run the step is "
	    "no fresh hour: room %ld", quota_room(q, (time_t)clock_steady()));
	quota_free(q);
	clock_fake(1, 1e6 + 7200 + 20, 120);		/* restarted 10 s after that */
	clock_restart();
	q = quota_open(dir, "step@example.ru", NULL, 1, (time_t)clock_steady());
	quota_set_limits(q, 2, 0);
	CHECK(quota_room(q, (time_t)clock_steady()) == 0, "after a restart the step is no "
	    "fresh hour: room %ld", quota_room(q, (time_t)clock_steady()));
	CHECK(quota_next_free(q, (time_t)clock_steady(), 1) == (time_t)clock_steady() + 3580,
	    "frees up an hour after the sends: %+lld s", (long long)(quota_next_free(q,
	    (time_t)clock_steady(), 1) - (time_t)clock_steady()));
	quota_free(q);
	clock_fake(0, 0, 0);
	clock_restart();

	t_rmtree(dir);
	T_DONE();
}

/*
 * test_drain: the drain estimate's forward simulation (drain.c): a table of accounts'
 * ledgers and limits, the queue, and when it must be empty.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "drain.h"
#include "planner.h"
#include "sendwindow.h"
#include "t.h"

#define NOW	1000000		/* the caller's clock */
#define MAXREC	4

/* One account of a case: its limits, state and ledger (records relative to NOW). */
struct acct {
	int		 per_hour, per_day;
	long		 burst;
	time_t		 burst_len;
	int		 disabled;
	double		 free_in;	/* suspended for this long */
	int		 min_interval;
	int		 count_recipients;
	int		 windowed;	/* the case's send window applies */
	int		 warmup;	/* the case's warm-up applies (cfg given) */
	time_t		 rec_ago[MAXREC];	/* records this long before NOW */
	long		 rec_units[MAXREC];
	size_t		 nrec;
};

struct tcase {
	const char	*name;
	struct acct	 a[2];
	size_t		 n;
	size_t		 msgs, rcpts;
	double		 wall;		/* the wall clock at NOW */
	enum drain_result want;
	time_t		 after;		/* expected *at - NOW (DRAIN_AT, DRAIN_EMPTY) */
	time_t		 slack;		/* +- allowed */
};

#define WALL	1796342400.0	/* 2026-12-04 00:00:00 UTC */

static const struct tcase cases[] = {
	/* The case: main 64/150 a day, spare 80/80 used up, 161 queued, all of
	 * it sent 17 minutes ago. main sends 86 now; the other 75 wait until those of
	 * 17 minutes ago leave the day: 23h43m (spreading per_day over the day said
	 * 7h49m). */
	{ "issue 17: main 64/150, spare 80/80, 161 queued", {
		{ .per_day = 150, .rec_ago = { 1020 }, .rec_units = { 64 }, .nrec = 1 },
		{ .per_day = 80, .rec_ago = { 1020 }, .rec_units = { 80 }, .nrec = 1 } }, 2,
		161, 161, WALL, DRAIN_AT, 23 * 3600 + 43 * 60, 0 },
	{ "nothing queued", { { .per_day = 10 } }, 1, 0, 0, WALL, DRAIN_EMPTY, 0, 0 },
	{ "no limits: now", { { 0 } }, 1, 500, 500, WALL, DRAIN_AT, 0, 0 },
	{ "every account disabled: never", { { .disabled = 1 }, { .disabled = 1,
		.per_day = 5 } }, 2, 3, 3, WALL, DRAIN_NEVER, 0, 0 },
	{ "hour limit: 10, 10 an hour later, 5 two hours later", { { .per_hour = 10 } }, 1,
		25, 25, WALL, DRAIN_AT, 7200, 0 },
	{ "hour frees in bursts: the units sent at -50m come back at +10m", {
		{ .per_hour = 10, .rec_ago = { 3000, 600 }, .rec_units = { 6, 4 }, .nrec = 2 } },
		1, 6, 6, WALL, DRAIN_AT, 600, 0 },
	{ "a day limit over the hour's", { { .per_hour = 100, .per_day = 100 } }, 1, 150, 150,
		WALL, DRAIN_AT, 86400, 0 },
	{ "throttled for 10 minutes, no limits", { { .free_in = 600 } }, 1, 5, 5, WALL,
		DRAIN_AT, 600, 0 },
	{ "spill-over: the disabled first, the second sends", { { .disabled = 1 },
		{ .per_hour = 5 } }, 2, 5, 5, WALL, DRAIN_AT, 0, 0 },
	{ "min_interval: one transaction every 10 s", { { .min_interval = 10 } }, 1, 5, 5,
		WALL, DRAIN_AT, 40, 0 },
	{ "spread: 2 in any 60 s", { { .per_hour = 120, .burst = 2, .burst_len = 60 } }, 1,
		6, 6, WALL, DRAIN_AT, 120, 0 },
	{ "recipients counted: 20 recipients at 10 an hour", { { .per_hour = 10,
		.count_recipients = 1 } }, 1, 5, 20, WALL, DRAIN_AT, 3600, 0 },
	{ "messages counted: 5 messages of 20 recipients at 10 an hour", {
		{ .per_hour = 10 } }, 1, 5, 20, WALL, DRAIN_AT, 0, 0 },
	{ "send window 10:00-11:00 UTC, now 09:00: opens in an hour", { { .windowed = 1 } },
		1, 5, 5, WALL + 9 * 3600, DRAIN_AT, 3600, 0 },
	{ "send window, 10 an hour: 10 at 10:00, the rest at 10:00 next day", {
		{ .windowed = 1, .per_hour = 10 } }, 1, 15, 15, WALL + 9 * 3600, DRAIN_AT,
		3600 + 86400, 0 },
	{ "warm-up 10 -> 100 over 10 days, from noon of day 1: 10 now, 9 at midnight, 6 "
	  "when noon's leave the day", { { .warmup = 1, .per_day = 10 } }, 1, 25, 25,
		WALL + 43200, DRAIN_AT, 86400, 0 },
	{ "over the horizon: 1 a day, 100 queued", { { .per_day = 1 } }, 1, 100, 100, WALL,
		DRAIN_OVER, 0, 0 },
	{ "too many events to follow: the pace kept up (1 a second)", { { .per_hour = 3600,
		.burst = 1, .burst_len = 1 } }, 1, 500000, 500000, WALL, DRAIN_AT, 499999,
		5000 },
};

int
main(void)
{
	struct sendwindow w;
	struct config_account cfg;
	char err[128];

	memset(&w, 0, sizeof(w));
	CHECK(sendwindow_parse("10:00-11:00 UTC", &w, err, sizeof(err)) == 0, "%s", err);
	CHECK(sendwindow_load(&w, NULL, err, sizeof(err)) == 0, "%s", err);
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "warm";
	cfg.limits.per_day = 100;
	cfg.warmup = (struct config_warmup){ 1, (long long)WALL, 10, 10 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *c = &cases[i];
		struct drain_account da[2];
		time_t rt[2][MAXREC], at;
		enum drain_result r;

		memset(da, 0, sizeof(da));
		for (size_t j = 0; j < c->n; j++) {
			const struct acct *a = &c->a[j];

			for (size_t k = 0; k < a->nrec; k++)
				rt[j][k] = NOW - a->rec_ago[k];
			da[j] = (struct drain_account){ .disabled = a->disabled,
			    .free_at = a->free_in ? NOW + a->free_in : 0,
			    .per_hour = a->per_hour, .per_day = a->per_day, .burst = a->burst,
			    .burst_len = a->burst_len, .cfg = a->warmup ? &cfg : NULL,
			    .window = a->windowed ? &w : NULL, .min_interval = a->min_interval,
			    .count_recipients = a->count_recipients, .rec_t = rt[j],
			    .rec_units = a->rec_units, .nrec = a->nrec };
		}
		r = drain_estimate(da, c->n, NOW, c->wall - NOW, c->msgs, c->rcpts, &at);
		CHECK(r == c->want, "%s: got %s, want %s", c->name, drain_result_name(r),
		    drain_result_name(c->want));
		if (r == c->want && (r == DRAIN_AT || r == DRAIN_EMPTY))
			CHECK(llabs((long long)(at - NOW - c->after)) <= c->slack,
			    "%s: drains after %llds, want %llds", c->name,
			    (long long)(at - NOW), (long long)c->after);
	}
	sendwindow_free_data(&w);
	T_DONE();
}

/*
 * test_planner: the planner's pure functions (issue 16): the drop after a throttle,
 * the climb back, the spread's burst, the effective limits; the learned state on
 * disk (scheduler_state, format 2) both ways, and a version-1 file read by it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "planner.h"
#include "quota.h"
#include "scheduler_state.h"
#include "t.h"

static const struct config_learn half = { 1, 0.5, 2, 6 };
static const struct config_learn third = { 1, 0.3, 5, 24 };

static const struct {
	const struct config_learn *l;
	int		 current;
	long		 got;
	int		 want;
} drops[] = {
	{ &half, 60, 60, 30 },		/* a full hour went through: half of it */
	{ &half, 60, 5, 3 },		/* 5 went through: 2.5 rounded up */
	{ &half, 60, 1, 2 },		/* the floor */
	{ &half, 60, 0, 2 },
	{ &half, 3, 10, 3 },		/* never above the limit it had */
	{ &half, 150, 182, 91 },	/* Mail.ru's 553 after 182 in a day */
	{ &third, 40, 90, 27 },		/* Yandex's 550 after 90 */
	{ &third, 40, 4, 5 },
	{ &third, 3, 4, 3 },		/* the floor never raises it either */
	{ &half, 0, 40, 20 },		/* no limit so far */
	{ &half, 1000000, 2000000000L, 1000000 },
};

static const struct {
	const struct config_learn *l;
	int		 configured;
	int		 current;
	int		 want;		/* 0: back at the configured */
} climbs[] = {
	{ &half, 60, 3, 6 },
	{ &half, 60, 6, 12 },
	{ &half, 60, 24, 48 },
	{ &half, 60, 30, 0 },		/* 60: the configured one */
	{ &half, 60, 48, 0 },		/* past it: the configured one */
	{ &third, 40, 5, 17 },		/* 5 / 0.3 = 16.7, up */
	{ &third, 40, 17, 0 },
	{ &half, 150, 1, 2 },		/* at least one more */
};

static const struct {
	int		 per_hour, per_day;
	long		 burst;
	time_t		 len;
} spreads[] = {
	{ 60, 150, 3, 180 },		/* 3 in any 3 minutes: one a minute */
	{ 5, 0, 1, 720 },		/* one every 12 minutes */
	{ 100, 0, 5, 180 },
	{ 7, 0, 1, 515 },		/* 3600 / 7 = 514.3, up */
	{ 0, 480, 1, 180 },		/* a day only: spread over the day */
	{ 0, 0, 0, 0 },			/* no limit, nothing to spread */
};

/* 2026-12-01 00:00 UTC */
#define DEC1	1796083200LL

static const struct {
	struct config_warmup w;
	int		 per_day;
	double		 at;		/* seconds after DEC1 */
	int		 want, day;
} warmups[] = {
	{ { 1, DEC1, 10, 14 }, 150, 0, 10, 1 },			/* its first day */
	{ { 1, DEC1, 10, 14 }, 150, 86399, 10, 1 },
	{ { 1, DEC1, 10, 14 }, 150, 2 * 86400 + 5, 30, 3 },	/* 10 + 140 x 2 / 14 */
	{ { 1, DEC1, 10, 14 }, 150, 13 * 86400, 140, 14 },	/* the last day */
	{ { 1, DEC1, 10, 14 }, 150, 14 * 86400, 0, 0 },	/* over: per_day holds */
	{ { 1, DEC1, 10, 14 }, 150, -3600, 10, 0 },		/* not started: from */
	{ { 1, DEC1, 10, 30 }, 500, 29 * 86400 + 1, 483, 30 },	/* 10 + 490 x 29 / 30 */
	{ { 1, DEC1, 10, 14 }, 0, 0, 0, 0 },			/* no day limit */
	{ { 0, DEC1, 10, 14 }, 150, 0, 0, 0 },			/* off */
};

static void
test_effective(void)
{
	struct config_account a = { .name = "main", .limits = { .per_hour = 60,
	    .per_day = 150, .spread = 1 } };
	struct planner_learned p = { .hour = 3, .day = 91 };
	struct planner_limits e;
	char why[160];

	planner_effective(&a, NULL, DEC1, &e);
	CHECK(e.per_hour == 60 && e.per_day == 150 && e.burst == 3 && e.burst_len == 180,
	    "configured: %d %d %ld %lld", e.per_hour, e.per_day, e.burst, (long long)e.burst_len);
	planner_effective(&a, &p, DEC1, &e);
	CHECK(e.per_hour == 3 && e.per_day == 91 && e.burst == 1 && e.burst_len == 1200,
	    "learned, spread over the learned hour: %d %d %ld %lld", e.per_hour, e.per_day,
	    e.burst, (long long)e.burst_len);
	a.limits.spread = 0;
	p.hour = 100;		/* learned above the configured (configured lowered since) */
	planner_effective(&a, &p, DEC1, &e);
	CHECK(e.per_hour == 60 && e.per_day == 91 && e.burst == 0, "the lower wins: %d %d %ld",
	    e.per_hour, e.per_day, e.burst);
	a.warmup = (struct config_warmup){ 1, DEC1, 10, 14 };
	planner_effective(&a, &p, DEC1 + 2 * 86400, &e);
	CHECK(e.per_day == 30, "warm-up below the learned: %d", e.per_day);
	p = (struct planner_learned){ 0 };
	planner_explain(&a, &p, DEC1 + 2 * 86400, why, sizeof(why));
	CHECK_STR(why, "warm-up day 3 of 14", "explain the warm-up");
	p = (struct planner_learned){ .hour = 3, .at = DEC1, .step_at = DEC1, .why = "553" };
	a.learn = half;
	planner_explain(&a, &p, DEC1 + 3600, why, sizeof(why));
	CHECK_STR(why, "learned after 553 at 2026-12-01 00:00 UTC, recovering in 5h; warm-up "
	    "day 1 of 14", "both");
}

/* A throttle, then recovery over hours, as the scheduler drives it. */
static void
test_episode(void)
{
	struct config_account a = { .name = "main", .limits = { .per_hour = 60,
	    .per_day = 150 }, .learn = half };
	struct planner_learned p = { 0 };
	double t0 = 1796380000;
	char why[128];

	CHECK(planner_throttled(&p, &a, 60, 120, t0, "553 5.7.1 Message rejected") == 1,
	    "throttle changes it");
	CHECK(p.hour == 30 && p.day == 60 && p.drops == 1, "dropped to %d %d", p.hour, p.day);
	CHECK(planner_recover(&p, &a, t0 + 5.9 * 3600) == 0 && p.hour == 30, "not yet");
	planner_explain(&a, &p, t0 + 2 * 3600, why, sizeof(why));
	CHECK_STR(why, "learned after 553 at 2026-12-04 10:26 UTC, recovering in 4h", "explain");
	CHECK(planner_recover(&p, &a, t0 + 6 * 3600) == 1 && p.hour == 0 && p.day == 120,
	    "one step: %d %d", p.hour, p.day);
	CHECK(planner_recover(&p, &a, t0 + 13 * 3600) == 1 && p.hour == 0 && p.day == 0 &&
	    p.drops == 0, "recovered: %d %d", p.hour, p.day);
	planner_explain(&a, &p, t0, why, sizeof(why));
	CHECK_STR(why, "", "nothing to explain");
	/* Days down: every step due is taken at once. */
	/* Within the first hour's sending: the hour learns, the day does not. */
	planner_throttled(&p, &a, 5, 5, t0, "550");
	CHECK(p.hour == 3 && p.day == 0, "dropped to %d %d", p.hour, p.day);
	planner_throttled(&p, &a, 4, 40, t0, "550");
	CHECK(p.hour == 2 && p.day == 20, "dropped to %d %d", p.hour, p.day);
	planner_throttled(&p, &a, 2, 80, t0, "550");
	CHECK(p.hour == 2 && p.day == 20, "the day learns once an episode: %d %d", p.hour,
	    p.day);
	CHECK(planner_recover(&p, &a, t0 + 30 * 3600) == 1 && p.hour == 0 && p.day == 0,
	    "five steps: %d %d", p.hour, p.day);
	/* learn switched off: the configured limits, at once. */
	planner_throttled(&p, &a, 5, 5, t0, "550");
	a.learn.enabled = 0;
	CHECK(planner_recover(&p, &a, t0 + 31 * 3600) == 1 && p.hour == 0 && p.day == 0,
	    "learn off");
	CHECK(planner_throttled(&p, &a, 5, 5, t0, "550") == 0 && p.hour == 0, "learn off");
}

static void
test_state(void)
{
	struct scheduler_state st = { 0 }, back;
	char buf[SCHEDULER_STATE_MAX];
	const char *v1 = "relayd-account 1\nthrottled_until: 0\nthrottles: 1\n";

	st.learned = (struct planner_learned){ .hour = 3, .day = 91, .at = 1796380000.5,
	    .step_at = 1796390000.25, .drops = 2, .why = "553 5.7.1\r\nrejected" };
	snprintf(st.why, sizeof(st.why), "%0511d", 7);	/* the longest why still fits */
	CHECK(scheduler_state_encode(&st, buf, sizeof(buf)) > 0, "encode");
	CHECK(scheduler_state_decode(buf, strlen(buf), &back) == 0, "decode");
	CHECK(back.learned.hour == 3 && back.learned.day == 91 && back.learned.drops == 2 &&
	    back.learned.at == 1796380000.5 && back.learned.step_at == 1796390000.25,
	    "learned round trip");
	CHECK_STR(back.learned.why, "553 5.7.1  rejected", "learned why, one line");
	CHECK(strstr(buf, "format: 2\n") != NULL, "versioned");
	CHECK(scheduler_state_decode(v1, strlen(v1), &back) == 0 && back.throttles == 1 &&
	    back.learned.hour == 0 && back.learned.day == 0, "a version-1 file learned nothing");
	v1 = "relayd-account 1\nlearned_hour: -4\nlearned_day: 9\n";
	CHECK(scheduler_state_decode(v1, strlen(v1), &back) == 0 && back.learned.hour == 0 &&
	    back.learned.day == 0, "damaged learned state is dropped");
}

/* The ledger holds the spread's burst window (quota_set_burst). */
static void
test_burst(void)
{
	struct quota *q = quota_open(NULL, "a@example.org", NULL, 0, 1000);

	quota_set_limits(q, 60, 0);
	quota_set_burst(q, 3, 180);
	CHECK(quota_room(q, 1000) == 3, "room %ld", quota_room(q, 1000));
	quota_reserve(q, 1000, 2);
	quota_reserve(q, 1010, 1);
	CHECK(quota_room(q, 1010) == 0, "burst used: room %ld", quota_room(q, 1010));
	CHECK(quota_next_free(q, 1010, 1) == 1180, "free at %lld",
	    (long long)quota_next_free(q, 1010, 1));
	CHECK(quota_room(q, 1180) == 2, "the first two left: room %ld", quota_room(q, 1180));
	quota_set_burst(q, 0, 0);
	CHECK(quota_room(q, 1010) == 57, "no burst window: room %ld", quota_room(q, 1010));
	quota_free(q);
}

int
main(void)
{
	char ctx[64];

	log_init(0, LOG_CRIT);
	for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++) {
		int got = planner_drop(drops[i].l, drops[i].current, drops[i].got);

		snprintf(ctx, sizeof(ctx), "drop %zu", i);
		CHECK(got == drops[i].want, "%s: got %d, want %d", ctx, got, drops[i].want);
	}
	for (size_t i = 0; i < sizeof(climbs) / sizeof(climbs[0]); i++) {
		int got = planner_climb(climbs[i].l, climbs[i].configured, climbs[i].current);

		CHECK(got == climbs[i].want, "climb %zu: got %d, want %d", i, got, climbs[i].want);
	}
	for (size_t i = 0; i < sizeof(spreads) / sizeof(spreads[0]); i++) {
		long b;
		time_t len;

		planner_spread(spreads[i].per_hour, spreads[i].per_day, &b, &len);
		CHECK(b == spreads[i].burst && len == spreads[i].len, "spread %zu: got %ld/%lld",
		    i, b, (long long)len);
	}
	for (size_t i = 0; i < sizeof(warmups) / sizeof(warmups[0]); i++) {
		int day, got = planner_warmup(&warmups[i].w, warmups[i].per_day,
		    (double)DEC1 + warmups[i].at, &day);

		CHECK(got == warmups[i].want && day == warmups[i].day, "warm-up %zu: got %d "
		    "day %d, want %d day %d", i, got, day, warmups[i].want, warmups[i].day);
	}
	test_effective();
	test_burst();
	test_episode();
	test_state();
	T_DONE();
}

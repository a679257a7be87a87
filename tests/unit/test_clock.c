/*
 * test_clock: the scheduler's steady clock follows the monotonic clock, not steps of
 * the wall clock (issue 13, item 8: a step forward handed out a fresh hour, a step
 * back blocked an account for days).
 */
#include "clock.h"
#include "t.h"

int
main(void)
{
	static const struct {
		const char	*what;
		double		 wall, mono;	/* the two sources now */
		double		 steady;	/* what clock_steady must say */
	} steps[] = {
		{ "anchored at the start", 1000000, 50, 1000000 },
		{ "ten seconds on", 1000010, 60, 1000010 },
		{ "wall clock an hour ahead", 1003611, 61, 1000011 },
		{ "wall clock two days back", 1000011 - 172800, 62, 1000012 },
		{ "monotonic time goes on", 1000011 - 172800 + 100, 162, 1000112 },
	};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		clock_fake(1, steps[i].wall, steps[i].mono);
		CHECK(clock_steady() == steps[i].steady, "%s: steady %.0f, want %.0f",
		    steps[i].what, clock_steady(), steps[i].steady);
		CHECK(clock_now() == steps[i].wall, "%s: wall %.0f", steps[i].what, clock_now());
		/* status shows a suspension 10 s ahead as 10 s ahead of the wall clock */
		CHECK(clock_to_wall(clock_steady() + 10) == steps[i].wall + 10, "%s: to wall "
		    "%.0f, want %.0f", steps[i].what, clock_to_wall(clock_steady() + 10),
		    steps[i].wall + 10);
	}
	clock_fake(0, 0, 0);
	double a = clock_steady(), b = clock_steady();
	CHECK(b >= a, "real steady clock goes backwards: %f then %f", a, b);
	T_DONE();
}

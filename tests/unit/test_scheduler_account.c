/*
 * test_scheduler_account: the backoff schedule, and what it says of how long a
 * message has been failing (issue 13, item 6: retry.lifetime counts the message's
 * transient failures, not the time it waited for quota or a suspended account).
 */
#include "scheduler_int.h"
#include "t.h"

int
main(void)
{
	static const struct {
		int	 initial, max, n;
		time_t	 span;
	} spans[] = {
		{ 60, 3600, 0, 0 },			/* never deferred: not failing at all */
		{ 60, 3600, 1, 60 },
		{ 60, 3600, 3, 60 + 120 + 240 },
		{ 60, 3600, 8, 60 + 120 + 240 + 480 + 960 + 1920 + 3600 + 3600 },
		{ 1, 2, 5, 1 + 2 + 2 + 2 + 2 },
		{ 86400, 604800, 40, 86400 * (1 + 2 + 4) + 604800 * 37 },	/* no overflow */
	};

	for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
		time_t got = scheduler_account_backoff_span(spans[i].initial, spans[i].max,
		    spans[i].n);

		CHECK(got == spans[i].span, "span(%d, %d, %d) = %lld, want %lld",
		    spans[i].initial, spans[i].max, spans[i].n, (long long)got,
		    (long long)spans[i].span);
	}
	/* The default lifetime (5 days) at the default schedule: about 5 days of
	 * attempts, whatever the time spent waiting between them for quota. */
	int n = 0;
	while (scheduler_account_backoff_span(60, 3600, n) < 432000)
		n++;
	CHECK(n > 100 && n < 130, "attempts before the default lifetime: %d", n);

	/* Each step is within +-10% of its nominal delay, never below 1 s. */
	for (int k = 0; k < 12; k++)
		for (int r = 0; r < 200; r++) {
			time_t d = scheduler_account_backoff(60, 3600, k);
			time_t nominal = scheduler_account_backoff_span(60, 3600, k + 1) -
			    scheduler_account_backoff_span(60, 3600, k);

			CHECK(d >= nominal * 9 / 10 && d <= nominal * 11 / 10 + 1,
			    "step %d: %lld, nominal %lld", k, (long long)d, (long long)nominal);
		}
	CHECK(scheduler_account_backoff(1, 1, 0) >= 1, "at least a second");
	T_DONE();
}

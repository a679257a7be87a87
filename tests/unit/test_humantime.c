/*
 * test_humantime: spans and relative times as relayctl prints them, as a table; an
 * ISO 8601 local time in a fixed zone.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "humantime.h"
#include "t.h"

static const struct {
	long long	 t, now;
	const char	*rel;
} cases[] = {
	{ 1000, 1000, "now" },
	{ 1001, 1000, "in 1s" },
	{ 1119, 1000, "in 119s" },
	{ 1120, 1000, "in 2m" },
	{ 1000 + 56 * 60 + 59, 1000, "in 56m" },
	{ 1000 + 7199, 1000, "in 119m" },
	{ 1000 + 7200 + 5 * 60, 1000, "in 2h05m" },
	{ 1000 + 47 * 3600 + 59 * 60, 1000, "in 47h59m" },
	{ 1000 + 3 * 86400 + 4 * 3600 + 59, 1000, "in 3d04h" },
	{ 1000, 1300, "5m ago" },
	{ 1000, 1042, "42s ago" },
	{ 0, 2 * 86400, "2d00h ago" },
};

int
main(void)
{
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_STR(humantime_rel((time_t)cases[i].t, (time_t)cases[i].now, buf,
		    sizeof(buf)), cases[i].rel, cases[i].rel);
	CHECK_STR(humantime_span(-5, buf, sizeof(buf)), "0s", "negative span");
	setenv("TZ", "UTC", 1);
	tzset();
	CHECK_STR(humantime_iso(1796411059, buf, sizeof(buf)), "2026-12-04 19:04:19 +0000",
	    "iso UTC");
	CHECK_STR(humantime_both(1796411059, 1796411059 - 300, buf, sizeof(buf)),
	    "2026-12-04 19:04:19 +0000 (in 5m)", "both");
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	CHECK_STR(humantime_iso(1796411059, buf, sizeof(buf)), "2026-12-04 20:04:19 +0100",
	    "iso Berlin");
	T_DONE();
}

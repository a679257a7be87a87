/*
 * test_timefmt: the log's times (humantime.c): ISO 8601 UTC instants and "in 56m"
 * spans of fractional times.
 */
#include "humantime.h"
#include "t.h"

#define T0	1796342400.0	/* 2026-12-04T00:00:00Z */

static const struct { double t; int ms; const char *want; } isos[] = {
	{ T0, 0, "2026-12-04T00:00:00Z" },
	{ T0 + 3600 * 13 + 61.708, 1, "2026-12-04T13:01:01.708Z" },
	{ T0 + 59.9999, 0, "2026-12-04T00:00:59Z" },
	{ 0, 0, "1970-01-01T00:00:00Z" },
};

static const struct { double d; const char *want; } rels[] = {
	{ 0, "now" }, { 0.4, "now" }, { 0.6, "in 1s" }, { 45, "in 45s" },
	{ 119.2, "in 2m" }, { 120, "in 2m" }, { 56 * 60 - 10, "in 56m" },
	{ 3359.5, "in 56m" }, { 7200, "in 2h00m" }, { 23 * 3600 + 43 * 60, "in 23h43m" },
	{ 3 * 86400 + 4 * 3600 + 5, "in 3d04h" }, { -45, "45s ago" },
	{ -3600, "60m ago" }, { -90000, "25h00m ago" },
};

int
main(void)
{
	char buf[HUMANTIME_LEN];

	for (size_t i = 0; i < sizeof(isos) / sizeof(isos[0]); i++)
		CHECK_STR(humantime_utc(isos[i].t, isos[i].ms, buf, sizeof(buf)), isos[i].want,
		    isos[i].want);
	for (size_t i = 0; i < sizeof(rels) / sizeof(rels[0]); i++)
		CHECK_STR(humantime_rel_frac(T0 + rels[i].d, T0, buf, sizeof(buf)), rels[i].want,
		    rels[i].want);
	T_DONE();
}

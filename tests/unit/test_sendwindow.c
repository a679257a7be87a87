/*
 * test_sendwindow: send windows (issue 16): the text form as a table, TZif parsing
 * (bad input too), and inside / next opening across DST changes, with the system's
 * tz database (Europe/Berlin, Europe/Moscow, America/New_York).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sendwindow.h"
#include "t.h"

static const struct {
	const char	*text;
	int		 ok;
	unsigned	 days;
	int		 start, end;
	const char	*zone;
} parses[] = {
	{ "Mon-Fri 08:00-20:00 Europe/Moscow", 1, 0x3e, 480, 1200, "Europe/Moscow" },
	{ "08:00-20:00", 1, 0x7f, 480, 1200, "UTC" },
	{ "sat,SUN 10:30-12:00 UTC", 1, 0x41, 630, 720, "UTC" },
	{ "Fri-Mon 22:00-06:00", 1, 0x63, 1320, 360, "UTC" },	/* wraps both ways */
	{ "Mon 00:00-24:00 Europe/Berlin", 1, 0x02, 0, 1440, "Europe/Berlin" },
	{ "Mon-Fri 8:00-20:00", 0, 0, 0, 0, "" },
	{ "Mon-Fri 08:00-25:00", 0, 0, 0, 0, "" },
	{ "Mon-Fri 08:60-20:00", 0, 0, 0, 0, "" },
	{ "Mon-Fry 08:00-20:00", 0, 0, 0, 0, "" },
	{ "Mon-Fri 08:00-08:00", 0, 0, 0, 0, "" },		/* empty */
	{ "Mon-Fri", 0, 0, 0, 0, "" },
	{ "", 0, 0, 0, 0, "" },
	{ "08:00-20:00 ../../etc/passwd", 0, 0, 0, 0, "" },
	{ "08:00-20:00 /etc/passwd", 0, 0, 0, 0, "" },
	{ "Mon 08:00-20:00 UTC extra", 0, 0, 0, 0, "" },
};

/* 2027-03-28 01:00 UTC: Berlin goes from +1 to +2 (CET -> CEST). */
#define DST27	1806195600LL
/* 2027-03-29, a Monday, 00:00 UTC */
#define MON29	(DST27 + 23 * 3600)

static const struct {
	const char	*text;
	long long	 t;
	int		 inside;
	long long	 next;		/* sendwindow_next_open */
} times[] = {
	/* Berlin, Mon-Fri 08:00-20:00: on Monday after the change 08:00 is 06:00 UTC */
	{ "Mon-Fri 08:00-20:00 Europe/Berlin", MON29 + 6 * 3600 - 60, 0, MON29 + 6 * 3600 },
	{ "Mon-Fri 08:00-20:00 Europe/Berlin", MON29 + 6 * 3600, 1, MON29 + 6 * 3600 },
	{ "Mon-Fri 08:00-20:00 Europe/Berlin", MON29 + 18 * 3600 - 1, 1, MON29 + 18 * 3600 - 1 },
	{ "Mon-Fri 08:00-20:00 Europe/Berlin", MON29 + 18 * 3600, 0, MON29 + 30 * 3600 },
	/* the Friday before (still CET): 08:00 is 07:00 UTC; Saturday, Sunday shut */
	{ "Mon-Fri 08:00-20:00 Europe/Berlin", MON29 - 3 * 86400 + 7 * 3600 - 1, 0,
	  MON29 - 3 * 86400 + 7 * 3600 },
	{ "Mon-Fri 08:00-20:00 Europe/Berlin", MON29 - 3 * 86400 + 19 * 3600, 0,
	  MON29 + 6 * 3600 },		/* Friday 20:00 CET: next is Monday 08:00 CEST */
	/* the night of the change, a window over midnight */
	{ "Sat 22:00-06:00 Europe/Berlin", DST27 - 3600, 1, DST27 - 3600 },	/* 01:00 CET */
	{ "Sat 22:00-06:00 Europe/Berlin", DST27 + 3 * 3600 - 1, 1, DST27 + 3 * 3600 - 1 },
	{ "Sat 22:00-06:00 Europe/Berlin", DST27 + 3 * 3600, 0,	/* 06:00 CEST */
	  DST27 + 6 * 86400 + 19 * 3600 },	/* next Saturday 22:00 CEST = 20:00 UTC */
	/* Moscow: +3 all year */
	{ "Mon-Fri 08:00-20:00 Europe/Moscow", MON29 + 5 * 3600, 1, MON29 + 5 * 3600 },
	{ "Mon-Fri 08:00-20:00 Europe/Moscow", MON29 + 5 * 3600 - 1, 0, MON29 + 5 * 3600 },
	/* New York, autumn 2026 (Nov 1): 09:00 EST is 14:00 UTC on Monday Nov 2 */
	{ "Mon-Fri 09:00-17:00 America/New_York", 1793628000LL - 60, 0,
	  1793628000LL },
	{ "08:00-20:00", 8 * 3600, 1, 8 * 3600 },
};

int
main(void)
{
	struct sendwindow w;
	char err[256];
	unsigned char junk[64] = "TZif2";

	for (size_t i = 0; i < sizeof(parses) / sizeof(parses[0]); i++) {
		int rc = sendwindow_parse(parses[i].text, &w, err, sizeof(err));

		CHECK((rc == 0) == parses[i].ok, "parse %zu \"%s\": rc %d (%s)", i,
		    parses[i].text, rc, rc ? err : "");
		if (rc == 0 && parses[i].ok) {
			CHECK(w.days == parses[i].days && w.start == parses[i].start &&
			    w.end == parses[i].end, "parse %zu: %x %d %d", i, w.days, w.start,
			    w.end);
			CHECK_STR(w.zone, parses[i].zone, parses[i].text);
		}
	}
	sendwindow_parse("Mon-Fri 08:00-20:00", &w, err, sizeof(err));
	CHECK(fabs(sendwindow_share(&w) - 5 * 12 / 168.0) < 1e-9, "share %f",
	    sendwindow_share(&w));
	sendwindow_parse("Sat 22:00-06:00", &w, err, sizeof(err));
	CHECK(fabs(sendwindow_share(&w) - 8 / 168.0) < 1e-9, "overnight share %f",
	    sendwindow_share(&w));
	CHECK(sendwindow_tzif(junk, sizeof(junk), &w) == -1, "junk is not TZif");
	CHECK(sendwindow_tzif(junk, 3, &w) == -1, "short");
	sendwindow_parse("08:00-20:00 No/Such_Zone", &w, err, sizeof(err));
	CHECK(sendwindow_load(&w, NULL, err, sizeof(err)) == -1 &&
	    strstr(err, "unknown time zone \"No/Such_Zone\"") != NULL, "%s", err);
	if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) != 0) {
		printf("test_sendwindow: no tz database: zone cases skipped\n");
		T_DONE();
	}
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		int rc = sendwindow_parse(times[i].text, &w, err, sizeof(err));

		CHECK(rc == 0 && sendwindow_load(&w, NULL, err, sizeof(err)) == 0, "%zu: %s", i,
		    err);
		CHECK(sendwindow_inside(&w, times[i].t) == times[i].inside, "%zu %s at %lld: "
		    "inside %d", i, times[i].text, times[i].t, sendwindow_inside(&w, times[i].t));
		CHECK(sendwindow_next_open(&w, times[i].t) == times[i].next, "%zu %s at %lld: "
		    "next %lld, want %lld", i, times[i].text, times[i].t,
		    (long long)sendwindow_next_open(&w, times[i].t), times[i].next);
		sendwindow_free_data(&w);
	}
	sendwindow_parse("08:00-20:00 Europe/Berlin", &w, err, sizeof(err));
	sendwindow_load(&w, NULL, err, sizeof(err));
	CHECK(sendwindow_offset(&w, DST27 - 1) == 3600 && sendwindow_offset(&w, DST27) == 7200,
	    "Berlin's offset changes at 01:00 UTC");
	sendwindow_free_data(&w);
	T_DONE();
}

/*
 * sendwindow: an account's send window (window = "Mon-Fri 08:00-20:00 Europe/Moscow",
 * issue 16): when it may send; outside, mail waits. The planner asks it whether a
 * wall-clock time is inside, and when the window next opens.
 *
 * Time zones come from the system's tz database (/usr/share/zoneinfo, TZif files),
 * read once when the configuration is loaded and kept as a table of UTC offsets: no
 * TZ variable, tzset or localtime, which are process-wide and not safe to switch per
 * account while other threads run. DST changes are in the table (Debian's files list
 * every transition up to 2037; after the last one its offset holds).
 *
 * The text form: [DAYS] HH:MM-HH:MM [ZONE]
 *   DAYS  a comma-separated list of days or day ranges (Mon-Fri, Sat,Sun, Fri-Mon),
 *         English three-letter names, any case; default every day
 *   HH:MM-HH:MM  from (inclusive) to (exclusive) local time; 24:00 is the end of the
 *         day; an end before the start runs over midnight (22:00-06:00: from 22:00 on
 *         a listed day to 06:00 the next)
 *   ZONE  a tz database name (Europe/Moscow, UTC); default UTC
 */
#ifndef RELAYD_SENDWINDOW_H
#define RELAYD_SENDWINDOW_H

#include <stddef.h>
#include <stdint.h>

#define SENDWINDOW_ZONE	64

struct sendwindow {
	unsigned	 days;		/* bit d: day d (0 Sunday .. 6 Saturday) */
	int		 start, end;	/* minutes after local midnight; end 1..1440 */
	char		 zone[SENDWINDOW_ZONE];
	int64_t		*trans;		/* UTC times of the zone's offset changes */
	int32_t		*offs;		/* the UTC offset from trans[i] on */
	size_t		 ntrans;
	int32_t		 off0;		/* the offset before the first (or always) */
};

/*
 * sendwindow_parse: the text form into w (no zone data loaded yet). Returns 0, or -1
 * with a message in err (len bytes). Pure.
 */
int		 sendwindow_parse(const char *text, struct sendwindow *w, char *err, size_t len);

/*
 * sendwindow_tzif: the offsets of a TZif file's contents (buf, len bytes; version 2 or
 * later for 64-bit times, else version 1) into w. Returns 0, or -1 if it is not such
 * a file. Pure.
 */
int		 sendwindow_tzif(const unsigned char *buf, size_t len, struct sendwindow *w);

/*
 * sendwindow_load: read w's zone from dir (NULL: /usr/share/zoneinfo). Returns 0, or -1
 * with a message in err. "UTC" needs no file.
 */
int		 sendwindow_load(struct sendwindow *w, const char *dir, char *err, size_t len);

/* sendwindow_offset: the zone's UTC offset in seconds at UTC time t. */
int32_t		 sendwindow_offset(const struct sendwindow *w, int64_t t);

/* sendwindow_inside: may the account send at UTC time t? */
int		 sendwindow_inside(const struct sendwindow *w, int64_t t);

/*
 * sendwindow_next_open: the first UTC time, not before t, inside the window (to the
 * minute); t itself when inside; -1 if it never opens (no day listed).
 */
int64_t		 sendwindow_next_open(const struct sendwindow *w, int64_t t);

/* sendwindow_share: the part of a week the window is open (0 .. 1), DST aside. Pure. */
double		 sendwindow_share(const struct sendwindow *w);

/* sendwindow_free_data: free the zone table (w itself is the caller's). */
void		 sendwindow_free_data(struct sendwindow *w);

#endif

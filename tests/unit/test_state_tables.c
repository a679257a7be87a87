/*
 * test_state_tables: every state of the client sessions and every reply stage has a
 * name of its own. The tables are declared with [] and a _Static_assert on their
 * count, which catches a state added at the end and left out; this walk catches one
 * left out in the middle (a NULL entry, a "(null)" in the log).
 */
#include <string.h>

#include "imap_session.h"
#include "outcome.h"
#include "t.h"
#include "upstream.h"

/* walk: the names of states 0, 1, ... up to the first "?"; checks each. */
static int
walk(const char *table, const char *(*name)(int), const char *first, const char *last)
{
	const char *seen[64];
	int n;

	for (n = 0; n < 64 && (n == 0 || strcmp(seen[n - 1], "?") != 0); n++) {
		seen[n] = name(n);
		CHECK(seen[n] != NULL, "%s: state %d has no name", table, n);
		if (seen[n] == NULL)
			seen[n] = "(null)";
		for (int j = 0; j < n; j++)
			CHECK(strcmp(seen[j], seen[n]) != 0, "%s: states %d and %d are both \"%s\"",
			    table, j, n, seen[n]);
	}
	n--;		/* the "?" past the last */
	CHECK(n > 1, "%s: %d states", table, n);
	CHECK_STR(seen[0], first, table);
	CHECK_STR(seen[n - 1], last, table);
	return n;
}

static const char *
stage_name(int s)
{
	return outcome_stage_name((enum outcome_stage)s);
}

int
main(void)
{
	walk("upstream", upstream_state_name, "init", "dead");
	CHECK_STR(upstream_state_name(-1), "?", "upstream: before the first");
	walk("imap_session", imap_session_state_name, "init", "backoff");
	CHECK_STR(imap_session_state_name(-1), "?", "imap_session: before the first");
	CHECK(walk("outcome stages", stage_name, "connect", "data") == OUTCOME_NSTAGES,
	    "a name for each of the %d stages", OUTCOME_NSTAGES);
	T_DONE();
}

/*
 * test_scheduler_state: an account's suspension on disk (issue 13, item 7: a restart
 * forgot throttles and disables): the format both ways, bad input, a durable round
 * trip through the spool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler_state.h"
#include "t.h"

static const struct {
	const char	*what;
	const char	*text;		/* decoded */
	int		 rc;
	double		 until;
	int		 throttles;
	double		 disabled;
	const char	*why;
} cases[] = {
	{ "throttled", "relayd-account 1\nthrottled_until: 1796416604.104\nthrottles: 3\n"
	    "disabled: 0.000\nconfig: 00000000000000ff\nwhy: 421 4.7.0 Try again later\n",
	    0, 1796416604.104, 3, 0, "421 4.7.0 Try again later" },
	{ "disabled", "relayd-account 1\nthrottled_until: 0\nthrottles: 0\n"
	    "disabled: 1796410000.500\nconfig: 1\nwhy: 535 5.7.8 Username and Password not "
	    "accepted\n", 0, 0, 0, 1796410000.5, "535 5.7.8 Username and Password not accepted" },
	{ "unknown keys and no final newline", "relayd-account 1\nfuture: x\nthrottles: 1",
	    0, 0, 1, 0, "" },
	{ "absurd values are dropped", "relayd-account 1\nthrottles: 99999\n"
	    "throttled_until: nan\ndisabled: -5\n", 0, 0, 0, 0, "" },
	{ "another version", "relayd-account 2\nthrottles: 1\n", -1, 0, 0, 0, "" },
	{ "empty", "", -1, 0, 0, 0, "" },
};

int
main(void)
{
	struct scheduler_state st, back;
	char buf[1024], dir[] = "/tmp/test_scheduler_state.XXXXXX";

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = scheduler_state_decode(cases[i].text, strlen(cases[i].text), &st);

		CHECK(rc == cases[i].rc, "%s: rc %d", cases[i].what, rc);
		CHECK(st.throttled_until == cases[i].until && st.throttles == cases[i].throttles &&
		    st.disabled_since == cases[i].disabled, "%s: got %.3f %d %.3f", cases[i].what,
		    st.throttled_until, st.throttles, st.disabled_since);
		CHECK_STR(st.why, cases[i].why, cases[i].what);
		if (rc == 0) {	/* and back: encode(decode(x)) decodes the same */
			CHECK(scheduler_state_encode(&st, buf, sizeof(buf)) > 0, "%s: encode",
			    cases[i].what);
			scheduler_state_decode(buf, strlen(buf), &back);
			CHECK(memcmp(&st, &back, sizeof(st)) == 0, "%s: round trip", cases[i].what);
		}
	}

	/* A reply with line breaks stays one line. */
	memset(&st, 0, sizeof(st));
	snprintf(st.why, sizeof(st.why), "550-5.4.5 Daily\r\nlimit");
	CHECK(scheduler_state_encode(&st, buf, sizeof(buf)) > 0, "encode");
	scheduler_state_decode(buf, strlen(buf), &back);
	CHECK_STR(back.why, "550-5.4.5 Daily  limit", "line breaks");
	CHECK(scheduler_state_encode(&st, buf, 20) == -1, "too small a buffer");

	/* Durable round trip, per mailbox. */
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	CHECK(scheduler_state_load(dir, "shop@example.ru", &back) == 0, "none yet");
	st = (struct scheduler_state){ .throttled_until = 2e9, .throttles = 2, .config = 7 };
	snprintf(st.why, sizeof(st.why), "553 5.7.1 slow down");
	CHECK(scheduler_state_save(dir, "Shop@Example.ru", &st) == 0, "save");
	CHECK(scheduler_state_load(dir, "shop@example.ru", &back) == 1, "load");
	CHECK(back.throttled_until == 2e9 && back.throttles == 2 && back.config == 7,
	    "loaded %.3f %d", back.throttled_until, back.throttles);
	CHECK_STR(back.why, "553 5.7.1 slow down", "loaded why");

	t_rmtree(dir);
	T_DONE();
}

/*
 * test_smtp_auth: the pure parts of inbound AUTH as tables: the PLAIN message parser
 * (RFC 4616) and the delay schedule after failures.
 */
#include <stdio.h>

#include "smtp_auth.h"
#include "t.h"

static const struct {
	const char	*msg;
	size_t		 len;
	int		 ok;
	const char	*authz, *user, *pass;
} plain_cases[] = {
	{ "\0user\0pass", 10, 0, "", "user", "pass" },
	{ "user\0user\0pass", 14, 0, "user", "user", "pass" },
	{ "\0user\0", 6, 0, "", "user", "" },		/* empty password: parsed */
	{ "admin\0u\0p", 9, 0, "admin", "u", "p" },
	{ "\0\0pass", 6, -1, NULL, NULL, NULL },		/* no authcid */
	{ "userpass", 8, -1, NULL, NULL, NULL },
	{ "\0userpass", 9, -1, NULL, NULL, NULL },		/* one NUL */
	{ "\0user\0pa\0ss", 11, -1, NULL, NULL, NULL },	/* a NUL in the password */
	{ "", 0, -1, NULL, NULL, NULL },
	{ "\0", 1, -1, NULL, NULL, NULL },
};

static const struct {
	int	failures;
	double	delay;
} delay_cases[] = {
	{ -1, 0 }, { 0, 0 }, { 1, 0.5 }, { 2, 1 }, { 3, 2 }, { 4, 4 }, { 5, 8 }, { 6, 16 },
	{ 7, 30 }, { 8, 30 }, { 1000, 30 }, { 2147483647, 30 },
};

int
main(void)
{
	for (size_t i = 0; i < sizeof(plain_cases) / sizeof(plain_cases[0]); i++) {
		const char *az, *u, *p;
		size_t azl, ul, pl;
		char ctx[32];
		int r = smtp_auth_plain_parse(plain_cases[i].msg, plain_cases[i].len, &az, &azl,
		    &u, &ul, &p, &pl);

		snprintf(ctx, sizeof(ctx), "plain case %zu", i);
		CHECK(r == plain_cases[i].ok, "%s: got %d", ctx, r);
		if (r != 0 || plain_cases[i].ok != 0)
			continue;
		CHECK_MEM(az, azl, plain_cases[i].authz, strlen(plain_cases[i].authz), ctx);
		CHECK_MEM(u, ul, plain_cases[i].user, strlen(plain_cases[i].user), ctx);
		CHECK_MEM(p, pl, plain_cases[i].pass, strlen(plain_cases[i].pass), ctx);
	}
	for (size_t i = 0; i < sizeof(delay_cases) / sizeof(delay_cases[0]); i++) {
		double d = smtp_auth_delay(delay_cases[i].failures);

		CHECK(d == delay_cases[i].delay, "after %d failures: %g s, want %g s",
		    delay_cases[i].failures, d, delay_cases[i].delay);
	}
	T_DONE();
}

/*
 * test_imap_login: which login command an IMAP session sends for what the server
 * offers (password accounts; OAuth needs a token store and is the integration tests'),
 * the answers to "+", and LOGIN's quoting.
 */
#include <string.h>

#include "config.h"
#include "imap_login.h"
#include "t.h"
#include "xmalloc.h"

/* base64 of "\0shop@example.ru\0pa\"ss\\" */
#define PLAIN_B64	"AHNob3BAZXhhbXBsZS5ydQBwYSJzc1w="

static const struct {
	const char	*name;
	int		 sasl_ir, auth_plain;
	const char	*command;	/* NULL: none possible */
	int		 sent;		/* the credentials went with it */
	const char	*plus1, *plus2;	/* answers to a first and a second "+" */
} cases[] = {
	{ "PLAIN inline (SASL-IR)", 1, 1, "AUTHENTICATE PLAIN " PLAIN_B64, 1, "*", "*" },
	{ "PLAIN on the continuation", 0, 1, "AUTHENTICATE PLAIN", 0, PLAIN_B64, "*" },
	{ "LOGIN, quoted", 0, 0, "LOGIN \"shop@example.ru\" \"pa\\\"ss\\\\\"", 0, "*", "*" },
	{ "LOGIN, SASL-IR alone changes nothing", 1, 0,
	  "LOGIN \"shop@example.ru\" \"pa\\\"ss\\\\\"", 0, "*", "*" },
};

static const struct {
	const char	*in, *want;	/* want NULL: cannot be quoted */
} quoted[] = {
	{ "plain", "\"plain\"" },
	{ "", "\"\"" },
	{ "a\"b\\c", "\"a\\\"b\\\\c\"" },
	{ "line\r\nbreak", NULL },
	{ "\xd0\xbf\xd0\xb0\xd1\x80\xd0\xbe\xd0\xbb\xd1\x8c", NULL },
};

int
main(void)
{
	struct config_imap cfg = { .host = "imap.example.ru", .port = 993,
	    .username = "shop@example.ru", .password = "pa\"ss\\", .auth = CONFIG_AUTH_PASSWORD };
	struct imap_login l;
	char why[300], *got;

	CHECK(imap_login_oauth_mech(&cfg) == NULL, "a password account has no OAuth");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		got = imap_login_command(&l, &cfg, "main", cases[i].sasl_ir, cases[i].auth_plain,
		    why, sizeof(why));
		CHECK(got != NULL, "%s: no command (%s)", cases[i].name, why);
		if (got != NULL)
			CHECK_STR(got, cases[i].command, cases[i].name);
		CHECK(l.sent == cases[i].sent, "%s: sent %d", cases[i].name, l.sent);
		free(got);
		got = imap_login_continue(&l, &cfg, "main", cases[i].auth_plain, why, sizeof(why));
		CHECK_STR(got ? got : "(null)", cases[i].plus1, cases[i].name);
		free(got);
		got = imap_login_continue(&l, &cfg, "main", cases[i].auth_plain, why, sizeof(why));
		CHECK_STR(got ? got : "(null)", cases[i].plus2, cases[i].name);
		free(got);
	}

	/* A password LOGIN cannot carry, and no AUTH=PLAIN: no way, and why. */
	cfg.password = "line\nbreak";
	got = imap_login_command(&l, &cfg, "main", 0, 0, why, sizeof(why));
	CHECK(got == NULL, "LOGIN with a line break: %s", got);
	CHECK(strstr(why, "LOGIN cannot carry") != NULL, "why: %s", why);
	free(got);

	for (size_t i = 0; i < sizeof(quoted) / sizeof(quoted[0]); i++) {
		got = imap_login_quoted(quoted[i].in);
		if (quoted[i].want == NULL)
			CHECK(got == NULL, "quoted %s: got %s", quoted[i].in, got);
		else
			CHECK_STR(got ? got : "(null)", quoted[i].want, quoted[i].in);
		free(got);
	}
	cfg.auth = CONFIG_AUTH_XOAUTH2;
	CHECK_STR(imap_login_oauth_mech(&cfg), "XOAUTH2", "xoauth2");
	cfg.auth = CONFIG_AUTH_OAUTHBEARER;
	CHECK_STR(imap_login_oauth_mech(&cfg), "OAUTHBEARER", "oauthbearer");
	T_DONE();
}

/*
 * test_config: config validation as a table: each text either loads, or is refused
 * with a message naming the line and the key.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "t.h"

#define ACCT	"accounts = ( { name = \"m\"; host = \"smtp.example.org\"; port = 465;\n" \
		"  tls = \"implicit\"; username = \"a@example.org\"; password = \"p\"; } );\n"

#define ACCT_NOLIM "accounts = ( { name = \"m\"; host = \"smtp.example.org\"; port = 465;\n" \
		"  tls = \"implicit\"; username = \"a@example.org\"; password = \"p\";\n"

static const struct {
	const char	*text;
	const char	*want;		/* NULL: loads; else a substring of the error */
} cases[] = {
	{ ACCT, NULL },
	{ "listen = [ \"127.0.0.1:2525\", \"[::1]:2525\" ];\n" ACCT, NULL },
	{ "accounts = ( { name = \"m\"; provider = \"gmail\"; username = \"a@gmail.com\";\n"
	  "  password = \"p\"; } );\n", NULL },
	{ "accounts = ( { name = \"m\"; host = \"127.0.0.1\"; port = 25; tls = \"none\";\n"
	  "  address = \"a@example.org\"; } );\n", NULL },
	{ "", ":1: accounts: missing" },
	{ "listen = [ \"0.0.0.0:2525\" ];\n" ACCT, ":1: listen[0]: 0.0.0.0:2525 is not a loopback" },
	{ "listen = [ \"10.1.2.3:25\" ];\n" ACCT, "open relay" },
	{ "listen = [ \"localhost\" ];\n" ACCT, ":1: listen[0]: \"localhost\" is not ADDRESS:PORT" },
	{ "lisen = [ \"127.0.0.1:2525\" ];\n" ACCT, ":1: lisen: unknown key" },
	{ "max_message_size = 10;\n" ACCT, ":1: max_message_size: 10 is out of range" },
	{ "log_level = \"loud\";\n" ACCT, ":1: log_level: \"loud\" is not a level" },
	{ "retry = { initial = 60; max = 10; };\n" ACCT, ":1: retry: max (10) must not be below" },
	{ "accounts = ( { name = \"m\"; host = \"smtp.example.org\"; port = 70000;\n"
	  "  tls = \"implicit\"; username = \"a@example.org\"; password = \"p\"; } );\n",
	  ":1: accounts[0].port: 70000 is out of range" },
	{ "accounts = ( { name = \"m\"; host = \"smtp.example.org\"; port = 465;\n"
	  "  tls = \"none\"; username = \"a@example.org\"; password = \"p\"; } );\n",
	  ":2: accounts[0].tls: \"none\" (clear text) is allowed only for a loopback host" },
	{ "accounts = ( { name = \"m\"; host = \"smtp.example.org\"; port = 465;\n"
	  "  tls = \"ssl\"; username = \"a@example.org\"; password = \"p\"; } );\n",
	  ":2: accounts[0].tls: \"ssl\" is not a TLS mode" },
	{ "accounts = ( { name = \"m\"; host = \"smtp.example.org\"; port = 465;\n"
	  "  tls = \"implicit\"; username = \"a@example.org\"; } );\n", "password: missing" },
	{ "accounts = ( { name = \"m\"; provider = \"hotmail\"; username = \"a@b.c\";\n"
	  "  password = \"p\"; } );\n", ":1: accounts[0].provider: \"hotmail\" is not a known" },
	{ "accounts = ( { name = \"m\"; provider = \"yandex\"; username = \"a@b.c\";\n"
	  "  password = \"p\"; limits = { per_hour = -1; }; } );\n",
	  ":2: accounts[0].limits.per_hour: -1 is out of range" },
	{ "accounts = ( { name = \"m\"; provider = \"yandex\"; username = \"a@b.c\";\n"
	  "  password = \"p\"; limits = { count = \"bytes\"; }; } );\n",
	  "\"bytes\" is not a unit" },
	{ "accounts = ( { name = \"m\"; provider = \"yandex\"; username = \"a@b.c\";\n"
	  "  password = \"p\";\n  rules = ( { match = \"(\"; action = \"throttle\"; } ); } );\n",
	  ":3: accounts[0].rules[0]: match \"(\" is not a valid regular expression" },
	{ "accounts = ( { name = \"m\"; provider = \"yandex\"; username = \"a@b.c\";\n"
	  "  password = \"p\";\n  rules = ( { match = \"^5\"; action = \"bounce\"; } ); } );\n",
	  "action \"bounce\" is not one of" },
	{ "accounts = ( " "{ name = \"m\"; provider = \"gmail\"; username = \"a@b.c\"; password = \"p\"; },\n"
	  "{ name = \"m\"; provider = \"gmail\"; username = \"a@b.c\"; password = \"p\"; } );\n",
	  ":2: accounts[1].name: \"m\" is used by another account" },
	{ "accounts = ( { name = \"m\"; host = ; } );\n", ":1: syntax error" },
	/* The planner's keys (issue 16). */
	{ "accounts = ( { name = \"m\"; provider = \"mail.ru\"; username = \"a@b.c\";\n"
	  "  password = \"p\"; limits = { spread = true; };\n"
	  "  learn = { factor = 0.3; floor = 5; recover_after = 24; }; } );\n", NULL },
	{ "accounts = ( { name = \"m\"; provider = \"mail.ru\"; username = \"a@b.c\";\n"
	  "  password = \"p\"; learn = false; } );\n", NULL },
	{ "accounts = ( { name = \"m\"; provider = \"yandex\"; username = \"a@b.c\";\n"
	  "  password = \"p\"; limits = { spread = 1; }; } );\n",
	  ":2: accounts[0].limits.spread: must be true or false" },
	{ "accounts = ( { name = \"m\"; provider = \"yandex\"; username = \"a@b.c\";\n"
	  "  password = \"p\";\n  learn = { factor = 2.0; }; } );\n",
	  ":3: accounts[0].learn.factor: must be a fraction" },
	{ "accounts = ( { name = \"m\"; provider = \"yandex\"; username = \"a@b.c\";\n"
	  "  password = \"p\";\n  learn = { factor = 0.5; recover_after = 0; }; } );\n",
	  ":3: accounts[0].learn.recover_after: 0 is out of range" },
	{ "accounts = ( { name = \"m\"; provider = \"yandex\"; username = \"a@b.c\";\n"
	  "  password = \"p\";\n  learn = { fator = 0.5; }; } );\n",
	  ":3: accounts[0].learn.fator: unknown key" },
	{ "accounts = ( { name = \"m\"; provider = \"yandex\"; username = \"a@b.c\";\n"
	  "  password = \"p\";\n  learn = 3; } );\n", ":3: accounts[0].learn: must be a group" },
	{ "accounts = ( { name = \"m\"; provider = \"yandex\"; username = \"a@b.c\";\n"
	  "  password = \"p\";\n  warmup = { start = \"2026-12-01\"; from = 10; days = 14; };"
	  " } );\n", NULL },
	{ "accounts = ( { name = \"m\"; provider = \"yandex\"; username = \"a@b.c\";\n"
	  "  password = \"p\";\n  warmup = { start = \"2026-02-30\"; }; } );\n",
	  ":3: accounts[0].warmup.start: \"2026-02-30\" is not a date (YYYY-MM-DD)" },
	{ "accounts = ( { name = \"m\"; provider = \"yandex\"; username = \"a@b.c\";\n"
	  "  password = \"p\";\n  warmup = { from = 10; }; } );\n",
	  ":3: accounts[0].warmup.start: missing" },
	{ "accounts = ( { name = \"m\"; provider = \"yandex\"; username = \"a@b.c\";\n"
	  "  password = \"p\";\n  warmup = { start = \"2026-12-01\"; from = 500; }; } );\n",
	  ":3: accounts[0].warmup.from: 500 is above limits.per_day (80)" },
	{ ACCT_NOLIM "  window = \"Mon-Fri 08:00-20:00 Europe/Moscow\"; } );\n", NULL },
	{ ACCT_NOLIM "  window = \"Mon-Fri 8-20\"; } );\n",
	  ":3: accounts[0].window: \"Mon-Fri 8-20\" is not [DAYS] HH:MM-HH:MM [ZONE]" },
	{ ACCT_NOLIM "  window = \"08:00-20:00 Mars/Olympus\"; } );\n",
	  ":3: accounts[0].window: unknown time zone \"Mars/Olympus\"" },
	{ ACCT_NOLIM "  warmup = { start = \"2026-12-01\"; }; } );\n",
	  ":3: accounts[0].warmup: a warm-up ramps the day limit: set limits.per_day" },
	{ "metrics_listen = \"0.0.0.0:9125\";\n" ACCT, ":1: metrics_listen: 0.0.0.0:9125 is "
	  "not a loopback address" },
	{ "metrics_listen = \"127.0.0.1:9125\";\nlog = \"syslog\";\n" ACCT, NULL },
	{ "log = \"file\";\n" ACCT, ":1: log: \"file\" is not a log target" },
	{ "user = \"no-such-user-here\";\n" ACCT, ":1: user: there is no user" },
	/* Values that would escape the spool or inject into SMTP (issue 14, item 7). */
	{ "accounts = ( { name = \"../../x\"; host = \"smtp.example.org\"; port = 465;\n"
	  "  tls = \"implicit\"; username = \"a@example.org\"; password = \"p\"; } );\n",
	  ":1: accounts[0].name: not a safe name" },
	{ "accounts = ( { name = \"a/b\"; provider = \"gmail\"; username = \"a@b.c\";\n"
	  "  password = \"p\"; } );\n", ":1: accounts[0].name: not a safe name" },
	{ "accounts = ( { name = \".hidden\"; provider = \"gmail\"; username = \"a@b.c\";\n"
	  "  password = \"p\"; } );\n", ":1: accounts[0].name: not a safe name" },
	{ "accounts = ( { name = \"main-1.b_2\"; provider = \"gmail\"; username = \"a@b.c\";\n"
	  "  password = \"p\"; } );\n", NULL },
	{ "hostname = \"evil\\r\\n250-INJECTED\";\n" ACCT, ":1: hostname: not a host name" },
	{ "hostname = \"relay host\";\n" ACCT, ":1: hostname: not a host name" },
	{ "hostname = \"-relay.example.org\";\n" ACCT, ":1: hostname: not a host name" },
	{ "hostname = \"relay..example.org\";\n" ACCT, ":1: hostname: not a host name" },
	{ "hostname = \"relay-1.example.org\";\n" ACCT, NULL },
	{ "accounts = ( { name = \"m\"; host = \"smtp.example.org\\r\\nX\"; port = 465;\n"
	  "  tls = \"implicit\"; username = \"a@example.org\"; password = \"p\"; } );\n",
	  ":1: accounts[0].host: not a host name" },
	{ "accounts = ( { name = \"m\"; host = \"::1\"; port = 25; tls = \"none\";\n"
	  "  address = \"a@example.org\"; } );\n", NULL },
	/* Numbers libconfig 1.5 would wrap (issue 14, item 8). */
	{ "max_clients = 99999999999;\n" ACCT, ":1: max_clients: 99999999999 is out of range" },
	{ "max_clients = 4294967297;\n" ACCT, ":1: max_clients: 4294967297 is out of range" },
	{ "max_clients = -4294967295;\n" ACCT, ":1: max_clients: -4294967295 is out of range" },
	{ "accounts = ( { name = \"m\"; host = \"smtp.example.org\"; port = 4294967761;\n"
	  "  tls = \"implicit\"; username = \"a@example.org\"; password = \"p\"; } );\n",
	  ":1: accounts[0].port: 4294967761 is out of range" },
	{ "max_clients = 0x100;\n" ACCT, NULL },
};

/* load: write text to a file, load it, return what config_load printed. */
static int
load(const char *text, char *errbuf, size_t len)
{
	char path[] = "/tmp/test_config.XXXXXX", errpath[] = "/tmp/test_config_err.XXXXXX";
	int fd = mkstemp(path), efd = mkstemp(errpath), saved = dup(2);
	struct config *c;
	ssize_t n;

	if (fd == -1 || efd == -1 || write(fd, text, strlen(text)) < 0)
		return -1;
	close(fd);
	dup2(efd, 2);
	c = config_load(path);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(efd, errbuf, len - 1, 0);
	errbuf[n > 0 ? n : 0] = '\0';
	close(efd);
	unlink(path);
	unlink(errpath);
	config_free(c);
	return c != NULL;
}

int
main(void)
{
	char err[4096];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ok = load(cases[i].text, err, sizeof(err));

		if (cases[i].want == NULL)
			CHECK(ok == 1, "case %zu should load; got: %s", i, err);
		else
			CHECK(ok == 0 && strstr(err, cases[i].want) != NULL,
			    "case %zu: want \"%s\" in: %s", i, cases[i].want, err);
	}
	T_DONE();
}

/*
 * test_config_domains: the domains list (config_domains.c): its match patterns and
 * what they match, as tables; and relay.conf texts that load, or are refused naming
 * file:line and the key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_domains.h"
#include "t.h"

#define ACCT	"accounts = ( { name = \"m\"; host = \"smtp.example.org\"; port = 465;\n" \
		"  tls = \"implicit\"; username = \"a@example.org\"; password = \"p\"; } );\n"

static const struct {
	const char	*text;
	const char	*domain;	/* NULL: not a pattern */
	int		 sub;
} patterns[] = {
	{ "gmail.com", "gmail.com", 0 },
	{ "GMail.COM", "gmail.com", 0 },
	{ "*.example.com", "example.com", 1 },
	{ ".example.com", "example.com", 1 },
	{ "localhost", "localhost", 0 },
	{ "xn--80a1acny.xn--p1ai", "xn--80a1acny.xn--p1ai", 0 },
	{ "", NULL, 0 },
	{ "*", NULL, 0 },
	{ "*.", NULL, 0 },
	{ ".", NULL, 0 },
	{ "..example.com", NULL, 0 },
	{ "*.*.example.com", NULL, 0 },
	{ "example..com", NULL, 0 },
	{ "example.com.", NULL, 0 },
	{ "user@gmail.com", NULL, 0 },
	{ "-gmail.com", NULL, 0 },
	{ "gmail-.com", NULL, 0 },
	{ "gmail.com/x", NULL, 0 },
	{ "gm ail.com", NULL, 0 },
	{ "g*.com", NULL, 0 },
};

static const struct {
	const char	*pattern;
	const char	*domain;
	int		 match;
} matches[] = {
	{ "gmail.com", "gmail.com", 1 },
	{ "gmail.com", "GMAIL.com", 1 },
	{ "gmail.com", "gmail.com.", 1 },
	{ "gmail.com", "googlemail.com", 0 },
	{ "gmail.com", "xgmail.com", 0 },
	{ "gmail.com", "mx.gmail.com", 0 },
	{ "gmail.com", "gmail.co", 0 },
	{ "gmail.com", "", 0 },
	{ "*.example.com", "a.example.com", 1 },
	{ "*.example.com", "a.b.EXAMPLE.com", 1 },
	{ "*.example.com", "example.com", 0 },
	{ "*.example.com", "badexample.com", 0 },
	{ "*.example.com", ".example.com", 0 },
	{ ".example.com", "mx.example.com", 1 },
	{ ".example.com", "example.com", 0 },
};

static const struct {
	const char	*text;
	const char	*want;		/* NULL: loads; else a substring of the error */
} cases[] = {
	{ ACCT "domains = ( { match = \"gmail.com\"; per_hour = 20; } );\n", NULL },
	{ ACCT "domains = ( { match = \"gmail.com\"; per_hour = 20; per_day = 100; },\n"
	  "  { match = \"*.example.com\"; per_day = 5; } );\n", NULL },
	{ ACCT "domains = ( );\n", NULL },
	{ ACCT "domains = ( { match = \"gmail.com\"; per_hour = 0; } );\n", NULL },
	{ ACCT "domains = { match = \"gmail.com\"; };\n", ":3: domains: must be a list" },
	{ ACCT "domains = ( { match = \"gmail.com\"; } );\n",
	  ":3: domains[0]: needs per_hour or per_day" },
	{ ACCT "domains = ( { per_hour = 5; } );\n", ":3: domains[0]: match: missing" },
	{ ACCT "domains = ( { match = 5; per_hour = 5; } );\n",
	  ":3: domains[0].match: must be a string" },
	{ ACCT "domains = ( { match = \"*\"; per_hour = 5; } );\n",
	  ":3: domains[0].match: \"*\" is not a domain" },
	{ ACCT "domains = ( { match = \"a@gmail.com\"; per_hour = 5; } );\n",
	  ":3: domains[0].match: \"a@gmail.com\" is not a domain" },
	{ ACCT "domains = ( { match = \"gmail.com\";\n  per_hour = -1; } );\n",
	  ":4: domains[0].per_hour: -1 is out of range" },
	{ ACCT "domains = ( { match = \"gmail.com\";\n  per_day = \"20\"; } );\n",
	  ":4: domains[0].per_day: must be a whole number" },
	{ ACCT "domains = ( { match = \"gmail.com\";\n  per_day = 2.5; } );\n",
	  ":4: domains[0].per_day: must be a whole number" },
	{ ACCT "domains = ( { match = \"gmail.com\";\n  per_hour = 99999999999; } );\n",
	  ":4: domains[0].per_hour: 99999999999 is out of range" },
	{ ACCT "domains = ( { match = \"gmail.com\"; per_hour = 5;\n  per_minute = 1; } );\n",
	  ":4: domains[0].per_minute: unknown key" },
	{ ACCT "domains = ( \"gmail.com\" );\n", ":3: domains[0]: each entry is a group" },
	{ ACCT "domains = ( { match = \"*.example.com\"; per_hour = 5; },\n"
	  "  { match = \".EXAMPLE.com\"; per_hour = 6; } );\n",
	  ":4: domains[1].match: \"*.example.com\" is the match of entry 0 already" },
	{ ACCT "domain = ( { match = \"gmail.com\"; per_hour = 5; } );\n",
	  ":3: domain: unknown key" },
};

/* load: write text to a file, load it, return 1 if it loaded; what it said in err. */
static int
load(const char *text, char *err, size_t len, struct config **out)
{
	char path[] = "/tmp/test_config_domains.XXXXXX";
	int fd = mkstemp(path);
	FILE *ef = fmemopen(err, len, "w");
	struct config *c;

	memset(err, 0, len);
	if (fd == -1 || ef == NULL || write(fd, text, strlen(text)) < 0)
		return -1;
	close(fd);
	c = config_load_report(path, ef);
	fclose(ef);
	unlink(path);
	*out = c;
	return c != NULL;
}

int
main(void)
{
	char err[4096];
	struct config *c;

	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		int sub = -1;
		char *d = config_domain_pattern(patterns[i].text, &sub);

		if (patterns[i].domain == NULL)
			CHECK(d == NULL, "\"%s\" read as \"%s\"", patterns[i].text, d);
		else if (d == NULL)
			CHECK(0, "\"%s\" refused", patterns[i].text);
		else {
			CHECK_STR(d, patterns[i].domain, patterns[i].text);
			CHECK(sub == patterns[i].sub, "\"%s\": sub %d", patterns[i].text, sub);
		}
		free(d);
	}
	for (size_t i = 0; i < sizeof(matches) / sizeof(matches[0]); i++) {
		struct config_domain d = { 0 };

		d.domain = config_domain_pattern(matches[i].pattern, &d.subdomains);
		CHECK(config_domain_match(&d, matches[i].domain) == matches[i].match,
		    "\"%s\" against \"%s\": want %d", matches[i].pattern, matches[i].domain,
		    matches[i].match);
		free(d.domain);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ok = load(cases[i].text, err, sizeof(err), &c);

		if (cases[i].want == NULL)
			CHECK(ok == 1, "case %zu should load; got: %s", i, err);
		else
			CHECK(ok == 0 && strstr(err, cases[i].want) != NULL,
			    "case %zu: want \"%s\" in: %s", i, cases[i].want, err);
		config_free(c);
	}
	/* What a loaded list holds. */
	if (load(ACCT "domains = ( { match = \"GMail.com\"; per_hour = 20; },\n"
	    "  { match = \".Example.com\"; per_day = 500; } );\n", err, sizeof(err), &c) == 1) {
		CHECK(c->ndomains == 2, "%zu entries", c->ndomains);
		CHECK_STR(c->domains[0].match, "gmail.com", "entry 0");
		CHECK(c->domains[0].per_hour == 20 && c->domains[0].per_day == 0, "entry 0 limits");
		CHECK_STR(c->domains[1].match, "*.example.com", "entry 1");
		CHECK(c->domains[1].subdomains && c->domains[1].per_day == 500, "entry 1 limits");
		config_free(c);
	} else
		CHECK(0, "the list did not load: %s", err);
	T_DONE();
}

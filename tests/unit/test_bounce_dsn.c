/*
 * test_bounce_dsn: the RFC 3464 field parser alone: recipient field values to bare
 * addresses, then whole delivery-status bodies to their recipient blocks.
 */
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "bounce_dsn.h"

static const struct {
	const char	*value, *addr;	/* addr NULL: none */
} addr_cases[] = {
	{ "rfc822; a@example.org", "a@example.org" },
	{ "rfc822;a@Example.ORG", "a@example.org" },
	{ "RFC822; <Bob@example.org>", "Bob@example.org" },
	{ "rfc822; smtp=user@example.com", "user@example.com" },
	{ "rfc822; SMTP:user@example.com", "user@example.com" },
	{ "rfc822; user@example.com (the one we sent to)", "user@example.com" },
	{ "rfc822; \"user@example.com\"", "user@example.com" },
	{ "rfc822; user@example.com;", "user@example.com" },
	{ "  rfc822 ;  user@example.com  ", "user@example.com" },
	{ "rfc822; (comment (nested)) <x@example.net> trailing", "x@example.net" },
	{ "rfc822; Name <y@example.net>", "y@example.net" },
	{ "rfc822; =?utf-8?b?8J+Qsg==?=@example.org", "=?utf-8?b?8J+Qsg==?=@example.org" },
	{ "rfc822; z@[192.0.2.1]", "z@[192.0.2.1]" },
	{ "x400; /C=JP/O=example/S=neko/", NULL },
	{ "rfc822; nobody", NULL },
	{ "rfc822; @example.org", NULL },
	{ "rfc822; a@", NULL },
	{ "rfc822; a@localhost", NULL },
	{ "rfc822; a@.example.org", NULL },
	{ "", NULL },
	{ "a@example.org", "a@example.org" },
};

static void
test_addr(void)
{
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		char *a = bounce_dsn_addr(addr_cases[i].value);
		if (addr_cases[i].addr == NULL)
			CHECK(a == NULL, "addr(%s) = %s, want none", addr_cases[i].value, a);
		else
			CHECK_STR(a ? a : "(none)", addr_cases[i].addr, addr_cases[i].value);
		free(a);
	}
	CHECK_STR(bounce_dsn_value("smtp; 550 5.1.1 no"), " 550 5.1.1 no", "value");
	CHECK_STR(bounce_dsn_value("550 5.1.1; no"), "550 5.1.1; no", "value no type");
}

struct want_block {
	const char	*final, *original, *action, *status, *diag;
};

static const struct {
	const char	*name, *body;
	size_t		 n;
	struct want_block b[3];
} parse_cases[] = {
	{ "two blocks",
	  "Reporting-MTA: dns; mx.example.net\n"
	  "Arrival-Date: Thu, 1 Jan 2026 00:00:00 +0000\n"
	  "\n"
	  "Final-Recipient: rfc822; a@example.org\n"
	  "Original-Recipient: rfc822;A@example.org\n"
	  "Action: failed\n"
	  "Status: 5.1.1\n"
	  "Diagnostic-Code: smtp; 550 5.1.1 <a@example.org>: Recipient address\n"
	  "    rejected: User unknown\n"
	  "\n"
	  "Final-Recipient: rfc822; b@example.org\n"
	  "Action: delayed\n"
	  "Status: 4.4.1\n",
	  2, { { "rfc822; a@example.org", "rfc822;A@example.org", "failed", "5.1.1",
		 "smtp; 550 5.1.1 <a@example.org>: Recipient address     rejected: User unknown" },
	       { "rfc822; b@example.org", NULL, "delayed", "4.4.1", NULL } } },
	{ "crlf, any case, no blank line between blocks",
	  "final-recipient: rfc822; a@example.org\r\n"
	  "ACTION: failed\r\n"
	  "status: 5.2.2\r\n"
	  "Final-Recipient: rfc822; b@example.org\r\n"
	  "Action: failed\r\n"
	  "Status: 5.0.0\r\n",
	  2, { { "rfc822; a@example.org", NULL, "failed", "5.2.2", NULL },
	       { "rfc822; b@example.org", NULL, "failed", "5.0.0", NULL } } },
	{ "Original-Recipient first (Exchange)",
	  "Original-Recipient: rfc822;a@example.org\n"
	  "Final-Recipient: rfc822;store@internal.example\n"
	  "Action: failed\n"
	  "Status: 5.7.1\n"
	  "Original-Recipient: rfc822;b@example.org\n"
	  "Final-Recipient: rfc822;b@example.org\n"
	  "Action: failed\n"
	  "Status: 5.1.1\n",
	  2, { { "rfc822;store@internal.example", "rfc822;a@example.org", "failed", "5.7.1",
		 NULL },
	       { "rfc822;b@example.org", "rfc822;b@example.org", "failed", "5.1.1", NULL } } },
	{ "repeated field: the first wins",
	  "Final-Recipient: rfc822; a@example.org\nStatus: 5.1.1\nStatus: 4.0.0\n",
	  1, { { "rfc822; a@example.org", NULL, NULL, "5.1.1", NULL } } },
	{ "no recipient", "Reporting-MTA: dns; x\nAction: failed\nStatus: 5.0.0\n", 0, { { 0 } } },
	{ "empty", "", 0, { { 0 } } },
	{ "no colon, empty values", "garbage line\nFinal-Recipient:\n:\n", 1,
	  { { "", NULL, NULL, NULL, NULL } } },
};

/* check_field: got and want both NULL, or equal. */
static void
check_field(const char *name, const char *got, const char *want)
{
	if (want == NULL)
		CHECK(got == NULL, "%s: got \"%s\", want none", name, got);
	else
		CHECK_STR(got ? got : "(none)", want, name);
}

static void
test_parse(void)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		struct bounce_dsn_rcpt *r;
		size_t n = bounce_dsn_parse(parse_cases[i].body, &r);
		const char *name = parse_cases[i].name;

		CHECK(n == parse_cases[i].n, "%s: %zu blocks, want %zu", name, n,
		    parse_cases[i].n);
		for (size_t k = 0; k < n && k < parse_cases[i].n; k++) {
			const struct want_block *w = &parse_cases[i].b[k];
			check_field(name, r[k].final, w->final);
			check_field(name, r[k].original, w->original);
			check_field(name, r[k].action, w->action);
			check_field(name, r[k].status, w->status);
			check_field(name, r[k].diag, w->diag);
		}
		CHECK((n == 0) == (r == NULL), "%s: array and count disagree", name);
		bounce_dsn_free(r, n);
	}
	bounce_dsn_free(NULL, 0);

	/* At most BOUNCE_DSN_MAX blocks are kept. */
	size_t cap = (BOUNCE_DSN_MAX + 5) * 40 + 1, o = 0;
	char *big = malloc(cap);
	for (int i = 0; i < BOUNCE_DSN_MAX + 5; i++)
		o += snprintf(big + o, cap - o, "Final-Recipient: rfc822; u%d@x.org\n", i);
	struct bounce_dsn_rcpt *r;
	size_t n = bounce_dsn_parse(big, &r);
	CHECK(n == BOUNCE_DSN_MAX, "capped at %zu", n);
	bounce_dsn_free(r, n);
	free(big);
}

int
main(void)
{
	test_addr();
	test_parse();
	T_DONE();
}

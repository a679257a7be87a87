/*
 * test_sendmail: relay-sendmail's pure parts as tables: the command line, address
 * lists (for -t), input conversion to CRLF, header completion and Bcc: removal,
 * dot-stuffing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sendmail.h"
#include "t.h"

#define MAXARGS	12
#define REFUSED(e)	e, 0, 0, 0, 0, NULL, NULL, NULL, NULL

static const struct args_case {
	const char	*argv[MAXARGS];
	const char	*err;		/* NULL: parses; else a substring of the error */
	int		 extract, ignore_dots, verbose;
	char		 mode;
	const char	*config, *sender, *fullname;
	const char	*rcpts;		/* joined with "," */
} args_cases[] = {
	{ { "sendmail", "a@x.example" }, NULL, 0, 0, 0, 'm', NULL, NULL, NULL, "a@x.example" },
	{ { "sendmail", "-t", "-i" }, NULL, 1, 1, 0, 'm', NULL, NULL, NULL, "" },
	{ { "sendmail", "-ti" }, NULL, 1, 1, 0, 'm', NULL, NULL, NULL, "" },
	{ { "sendmail", "-t", "-oi" }, NULL, 1, 1, 0, 'm', NULL, NULL, NULL, "" },
	{ { "sendmail", "-o", "i", "x@y.example" }, NULL, 0, 1, 0, 'm', NULL, NULL, NULL,
	  "x@y.example" },
	/* what cron (Debian's cron, cronie) passes */
	{ { "sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "-oi", "-t" }, NULL,
	  1, 1, 0, 'm', NULL, NULL, "CronDaemon", "" },
	{ { "sendmail", "-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t" }, NULL,
	  1, 1, 0, 'm', NULL, NULL, "CronDaemon", "" },
	/* PHP's default sendmail_path, and a typical custom one */
	{ { "sendmail", "-t", "-i" }, NULL, 1, 1, 0, 'm', NULL, NULL, NULL, "" },
	{ { "sendmail", "-t", "-i", "-fshop@example.org" }, NULL, 1, 1, 0, 'm', NULL,
	  "shop@example.org", NULL, "" },
	{ { "sendmail", "-f", "a@b.example", "-F", "Shop Team", "r@x.example" }, NULL,
	  0, 0, 0, 'm', NULL, "a@b.example", "Shop Team", "r@x.example" },
	{ { "sendmail", "-r", "a@b.example", "r@x.example" }, NULL, 0, 0, 0, 'm', NULL,
	  "a@b.example", NULL, "r@x.example" },
	{ { "sendmail", "-C", "/etc/r.conf", "-bm", "-U", "-v", "-obq", "r@x.example" },
	  NULL, 0, 0, 1, 'm', "/etc/r.conf", NULL, NULL, "r@x.example" },
	{ { "sendmail", "r@x.example", "-oee", "s@x.example" }, NULL, 0, 0, 0, 'm', NULL,
	  NULL, NULL, "r@x.example,s@x.example" },
	{ { "sendmail", "--", "-t" }, NULL, 0, 0, 0, 'm', NULL, NULL, NULL, "-t" },
	{ { "sendmail", "-bi" }, NULL, 0, 0, 0, 'i', NULL, NULL, NULL, "" },
	{ { "sendmail", "-N", "never", "-R", "hdrs", "-V", "id1", "r@x.example" }, NULL,
	  0, 0, 0, 'm', NULL, NULL, NULL, "r@x.example" },
	{ { "sendmail", "-x" }, REFUSED("unknown option -x") },
	{ { "sendmail", "-tq" }, REFUSED("unknown option -q") },
	{ { "sendmail", "-f" }, REFUSED("option -f needs an argument") },
	{ { "sendmail", "-bs" }, NULL, 0, 0, 0, 's', NULL, NULL, NULL, "" },
	{ { "sendmail", "-bd" }, REFUSED("-bd: mode not supported") },
	{ { "sendmail", "-bp" }, REFUSED("relayctl queue list") },
	{ { "sendmail", "-" }, REFUSED("\"-\" is not an option") },
	{ { "sendmail", "--help" }, REFUSED("unknown option --") },
};

/* sendmail_parse_args: each argv either parses into these options, or is refused. */
static void
test_args(void)
{
	for (size_t i = 0; i < sizeof(args_cases) / sizeof(args_cases[0]); i++) {
		const struct args_case *c = &args_cases[i];
		struct sendmail_opts o;
		char *argv[MAXARGS + 1], err[256], ctx[64], got[512] = "";
		int argc = 0, r;

		while (argc < MAXARGS && c->argv[argc] != NULL) {
			argv[argc] = (char *)c->argv[argc];
			argc++;
		}
		argv[argc] = NULL;
		snprintf(ctx, sizeof(ctx), "args %zu", i);
		r = sendmail_parse_args(argc, argv, &o, err, sizeof(err));
		if (c->err != NULL) {
			CHECK(r == -1 && strstr(err, c->err) != NULL, "%s: got %d \"%s\", want "
			    "error \"%s\"", ctx, r, r == -1 ? err : "", c->err);
			sendmail_opts_free(&o);
			continue;
		}
		CHECK(r == 0, "%s: refused: %s", ctx, err);
		CHECK(o.extract == c->extract && o.ignore_dots == c->ignore_dots &&
		    o.verbose == c->verbose && o.mode == c->mode, "%s: t=%d i=%d v=%d mode=%c",
		    ctx, o.extract, o.ignore_dots, o.verbose, o.mode);
		CHECK_STR(o.config ? o.config : "(null)", c->config ? c->config : "(null)", ctx);
		CHECK_STR(o.sender ? o.sender : "(null)", c->sender ? c->sender : "(null)", ctx);
		CHECK_STR(o.fullname ? o.fullname : "(null)",
		    c->fullname ? c->fullname : "(null)", ctx);
		for (size_t j = 0; j < o.nrcpts; j++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
			    j ? "," : "", o.rcpts[j]);
		CHECK_STR(got, c->rcpts, ctx);
		sendmail_opts_free(&o);
	}
}

static const struct addr_case {
	const char	*list;
	const char	*want;		/* addresses joined with ",", or NULL */
	const char	*err;		/* substring of the error when want is NULL */
} addr_cases[] = {
	{ "a@x.example", "a@x.example", NULL },
	{ "  a@x.example  ", "a@x.example", NULL },
	{ "a@x.example, b@y.example", "a@x.example,b@y.example", NULL },
	{ "Alice <a@x.example>", "a@x.example", NULL },
	{ "\"Smith, John\" <j@x.example>, b@y.example", "j@x.example,b@y.example", NULL },
	{ "\"a:b;c\" <j@x.example>", "j@x.example", NULL },
	{ "a@x.example (Alice, at work)", "a@x.example", NULL },
	{ "(comment) a@x.example", "a@x.example", NULL },
	{ "Alice (the (nested) one) <a@x.example>", "a@x.example", NULL },
	{ "=?UTF-8?B?0JDQu9C40YHQsA==?= <a@x.example>", "a@x.example", NULL },
	{ "undisclosed-recipients:;", "", NULL },
	{ "Team: a@x.example, Bob <b@y.example>;", "a@x.example,b@y.example", NULL },
	{ "Team: a@x.example;, c@z.example", "a@x.example,c@z.example", NULL },
	{ "a@x.example,,b@y.example,", "a@x.example,b@y.example", NULL },
	{ "a@x.example, A@X.EXAMPLE", "a@x.example", NULL },
	{ "<@relay.example,@r2.example:a@x.example>", "a@x.example", NULL },
	{ "\"john smith\"@x.example", "\"john smith\"@x.example", NULL },
	{ "<\"john smith\"@x.example>", "\"john smith\"@x.example", NULL },
	{ "a@[192.0.2.1]", "a@[192.0.2.1]", NULL },
	{ "Folded\r\n <a@x.example>,\r\n\tb@y.example", "a@x.example,b@y.example", NULL },
	{ "< a@x.example >", "a@x.example", NULL },
	{ "", "", NULL },
	{ "root", NULL, "\"root\" has no @domain" },
	{ "Root <root>", NULL, "\"<root>\" has no @domain" },
	{ "john smith@x.example", NULL, "a display name needs the address in <>" },
	{ "a@x.example <b@y.example> <c@z.example>", NULL, "stray '<'" },
	{ "Alice <a@x.example", NULL, "unclosed '<'" },
	{ "\"Alice <a@x.example>", NULL, "unbalanced quotes" },
	{ "a@x.example (oops", NULL, "unbalanced parentheses" },
	{ "<>", NULL, "\"<>\" is empty" },
	{ "a@@x.example", NULL, "is not a valid mail address" },
	{ "a@x..example", NULL, "is not a valid mail address" },
	{ "a>b@x.example", NULL, "stray '>'" },
};

/* sendmail_addrlist: every mailbox of a list, or the first bad one named. */
static void
test_addrlist(void)
{
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		const struct addr_case *c = &addr_cases[i];
		struct sendmail_rcpts r = { 0 };
		char err[256], ctx[64], got[512] = "";
		int ret;

		snprintf(ctx, sizeof(ctx), "addrlist %zu \"%s\"", i, c->list);
		ret = sendmail_addrlist(c->list, strlen(c->list), &r, err, sizeof(err));
		if (c->want == NULL) {
			CHECK(ret == -1 && strstr(err, c->err) != NULL, "%s: got %d \"%s\", want "
			    "error \"%s\"", ctx, ret, ret == -1 ? err : "", c->err);
		} else {
			CHECK(ret == 0, "%s: refused: %s", ctx, err);
			for (size_t j = 0; j < r.n; j++)
				snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
				    j ? "," : "", r.addr[j]);
			CHECK_STR(got, c->want, ctx);
		}
		sendmail_rcpts_free(&r);
	}
}

static const struct canon_case {
	const char	*in;
	int		 ignore_dots;
	const char	*want;
} canon_cases[] = {
	{ "", 0, "" },
	{ "a\nb\n", 0, "a\r\nb\r\n" },
	{ "a\r\nb\r\n", 0, "a\r\nb\r\n" },
	{ "a\nb", 0, "a\r\nb\r\n" },
	{ "a\r\r\nb\n", 0, "a\r\nb\r\n" },
	{ "a\rb\n", 0, "ab\r\n" },
	{ "a\n\n\nb\n", 0, "a\r\n\r\n\r\nb\r\n" },
	{ "a\n.\nb\n", 0, "a\r\n" },
	{ "a\n.\r\nb\n", 0, "a\r\n" },
	{ "a\n.\nb\n", 1, "a\r\n.\r\nb\r\n" },
	{ "a\n..\nb\n", 0, "a\r\n..\r\nb\r\n" },
	{ "a\n. \nb\n", 0, "a\r\n. \r\nb\r\n" },
	{ ".\n", 0, "" },
	{ "a\n.", 0, "a\r\n" },
	{ "a\n.", 1, "a\r\n.\r\n" },
	{ "From someone@x Mon Mar  2 10:00:00 2026\nSubject: x\n\nb\n", 0,
	  "Subject: x\r\n\r\nb\r\n" },
	{ "From: a@x\n\nb\n", 0, "From: a@x\r\n\r\nb\r\n" },
	{ "Subject: x\n\nFrom here on\n", 0, "Subject: x\r\n\r\nFrom here on\r\n" },
};

/* sendmail_canon: CRLF lines, the lone-dot end, the mbox line. */
static void
test_canon(void)
{
	for (size_t i = 0; i < sizeof(canon_cases) / sizeof(canon_cases[0]); i++) {
		const struct canon_case *c = &canon_cases[i];
		char ctx[64];
		size_t n;
		char *out = sendmail_canon(c->in, strlen(c->in), c->ignore_dots, &n);

		snprintf(ctx, sizeof(ctx), "canon %zu", i);
		CHECK_MEM(out, n, c->want, strlen(c->want), ctx);
		free(out);
	}
}

#define NOW	1772434800	/* Mon, 2 Mar 2026 07:00:00 UTC */
#define DATE	"Date: Mon, 2 Mar 2026 07:00:00 +0000\r\n"
#define FROM	"From: me@host.example\r\n"

static const struct prep_case {
	const char	*in;
	int		 extract;
	const char	*fullname;
	const char	*want;		/* the message out, or NULL */
	const char	*rcpts;		/* joined, or the error substring when want is NULL */
} prep_cases[] = {
	/* complete messages pass unchanged */
	{ "From: a@x.example\r\nDate: Sun, 1 Mar 2026 10:00:00 +0300\r\nSubject: s\r\n\r\n"
	  "body\r\n", 0, NULL,
	  "From: a@x.example\r\nDate: Sun, 1 Mar 2026 10:00:00 +0300\r\nSubject: s\r\n\r\n"
	  "body\r\n", "" },
	/* From: and Date: added at the end of the header */
	{ "Subject: s\r\n\r\nbody\r\n", 0, NULL,
	  "Subject: s\r\n" FROM DATE "\r\nbody\r\n", "" },
	{ "Subject: s\r\n\r\nbody\r\n", 0, "Cron Daemon",
	  "Subject: s\r\nFrom: Cron Daemon <me@host.example>\r\n" DATE "\r\nbody\r\n", "" },
	{ "\r\nbody\r\n", 0, "O'Brien, Pat",
	  "From: \"O'Brien, Pat\" <me@host.example>\r\n" DATE "\r\nbody\r\n", "" },
	{ "\r\n", 0, "a \"b\" \\c",
	  "From: \"a \\\"b\\\" \\\\c\" <me@host.example>\r\n" DATE "\r\n", "" },
	{ "\r\n", 0, "\xd0\x90\xd0\xbb\xd0\xb8\xd1\x81\xd0\xb0",
	  "From: =?UTF-8?B?0JDQu9C40YHQsA==?= <me@host.example>\r\n" DATE "\r\n", "" },
	/* a -F with a line break cannot add a field */
	{ "\r\n", 0, "x\r\nBcc: evil@x.example",
	  "From: \"xBcc: evil@x.example\" <me@host.example>\r\n" DATE "\r\n", "" },
	{ "", 0, NULL, FROM DATE "\r\n", "" },
	/* no header at all: the text is body */
	{ "hello\r\nworld\r\n", 0, NULL, FROM DATE "\r\nhello\r\nworld\r\n", "" },
	{ " indented\r\n", 0, NULL, FROM DATE "\r\n indented\r\n", "" },
	/* a line that is not a field ends the header; an empty line goes in before it */
	{ "Subject: s\r\nnot a field\r\n", 0, NULL,
	  "Subject: s\r\n" FROM DATE "\r\nnot a field\r\n", "" },
	{ "Subject: s\r\n", 0, NULL, "Subject: s\r\n" FROM DATE "\r\n", "" },
	/* Bcc: always goes, with its continuation lines; names are case-insensitive */
	{ "To: a@x.example\r\nBcc: b@y.example,\r\n c@z.example\r\nSubject: s\r\n\r\n"
	  "Bcc: in the body stays\r\n", 0, NULL,
	  "To: a@x.example\r\nSubject: s\r\n" FROM DATE "\r\nBcc: in the body stays\r\n", "" },
	{ "bcc: b@y.example\r\nBCC : c@z.example\r\nResent-Bcc: d@w.example\r\n\r\nx\r\n", 0,
	  NULL, FROM DATE "\r\nx\r\n", "" },
	{ "Bcc:\r\n\r\nx\r\n", 1, NULL, FROM DATE "\r\nx\r\n", "" },
	/* -t: To, Cc, Bcc, every field of them, in order, no duplicates */
	{ "To: Alice <a@x.example>, b@y.example\r\nCc: \"C, D\" <c@z.example>\r\n"
	  "Bcc: hidden@w.example\r\nTo: a@x.example\r\nSubject: s\r\n\r\nx\r\n", 1, NULL,
	  "To: Alice <a@x.example>, b@y.example\r\nCc: \"C, D\" <c@z.example>\r\n"
	  "To: a@x.example\r\nSubject: s\r\n" FROM DATE "\r\nx\r\n",
	  "a@x.example,b@y.example,c@z.example,hidden@w.example" },
	{ "To: a@x.example,\r\n\tb@y.example\r\nReply-To: r@x.example\r\n\r\nx\r\n", 1, NULL,
	  "To: a@x.example,\r\n\tb@y.example\r\nReply-To: r@x.example\r\n" FROM DATE "\r\nx\r\n",
	  "a@x.example,b@y.example" },
	{ "To: undisclosed-recipients:;\r\nBcc: a@x.example\r\n\r\nx\r\n", 1, NULL,
	  "To: undisclosed-recipients:;\r\n" FROM DATE "\r\nx\r\n", "a@x.example" },
	{ "Subject: s\r\n\r\nTo: body@x.example\r\n", 1, NULL,
	  "Subject: s\r\n" FROM DATE "\r\nTo: body@x.example\r\n", "" },
	/* without -t the fields are not read: a bad one is no error */
	{ "To: root\r\n\r\nx\r\n", 0, NULL, "To: root\r\n" FROM DATE "\r\nx\r\n", "" },
	{ "To: root\r\n\r\nx\r\n", 1, NULL, NULL, "To: \"root\" has no @domain" },
	{ "Cc: a@x.example, Bob <bob>\r\n\r\nx\r\n", 1, NULL, NULL,
	  "Cc: \"<bob>\" has no @domain" },
};

/* sendmail_prepare: Bcc: removal, From:/Date: when missing, -t recipients. */
static void
test_prepare(void)
{
	for (size_t i = 0; i < sizeof(prep_cases) / sizeof(prep_cases[0]); i++) {
		const struct prep_case *c = &prep_cases[i];
		struct sendmail_prep p = { .extract = c->extract, .from_addr = "me@host.example",
		    .fullname = c->fullname, .now = NOW };
		struct sendmail_rcpts r = { 0 };
		char err[256], ctx[64], got[512] = "", *out = NULL;
		size_t n = 0;
		int ret;

		snprintf(ctx, sizeof(ctx), "prepare %zu", i);
		ret = sendmail_prepare(c->in, strlen(c->in), &p, &r, &out, &n, err, sizeof(err));
		if (c->want == NULL) {
			CHECK(ret == -1 && strstr(err, c->rcpts) != NULL, "%s: got %d \"%s\", "
			    "want error \"%s\"", ctx, ret, ret == -1 ? err : "", c->rcpts);
		} else {
			CHECK(ret == 0, "%s: refused: %s", ctx, err);
			if (ret == 0)
				CHECK_MEM(out, n, c->want, strlen(c->want), ctx);
			for (size_t j = 0; j < r.n; j++)
				snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
				    j ? "," : "", r.addr[j]);
			CHECK_STR(got, c->rcpts, ctx);
		}
		free(out);
		sendmail_rcpts_free(&r);
	}
}

/* The Date: added is in local time with its numeric zone. */
static void
test_date_zone(void)
{
	struct sendmail_prep p = { .from_addr = "me@host.example", .now = NOW };
	struct sendmail_rcpts r = { 0 };
	char err[256], *out;
	size_t n;

	setenv("TZ", "Europe/Moscow", 1);
	tzset();
	sendmail_prepare("\r\n", 2, &p, &r, &out, &n, err, sizeof(err));
	CHECK(strstr(out, "Date: Mon, 2 Mar 2026 10:00:00 +0300\r\n") != NULL ||
	    strstr(out, "Date: Mon, 2 Mar 2026 07:00:00 +0000\r\n") != NULL, /* no tzdata */
	    "date in Moscow: %s", out);
	free(out);
	setenv("TZ", "America/St_Johns", 1);	/* -03:30 in March */
	tzset();
	sendmail_prepare("\r\n", 2, &p, &r, &out, &n, err, sizeof(err));
	CHECK(strstr(out, "Date: Mon, 2 Mar 2026 03:30:00 -0330\r\n") != NULL ||
	    strstr(out, "+0000\r\n") != NULL, "date in St John's: %s", out);
	free(out);
	setenv("TZ", "UTC", 1);
	tzset();
}

static const struct stuff_case {
	const char	*in;
	const char	*want;
} stuff_cases[] = {
	{ "", ".\r\n" },
	{ "a\r\n", "a\r\n.\r\n" },
	{ ".\r\n", "..\r\n.\r\n" },
	{ "a\r\n.\r\n..b\r\n.c\r\n", "a\r\n..\r\n...b\r\n..c\r\n.\r\n" },
	{ "a.\r\n b\r\n", "a.\r\n b\r\n.\r\n" },
	{ "no end", "no end\r\n.\r\n" },
};

/* sendmail_dotstuff: a dot doubled at the start of a line, the end marker after. */
static void
test_dotstuff(void)
{
	for (size_t i = 0; i < sizeof(stuff_cases) / sizeof(stuff_cases[0]); i++) {
		const struct stuff_case *c = &stuff_cases[i];
		char ctx[64];
		size_t n;
		char *out = sendmail_dotstuff(c->in, strlen(c->in), &n);

		snprintf(ctx, sizeof(ctx), "dotstuff %zu", i);
		CHECK_MEM(out, n, c->want, strlen(c->want), ctx);
		free(out);
	}
	CHECK(sendmail_has_8bit("abc\r\n", 5) == 0, "7bit");
	CHECK(sendmail_has_8bit("ab\xc3\xa9\r\n", 6) == 1, "8bit");
}

int
main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	test_args();
	test_addrlist();
	test_canon();
	test_prepare();
	test_date_zone();
	test_dotstuff();
	T_DONE();
}

/*
 * test_smtp_parse: the SMTP command-line parsers, as tables of cases.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "smtp_parse.h"
#include "t.h"

#define S(x)	x, sizeof(x) - 1

struct cmd_case {
	const char	*line;
	size_t		 len;
	int		 ret;
	const char	*verb, *args;
};

static const struct cmd_case cmd_cases[] = {
	{ S("EHLO example.org"), 0, "EHLO", "example.org" },
	{ S("ehlo example.org"), 0, "EHLO", "example.org" },
	{ S("MaIl FROM:<a@b>"), 0, "MAIL", "FROM:<a@b>" },
	{ S("QUIT"), 0, "QUIT", "" },
	{ S("NOOP "), 0, "NOOP", "" },
	{ S("RCPT  TO:<a@b>"), 0, "RCPT", " TO:<a@b>" },
	{ S("STARTTLS"), 0, "STARTTLS", "" },
	{ S("ABCDEFGHIJKLMNO"), 0, "ABCDEFGHIJKLMNO", "" },
	{ S("ABCDEFGHIJKLMNOP"), -1, "", "" },
	{ S(""), -1, "", "" },
	{ S(" QUIT"), -1, "", "" },
	{ S("QU1T"), -1, "", "" },
	{ S("MAIL:FROM"), -1, "", "" },
	{ S("QUIT\r"), -1, "", "" },
	{ S("QUIT\n"), -1, "", "" },
	{ S("NOOP a\rb"), -1, "", "" },
	{ S("NOOP a\0b"), -1, "", "" },
	{ S("\0"), -1, "", "" },
	{ S("H\xc3\xa9LO x"), -1, "", "" },
	{ S("\tQUIT"), -1, "", "" },
};

/* smtp_parse_command: verb upper-cased, args past the one space. */
static void
test_command(void)
{
	const struct cmd_case *c;
	char verb[SMTP_VERB_MAX], ctx[64], line[64];
	const char *args;
	size_t i;
	int r;

	for (i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		c = &cmd_cases[i];
		snprintf(ctx, sizeof(ctx), "command %zu", i);
		memcpy(line, c->line, c->len);
		line[c->len] = '\0';
		r = smtp_parse_command(line, c->len, verb, &args);
		CHECK(r == c->ret, "%s: ret %d", ctx, r);
		if (r == 0) {
			CHECK_STR(verb, c->verb, ctx);
			CHECK_STR(args, c->args, ctx);
			CHECK(*args == '\0' || (args > line && args < line + c->len),
			    "%s: args not in line", ctx);
		}
	}
}

struct mail_case {
	const char	*args;
	int		 ret;
	const char	*addr;		/* or the error line when ret is -1 */
	unsigned long long size;
	int		 body8, utf8;
};

static const struct mail_case mail_cases[] = {
	{ "FROM:<a@b.example>", 0, "a@b.example", 0, 0, 0 },
	{ "from:<a@b.example>", 0, "a@b.example", 0, 0, 0 },
	{ "FROM: <a@b.example>", 0, "a@b.example", 0, 0, 0 },
	{ "FROM:<>", 0, "", 0, 0, 0 },
	{ "FROM:<> SIZE=0", 0, "", 0, 0, 0 },
	{ "FROM:<a@b> SIZE=12345", 0, "a@b", 12345, 0, 0 },
	{ "FROM:<a@b> size=12345 body=8bitmime", 0, "a@b", 12345, 1, 0 },
	{ "FROM:<a@b> BODY=7BIT", 0, "a@b", 0, 0, 0 },
	{ "FROM:<a@b> BODY=8BITMIME SMTPUTF8", 0, "a@b", 0, 1, 1 },
	{ "FROM:<a@b> SIZE=99999999999999999999", 0, "a@b", ULLONG_MAX, 0, 0 },
	{ "FROM:<a@b> SIZE=18446744073709551615", 0, "a@b", ULLONG_MAX, 0, 0 },
	{ "FROM:<a@b> SIZE=18446744073709551614", 0, "a@b", ULLONG_MAX - 1, 0, 0 },
	{ "FROM:<a@b> AUTH=<>", 0, "a@b", 0, 0, 0 },
	{ "FROM:<a@b> AUTH=a+2Bb@c", 0, "a@b", 0, 0, 0 },
	{ "FROM:<a@b>  SIZE=1  ", 0, "a@b", 1, 0, 0 },
	{ "FROM:<a@b> ", 0, "a@b", 0, 0, 0 },
	{ "FROM:<@r1.example,@r2.example:a@b>", 0, "a@b", 0, 0, 0 },
	{ "FROM:<@r1.example:a@b>", 0, "a@b", 0, 0, 0 },
	{ "FROM:<\"a b\"@c>", 0, "\"a b\"@c", 0, 0, 0 },
	{ "FROM:<\"a>b\"@c>", 0, "\"a>b\"@c", 0, 0, 0 },
	{ "FROM:<\"a\\\"b\"@c>", 0, "\"a\\\"b\"@c", 0, 0, 0 },
	{ "FROM:<a@[192.0.2.1]>", 0, "a@[192.0.2.1]", 0, 0, 0 },
	{ "FROM:<a@[IPv6:2001:db8::1]>", 0, "a@[IPv6:2001:db8::1]", 0, 0, 0 },
	{ "FROM:<j\xc3\xb6rg@m\xc3\xbcller.example> SMTPUTF8", 0,
	  "j\xc3\xb6rg@m\xc3\xbcller.example", 0, 0, 1 },
	/* syntax */
	{ "", -1, "501 5.5.4 Syntax: MAIL FROM:<address>", 0, 0, 0 },
	{ "FROM", -1, "501 5.5.4 Syntax: MAIL FROM:<address>", 0, 0, 0 },
	{ "TO:<a@b>", -1, "501 5.5.4 Syntax: MAIL FROM:<address>", 0, 0, 0 },
	{ "FROM:a@b", -1, "501 5.5.4 Syntax: MAIL FROM:<address>", 0, 0, 0 },
	{ "FROM:  <a@b>", -1, "501 5.5.4 Syntax: MAIL FROM:<address>", 0, 0, 0 },
	{ "FROM :<a@b>", -1, "501 5.5.4 Syntax: MAIL FROM:<address>", 0, 0, 0 },
	{ "FROM:<a@b>SIZE=1", -1, "501 5.5.4 Syntax: MAIL FROM:<address>", 0, 0, 0 },
	{ "FROM:<>x", -1, "501 5.5.4 Syntax: MAIL FROM:<address>", 0, 0, 0 },
	/* bad addresses */
	{ "FROM:<a@b", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a@>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<@b>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a b@c>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a@b@c>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a..b@c>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<.a@c>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a.@c>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a@-b.c>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a@b-.c>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a@b..c>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a@b.c.>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a@b_c>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a@[300.0.0.1]>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a@[1.2.3]>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a@[IPv6:zz::1]>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a@[x:y]>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<\"a@b>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<@r1.example:>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<@:a@b>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<@r1,r2:a@b>", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a\xff@b> SMTPUTF8", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<a\xc0\xafz@b> SMTPUTF8", -1, "501 5.1.7 Bad sender address syntax", 0, 0, 0 },
	{ "FROM:<j\xc3\xb6rg@example>", -1,
	  "553 5.6.7 Non-ASCII sender address needs SMTPUTF8", 0, 0, 0 },
	/* parameters */
	{ "FROM:<a@b> SIZE", -1, "501 5.5.4 Bad SIZE parameter", 0, 0, 0 },
	{ "FROM:<a@b> SIZE=", -1, "501 5.5.4 Syntax error in parameters", 0, 0, 0 },
	{ "FROM:<a@b> SIZE=12a", -1, "501 5.5.4 Bad SIZE parameter", 0, 0, 0 },
	{ "FROM:<a@b> SIZE=-1", -1, "501 5.5.4 Bad SIZE parameter", 0, 0, 0 },
	{ "FROM:<a@b> SIZE=123456789012345678901", -1, "501 5.5.4 Bad SIZE parameter", 0, 0, 0 },
	{ "FROM:<a@b> SIZE=1 SIZE=2", -1, "501 5.5.4 Duplicate parameter", 0, 0, 0 },
	{ "FROM:<a@b> BODY=BINARYMIME", -1, "555 5.5.4 Unsupported BODY type", 0, 0, 0 },
	{ "FROM:<a@b> BODY", -1, "555 5.5.4 Unsupported BODY type", 0, 0, 0 },
	{ "FROM:<a@b> SMTPUTF8=yes", -1, "501 5.5.4 Syntax error in parameters", 0, 0, 0 },
	{ "FROM:<a@b> RET=HDRS", -1, "555 5.5.4 Unsupported parameter", 0, 0, 0 },
	{ "FROM:<a@b> X-FOO", -1, "555 5.5.4 Unsupported parameter", 0, 0, 0 },
	{ "FROM:<a@b> =1", -1, "501 5.5.4 Syntax error in parameters", 0, 0, 0 },
	{ "FROM:<a@b> SIZE=1=2", -1, "501 5.5.4 Syntax error in parameters", 0, 0, 0 },
	{ "FROM:<a@b> SIZE=1\t", -1, "501 5.5.4 Syntax error in parameters", 0, 0, 0 },
	{ "FROM:<a@b> -X", -1, "501 5.5.4 Syntax error in parameters", 0, 0, 0 },
};

/* smtp_parse_mail: address, parameters and the exact error line. */
static void
test_mail(void)
{
	const struct mail_case *c;
	struct smtp_mail_args ma;
	const char *err;
	char ctx[96];
	size_t i;
	int r;

	for (i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
		c = &mail_cases[i];
		snprintf(ctx, sizeof(ctx), "mail %zu \"%.60s\"", i, c->args);
		err = NULL;
		r = smtp_parse_mail(c->args, &ma, &err);
		CHECK(r == c->ret, "%s: ret %d", ctx, r);
		if (r == 0 && c->ret == 0) {
			CHECK_STR(ma.addr, c->addr, ctx);
			CHECK(ma.size == c->size, "%s: size %llu", ctx, ma.size);
			CHECK(ma.body_8bitmime == c->body8, "%s: body", ctx);
			CHECK(ma.smtputf8 == c->utf8, "%s: smtputf8", ctx);
		} else if (r == -1 && c->ret == -1)
			CHECK_STR(err, c->addr, ctx);
	}
}

struct rcpt_case {
	const char	*args;
	int		 ret;
	const char	*want;		/* address, or the error line */
};

static const struct rcpt_case rcpt_cases[] = {
	{ "TO:<a@b.example>", 0, "a@b.example" },
	{ "to:<A.B+tag@Example.ORG>", 0, "A.B+tag@Example.ORG" },
	{ "TO: <a@b>", 0, "a@b" },
	{ "TO:<a@b> ", 0, "a@b" },
	{ "TO:<@relay.example:a@b>", 0, "a@b" },
	{ "TO:<postmaster@example.org>", 0, "postmaster@example.org" },
	{ "TO:<\"\"@example.org>", 0, "\"\"@example.org" },
	{ "TO:<!#$%&'*+-/=?^_`{|}~@x>", 0, "!#$%&'*+-/=?^_`{|}~@x" },
	{ "TO:<>", -1, "501 5.1.3 Bad recipient address syntax" },
	{ "TO:<postmaster>", -1, "501 5.1.3 Bad recipient address syntax" },
	{ "TO:<Postmaster>", -1, "501 5.1.3 Bad recipient address syntax" },
	{ "TO:<a@b,c@d>", -1, "501 5.1.3 Bad recipient address syntax" },
	{ "TO:<a(b)@c>", -1, "501 5.1.3 Bad recipient address syntax" },
	{ "TO:<a@b> NOTIFY=NEVER", -1, "555 5.5.4 Unsupported parameter" },
	{ "TO:<a@b> ORCPT=rfc822;a@b", -1, "555 5.5.4 Unsupported parameter" },
	{ "TO:<a@b> =", -1, "501 5.5.4 Syntax error in parameters" },
	{ "TO:a@b", -1, "501 5.5.4 Syntax: RCPT TO:<address>" },
	{ "FROM:<a@b>", -1, "501 5.5.4 Syntax: RCPT TO:<address>" },
	{ "TO:<a@b>x", -1, "501 5.5.4 Syntax: RCPT TO:<address>" },
	{ "", -1, "501 5.5.4 Syntax: RCPT TO:<address>" },
};

/* smtp_parse_rcpt: address or exact error line. */
static void
test_rcpt(void)
{
	const struct rcpt_case *c;
	char addr[SMTP_PATH_MAX], ctx[96];
	const char *err;
	size_t i;
	int r;

	for (i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++) {
		c = &rcpt_cases[i];
		snprintf(ctx, sizeof(ctx), "rcpt %zu \"%s\"", i, c->args);
		err = NULL;
		r = smtp_parse_rcpt(c->args, addr, &err);
		CHECK(r == c->ret, "%s: ret %d", ctx, r);
		if (r == 0 && c->ret == 0)
			CHECK_STR(addr, c->want, ctx);
		else if (r == -1 && c->ret == -1)
			CHECK_STR(err, c->want, ctx);
	}
}

struct mailbox_case {
	const char	*s;
	size_t		 len;
	int		 ok;
};

static const struct mailbox_case mailbox_cases[] = {
	{ S("a@b"), 1 },
	{ S("first.last@sub.example.org"), 1 },
	{ S("a@localhost"), 1 },
	{ S("a@123.example"), 1 },
	{ S("a@x-y.z"), 1 },
	{ S("\"a..b\"@c"), 1 },
	{ S("\"a@b\"@c"), 1 },
	{ S("\"a\\\\b\"@c"), 1 },
	{ S("\"\"@c"), 1 },
	{ S("a@[127.0.0.1]"), 1 },
	{ S("a@[001.2.3.4]"), 1 },
	{ S("a@[IPv6:::1]"), 1 },
	{ S("a@[ipv6:::ffff:192.0.2.1]"), 1 },
	{ S("\xd0\xb8\xd0\xbc\xd1\x8f@\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd1\x80\xd1\x84"), 1 },
	{ S("\"\xc3\xa9 x\"@c"), 1 },
	{ S(""), 0 },
	{ S("@"), 0 },
	{ S("a@"), 0 },
	{ S("@b"), 0 },
	{ S("ab"), 0 },
	{ S("a@b\0"), 0 },
	{ S("a\0@b"), 0 },
	{ S("a@b c"), 0 },
	{ S("\"a\"b@c"), 0 },
	{ S("\"a@c"), 0 },
	{ S("\"a\\\"@c"), 0 },
	{ S("\"a\x01\"@c"), 0 },
	{ S("\"a\\\x01\"@c"), 0 },
	{ S("a\x7f@c"), 0 },
	{ S("a@[127.0.0.1"), 0 },
	{ S("a@[1.2.3.4.5]"), 0 },
	{ S("a@[1.2.3.1234]"), 0 },
	{ S("a@[]"), 0 },
	{ S("a@[IPv6:1.2.3.4]"), 0 },
	{ S("a@[127.0.0.1]x"), 0 },
	{ S("a@b.[1.2.3.4]"), 0 },
	{ S("a@-"), 0 },
	{ S("a@.b"), 0 },
	{ S("a@\xed\xa0\x80.x"), 0 },		/* a surrogate */
	{ S("a@\xc3"), 0 },
	{ S("\xf4\x90\x80\x80@x"), 0 },		/* above U+10FFFF */
	{ S("\xe0\x80\xaf@x"), 0 },		/* overlong */
};

/* Lengths at the RFC 5321 4.5.3.1 limits. */
static void
test_mailbox_limits(void)
{
	char buf[600];
	size_t n;

	memset(buf, 'l', 64);
	memcpy(buf + 64, "@b", 2);
	CHECK(smtp_parse_mailbox(buf, 66) == 1, "local 64");
	memset(buf, 'l', 65);
	memcpy(buf + 65, "@b", 2);
	CHECK(smtp_parse_mailbox(buf, 67) == 0, "local 65");

	/* labels of 63 octets are fine, 64 is not */
	memcpy(buf, "a@", 2);
	memset(buf + 2, 'd', 63);
	CHECK(smtp_parse_mailbox(buf, 65) == 1, "label 63");
	memset(buf + 2, 'd', 64);
	CHECK(smtp_parse_mailbox(buf, 66) == 0, "label 64");

	/* a domain of 255 octets is fine, 256 is not */
	for (n = 2; n < 2 + 256; n++)
		buf[n] = (n - 2) % 50 == 49 ? '.' : 'd';
	CHECK(smtp_parse_mailbox(buf, 2 + 255) == 1, "domain 255");
	CHECK(smtp_parse_mailbox(buf, 2 + 256) == 0, "domain 256");
}

/* The path, "<" ">" included, is at most SMTP_PATH_MAX octets. */
static void
test_path_limits(void)
{
	struct smtp_mail_args ma;
	char args[600], addr[SMTP_PATH_MAX];
	const char *err = NULL;
	size_t n;

	/* FROM:< + 60 local + @ + domain + > */
	for (n = 0; n < 400; n++)
		args[n] = 'd';
	memcpy(args, "FROM:<", 6);
	args[6 + 60] = '@';
	for (n = 6 + 61 + 50; n < 6 + 254; n += 50)
		args[n] = '.';
	args[6 + 254] = '>';
	args[6 + 255] = '\0';
	CHECK(smtp_parse_mail(args, &ma, &err) == 0, "path 256: %s", err);
	CHECK(strlen(ma.addr) == 254, "path 256: addr %zu", strlen(ma.addr));

	args[6 + 254] = 'd';
	args[6 + 255] = '>';
	args[6 + 256] = '\0';
	CHECK(smtp_parse_mail(args, &ma, &err) == -1, "path 257");
	CHECK_STR(err, "501 5.1.7 Sender address too long", "path 257");

	memmove(args + 3, args + 5, strlen(args + 5) + 1);
	memcpy(args, "TO:", 3);
	CHECK(smtp_parse_rcpt(args, addr, &err) == -1, "rcpt path 257");
	CHECK_STR(err, "501 5.1.3 Recipient address too long", "rcpt path 257");
}

static void
test_mailbox(void)
{
	const struct mailbox_case *c;
	size_t i;
	int r;

	for (i = 0; i < sizeof(mailbox_cases) / sizeof(mailbox_cases[0]); i++) {
		c = &mailbox_cases[i];
		r = smtp_parse_mailbox(c->s, c->len);
		CHECK(r == c->ok, "mailbox %zu \"%.*s\": %d", i, (int)c->len, c->s, r);
	}
}

int
main(void)
{
	test_command();
	test_mail();
	test_rcpt();
	test_mailbox();
	test_mailbox_limits();
	test_path_limits();
	T_DONE();
}

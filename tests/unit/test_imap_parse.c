/*
 * test_imap_parse: IMAP response framing and parsing, as tables of cases.
 */
#include <stdio.h>
#include <string.h>

#include "imap_parse.h"
#include "t.h"

#define S(x)	x, sizeof(x) - 1
/* A response that must be refused (the other fields are not looked at). */
#define BAD(x)	{ S(x), -1, IMAP_TAGGED, "", IMAP_ST_NONE, "", "", "", "", -1, 0, NULL }

/* imap_parse_literal: "{n}" at the end of a line. */
static const struct literal_case {
	const char	*line;
	size_t		 len;
	int		 ret;
	uint64_t	 n;
} literal_cases[] = {
	{ S("* 1 FETCH (BODY[] {12}"), 1, 12 },
	{ S("* 1 FETCH (BODY[] {0}"), 1, 0 },
	{ S("A1 LOGIN {5+}"), 1, 5 },
	{ S("{3}"), 1, 3 },
	{ S("* OK done"), 0, 0 },
	{ S("* OK }"), 0, 0 },
	{ S("* OK {}"), -1, 0 },
	{ S("* OK {x}"), 0, 0 },
	{ S("* OK 12}"), 0, 0 },
	{ S("* OK {99999999999}"), -1, 0 },
	{ S("* OK {67108865}"), -1, 0 },
	{ S("* OK {67108864}"), 1, 67108864 },
	{ S(""), 0, 0 },
	{ S("}"), 0, 0 },
};

/* imap_parse_frame: where the first response ends. */
static const struct frame_case {
	const char	*buf;
	size_t		 len;
	size_t		 max;
	long		 ret;
} frame_cases[] = {
	{ S("* OK hi\r\n"), 100, 9 },
	{ S("* OK hi\r\nA1 OK\r\n"), 100, 9 },
	{ S("* OK hi\n"), 100, 8 },
	{ S("* OK hi"), 100, 0 },
	{ S(""), 100, 0 },
	{ S("* 1 FETCH (BODY[] {5}\r\nab\r\nc)\r\n"), 100, 31 },
	{ S("* 1 FETCH (BODY[] {5}\r\nab\r\nc)\r\nA1 OK\r\n"), 100, 31 },
	{ S("* 1 FETCH (BODY[] {5}\r\nab\r\n"), 100, 0 },
	{ S("* 1 FETCH (BODY[] {5}\r\nab\r\nc)"), 100, 0 },
	{ S("* 1 FETCH (A {1}\r\nx B {2}\r\nyz)\r\n"), 100, 32 },
	{ S("* 1 FETCH (BODY[] {500}\r\n"), 100, -1 },
	{ S("* 1 FETCH (BODY[] {99999999999}\r\n"), 100, -1 },
	{ S("* OK a very long line without an end"), 10, -1 },
	{ S("* OK a line that is too long\r\n"), 10, -1 },
	{ S("* 1 FETCH (BODY[] {0}\r\n)\r\n"), 100, 26 },
};

/* imap_parse_response: what a response says. */
static const struct resp_case {
	const char	*buf;
	size_t		 len;
	int		 ret;
	enum imap_kind	 kind;
	const char	*tag;
	enum imap_status status;
	const char	*keyword;
	const char	*code, *code_arg, *text;
	long		 number;	/* -1: none */
	unsigned	 uid;
	const char	*body;		/* NULL: no body */
} resp_cases[] = {
	{ S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] Dovecot ready.\r\n"), 0,
	  IMAP_UNTAGGED, "", IMAP_ST_OK, "OK", "CAPABILITY", "IMAP4rev1 SASL-IR AUTH=PLAIN",
	  "Dovecot ready.", -1, 0, NULL },
	{ S("* OK [UIDVALIDITY 1700000000] UIDs valid\r\n"), 0, IMAP_UNTAGGED, "",
	  IMAP_ST_OK, "OK", "UIDVALIDITY", "1700000000", "UIDs valid", -1, 0, NULL },
	{ S("* OK [UIDNEXT 7] Predicted next UID\r\n"), 0, IMAP_UNTAGGED, "", IMAP_ST_OK,
	  "OK", "UIDNEXT", "7", "Predicted next UID", -1, 0, NULL },
	{ S("A1 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n"), 0,
	  IMAP_TAGGED, "A1", IMAP_ST_OK, "OK", "READ-WRITE", "",
	  "Select completed (0.001 + 0.000 secs).", -1, 0, NULL },
	{ S("A2 NO [TRYCREATE] Mailbox doesn't exist: Bounces\r\n"), 0, IMAP_TAGGED, "A2",
	  IMAP_ST_NO, "NO", "TRYCREATE", "", "Mailbox doesn't exist: Bounces", -1, 0, NULL },
	{ S("A3 BAD Error in IMAP command\r\n"), 0, IMAP_TAGGED, "A3", IMAP_ST_BAD, "BAD",
	  "", "", "Error in IMAP command", -1, 0, NULL },
	{ S("a4 ok done\r\n"), 0, IMAP_TAGGED, "a4", IMAP_ST_OK, "OK", "", "", "done", -1, 0,
	  NULL },
	{ S("A5 OK\r\n"), 0, IMAP_TAGGED, "A5", IMAP_ST_OK, "OK", "", "", "", -1, 0, NULL },
	{ S("A6 OK\n"), 0, IMAP_TAGGED, "A6", IMAP_ST_OK, "OK", "", "", "", -1, 0, NULL },
	{ S("A7 OK [ALERT]\r\n"), 0, IMAP_TAGGED, "A7", IMAP_ST_OK, "OK", "ALERT", "", "",
	  -1, 0, NULL },
	{ S("* BYE Server shutting down.\r\n"), 0, IMAP_UNTAGGED, "", IMAP_ST_BYE, "BYE",
	  "", "", "Server shutting down.", -1, 0, NULL },
	{ S("* PREAUTH ready\r\n"), 0, IMAP_UNTAGGED, "", IMAP_ST_PREAUTH, "PREAUTH", "", "",
	  "ready", -1, 0, NULL },
	{ S("* 23 EXISTS\r\n"), 0, IMAP_UNTAGGED, "", IMAP_ST_NONE, "EXISTS", "", "", "", 23,
	  0, NULL },
	{ S("* 0 RECENT\r\n"), 0, IMAP_UNTAGGED, "", IMAP_ST_NONE, "RECENT", "", "", "", 0, 0,
	  NULL },
	{ S("* 4 EXPUNGE\r\n"), 0, IMAP_UNTAGGED, "", IMAP_ST_NONE, "EXPUNGE", "", "", "", 4,
	  0, NULL },
	{ S("* CAPABILITY IMAP4rev1 IDLE MOVE\r\n"), 0, IMAP_UNTAGGED, "", IMAP_ST_NONE,
	  "CAPABILITY", "", "", "", -1, 0, NULL },
	{ S("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"), 0,
	  IMAP_UNTAGGED, "", IMAP_ST_NONE, "FLAGS", "", "", "", -1, 0, NULL },
	{ S("+ idling\r\n"), 0, IMAP_CONTINUE, "", IMAP_ST_NONE, "", "", "", "idling", -1, 0,
	  NULL },
	{ S("+\r\n"), 0, IMAP_CONTINUE, "", IMAP_ST_NONE, "", "", "", "", -1, 0, NULL },
	{ S("+ \r\n"), 0, IMAP_CONTINUE, "", IMAP_ST_NONE, "", "", "", "", -1, 0, NULL },
	/* FETCH: UID and the body, in either order, with other attributes around. */
	{ S("* 1 FETCH (UID 7 BODY[] {11}\r\nFrom: a\r\n\r\n)\r\n"), 0, IMAP_UNTAGGED, "",
	  IMAP_ST_NONE, "FETCH", "", "", "", 1, 7, "From: a\r\n\r\n" },
	{ S("* 2 FETCH (BODY[] {3}\r\nabc UID 9)\r\n"), 0, IMAP_UNTAGGED, "", IMAP_ST_NONE,
	  "FETCH", "", "", "", 2, 9, "abc" },
	{ S("* 2 FETCH (FLAGS (\\Seen \\Recent) UID 9 RFC822.SIZE 44 "
	    "INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" BODY[]<0> \"x\\\"y\")\r\n"), 0,
	  IMAP_UNTAGGED, "", IMAP_ST_NONE, "FETCH", "", "", "", 2, 9, "x\\\"y" },
	{ S("* 3 FETCH (UID 10 BODY[HEADER.FIELDS (FROM TO)] {4}\r\nab\r\n)\r\n"), 0,
	  IMAP_UNTAGGED, "", IMAP_ST_NONE, "FETCH", "", "", "", 3, 10, NULL },
	{ S("* 3 FETCH (UID 10 BODY[] NIL)\r\n"), 0, IMAP_UNTAGGED, "", IMAP_ST_NONE, "FETCH",
	  "", "", "", 3, 10, "" },
	{ S("* 3 FETCH (UID 10 RFC822 {2}\r\nhi)\r\n"), 0, IMAP_UNTAGGED, "", IMAP_ST_NONE,
	  "FETCH", "", "", "", 3, 10, "hi" },
	{ S("* 3 FETCH (FLAGS (\\Seen))\r\n"), 0, IMAP_UNTAGGED, "", IMAP_ST_NONE, "FETCH",
	  "", "", "", 3, 0, NULL },
	{ S("* 3 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" NIL NIL NIL \"7bit\" 3 1) "
	    "\"mixed\") UID 5)\r\n"), 0, IMAP_UNTAGGED, "", IMAP_ST_NONE, "FETCH", "", "", "",
	  3, 5, NULL },
	/* Malformed. */
	BAD("\r\n"),
	BAD(""),
	BAD("*"),
	BAD("* \r\n"),
	BAD("A1\r\n"),
	BAD("A1  OK\r\n"),
	BAD("A1 PREAUTH hi\r\n"),
	BAD("A1 BYE hi\r\n"),
	BAD("A1 EXISTS\r\n"),
	BAD("A+1 OK\r\n"),
	BAD("(A1 OK\r\n"),
	BAD("A1 OK [ALERT\r\n"),
	BAD("A1 OK [] x\r\n"),
	BAD("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA OK\r\n"),
	BAD("* 99999999999 EXISTS\r\n"),
	BAD("* 1 FETCH UID 3\r\n"),
	BAD("* 1 FETCH (UID 0)\r\n"),
	BAD("* 1 FETCH (UID x)\r\n"),
	BAD("* 1 FETCH (UID 3\r\n"),
	BAD("* 1 FETCH (UID 3) trailing\r\n"),
	BAD("* 1 FETCH (BODY[] {9}\r\nabc)\r\n"),
	BAD("* 1 FETCH (BODY[] \"abc)\r\n"),
	BAD("* 1 FETCH (BODY[ {3}\r\nabc)\r\n"),
	BAD("* 1 FETCH (BODY[]<x> \"a\")\r\n"),
	BAD("* 1 FETCH (X ((((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))))"
	    ")\r\n"),
	BAD("* 1 FETCH (UID)\r\n"),
};

static void
test_literal(void)
{
	char ctx[64];

	for (size_t i = 0; i < sizeof(literal_cases) / sizeof(literal_cases[0]); i++) {
		const struct literal_case *c = &literal_cases[i];
		uint64_t n = 0;
		int r = imap_parse_literal(c->line, c->len, &n);

		snprintf(ctx, sizeof(ctx), "literal %zu", i);
		CHECK(r == c->ret, "%s: ret %d, want %d", ctx, r, c->ret);
		if (r == 1)
			CHECK(n == c->n, "%s: n %llu, want %llu", ctx, (unsigned long long)n,
			    (unsigned long long)c->n);
	}
}

static void
test_frame(void)
{
	for (size_t i = 0; i < sizeof(frame_cases) / sizeof(frame_cases[0]); i++) {
		const struct frame_case *c = &frame_cases[i];
		long r = (long)imap_parse_frame(c->buf, c->len, c->max);

		CHECK(r == c->ret, "frame %zu: ret %ld, want %ld", i, r, c->ret);
	}
}

/* span_is: does the span hold exactly want? */
static int
span_is(const struct imap_span *s, const char *want)
{
	return s->len == strlen(want) && (s->len == 0 || memcmp(s->p, want, s->len) == 0);
}

static void
test_response(void)
{
	char ctx[64];

	for (size_t i = 0; i < sizeof(resp_cases) / sizeof(resp_cases[0]); i++) {
		const struct resp_case *c = &resp_cases[i];
		struct imap_response r;
		int ret = imap_parse_response(c->buf, c->len, &r);

		snprintf(ctx, sizeof(ctx), "response %zu", i);
		CHECK(ret == c->ret, "%s: ret %d, want %d (%.*s)", ctx, ret, c->ret,
		    (int)c->len, c->buf);
		if (ret != 0 || c->ret != 0)
			continue;
		CHECK(r.kind == c->kind, "%s: kind %d", ctx, (int)r.kind);
		CHECK_STR(r.tag, c->tag, ctx);
		CHECK(r.status == c->status, "%s: status %d", ctx, (int)r.status);
		CHECK_STR(r.keyword, c->keyword, ctx);
		CHECK_STR(r.code, c->code, ctx);
		CHECK(span_is(&r.code_arg, c->code_arg), "%s: code_arg \"%.*s\"", ctx,
		    (int)r.code_arg.len, r.code_arg.p ? r.code_arg.p : "");
		CHECK(span_is(&r.text, c->text), "%s: text \"%.*s\"", ctx, (int)r.text.len,
		    r.text.p ? r.text.p : "");
		CHECK(r.has_number == (c->number >= 0) && (c->number < 0 ||
		    r.number == (uint32_t)c->number), "%s: number %u", ctx, r.number);
		CHECK(r.uid == c->uid, "%s: uid %u, want %u", ctx, r.uid, c->uid);
		CHECK(r.has_body == (c->body != NULL), "%s: has_body %d", ctx, r.has_body);
		if (c->body != NULL && r.has_body)
			CHECK(span_is(&r.body, c->body), "%s: body \"%.*s\"", ctx,
			    (int)r.body.len, r.body.p ? r.body.p : "");
	}
}

/* imap_parse_has_cap over a capability list. */
static const struct cap_case {
	const char	*caps, *cap;
	int		 ret;
} cap_cases[] = {
	{ "IMAP4rev1 SASL-IR IDLE AUTH=PLAIN", "IDLE", 1 },
	{ "IMAP4rev1 SASL-IR IDLE AUTH=PLAIN", "idle", 1 },
	{ "IMAP4rev1 SASL-IR IDLE AUTH=PLAIN", "AUTH=PLAIN", 1 },
	{ "IMAP4rev1 SASL-IR IDLE AUTH=PLAIN", "IMAP4rev1", 1 },
	{ "IMAP4rev1 SASL-IR IDLE AUTH=PLAIN", "AUTH", 0 },
	{ "IMAP4rev1 SASL-IR IDLE AUTH=PLAINX", "AUTH=PLAIN", 0 },
	{ "IMAP4rev1 IDLEX", "IDLE", 0 },
	{ "", "IDLE", 0 },
	{ "MOVE", "MOVE", 1 },
};

static void
test_caps(void)
{
	for (size_t i = 0; i < sizeof(cap_cases) / sizeof(cap_cases[0]); i++) {
		const struct cap_case *c = &cap_cases[i];
		struct imap_span s = { c->caps, strlen(c->caps) };

		CHECK(imap_parse_has_cap(&s, c->cap) == c->ret, "cap %zu: %s in \"%s\"", i,
		    c->cap, c->caps);
	}
}

int
main(void)
{
	test_literal();
	test_frame();
	test_response();
	test_caps();
	CHECK_STR(imap_parse_status_name(IMAP_ST_BYE), "BYE", "status name");
	CHECK_STR(imap_parse_status_name(IMAP_ST_NONE), "", "status name none");
	T_DONE();
}

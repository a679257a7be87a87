/*
 * test_rewrite: the header scan and the header rewrite, as tables of cases.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite.h"
#include "t.h"

#define S(x)	x, sizeof(x) - 1
#define ACCT	"acct@mail.example"
#define ENV	"env@app.example"
#define MID	"<new.1@relay.example>"
#define RT_ENV	"Reply-To: <" ENV ">\r\n"
#define NEWMID	"Message-ID: " MID "\r\n"

struct scan_case {
	const char	*buf;
	size_t		 len;
	size_t		 header_len;
	int		 complete;
	const char	*message_id, *from_addr;
};

static const struct scan_case scan_cases[] = {
	{ S("Subject: x\r\n\r\nbody"), 14, 1, "", "" },
	{ S("Subject: x\r\nFrom: A <a@b>\r\n\r\n"), 29, 1, "", "a@b" },
	{ S("Subject: x\r\n"), 12, 0, "", "" },
	{ S("Subject: x"), 10, 0, "", "" },
	{ S("Subject: x\r\n\r"), 13, 0, "", "" },
	{ S("Subject: x\r\n continued\r\n"), 24, 0, "", "" },
	{ S(""), 0, 0, "", "" },
	/* no header block: an empty first line is the whole (empty) block */
	{ S("\r\nbody\r\n"), 2, 1, "", "" },
	{ S("hello world\r\n"), 0, 1, "", "" },
	{ S(" continued\r\n\r\n"), 0, 1, "", "" },
	{ S(": no name\r\n\r\n"), 0, 1, "", "" },
	{ S("From sender@x Mon Jan 1\r\n"), 0, 1, "", "" },
	/* a line that is not a field ends the block, which then lacks the empty line */
	{ S("Subject: x\r\nnot a header\r\n\r\n"), 12, 1, "", "" },
	{ S("Subject: x\r\n\xd0\xb9: y\r\n\r\n"), 12, 1, "", "" },
	/* an unfinished last line: decided as soon as it cannot be a field */
	{ S("Subject: x\r\n\rx"), 12, 1, "", "" },	/* fuzz_rewrite crash */
	{ S("Subject: x\r\nnot a"), 12, 1, "", "" },
	{ S("Subject: x\r\n\xff"), 12, 1, "", "" },
	{ S("Subject: x\r\n:"), 12, 1, "", "" },
	{ S("Subject: x\r\nX-Long-Name"), 23, 0, "", "" },
	{ S("Subject: x\r\nX-Name \t"), 20, 0, "", "" },
	{ S("Subject: x\r\nX: partial"), 22, 0, "", "" },
	/* Message-ID */
	{ S("Message-ID: <abc@def>\r\n\r\n"), 25, 1, "<abc@def>", "" },
	{ S("message-id:\r\n  <abc@def> \r\n\r\n"), 29, 1, "<abc@def>", "" },
	{ S("Message-Id: <a\r\n b@c>\r\n\r\n"), 25, 1, "<a b@c>", "" },
	{ S("Message-ID: (c) <x@y> (d)\r\n\r\n"), 29, 1, "<x@y>", "" },
	{ S("Message-ID: abc\r\n\r\n"), 19, 1, "abc", "" },
	{ S("Message-ID: <1@a>\r\nMessage-ID: <2@a>\r\n\r\n"), 40, 1, "<1@a>", "" },
	{ S("Message-ID: <a@b>\r\n"), 19, 0, "", "" },	/* may continue */
	/* From: address */
	{ S("From: \"N, M\" <a@b.example>\r\n\r\n"), 30, 1, "", "a@b.example" },
	{ S("FROM: a@b (Name)\r\n\r\n"), 20, 1, "", "a@b" },
	{ S("From: =?UTF-8?B?0JjQstCw0L0=?= <i@b>\r\n\r\n"), 40, 1, "", "i@b" },
	{ S("From: x@y, z@w\r\n\r\n"), 18, 1, "", "x@y" },
	{ S("From: Undisclosed:;\r\n\r\n"), 23, 1, "", "" },
	{ S("From: garbage\r\n\r\n"), 17, 1, "", "" },
	{ S("From: garbage\r\nFrom: a@b\r\n\r\n"), 28, 1, "", "" },
	{ S("From : <a@[1.2.3.4]>\r\n\r\n"), 24, 1, "", "a@[1.2.3.4]" },
	{ S("From: \"a\r\n b\"@c\r\n\r\n"), 19, 1, "", "" },
	{ S("From: <\"q x\"@c>\r\n\r\n"), 19, 1, "", "\"q x\"@c" },
};

/* rewrite_scan on every case, and on every prefix of it (never past the end). */
static void
test_scan(void)
{
	const struct scan_case *c;
	struct rewrite_info ri;
	char ctx[96], *buf;
	size_t i, k;

	for (i = 0; i < sizeof(scan_cases) / sizeof(scan_cases[0]); i++) {
		c = &scan_cases[i];
		snprintf(ctx, sizeof(ctx), "scan %zu", i);
		buf = malloc(c->len + 1);
		memcpy(buf, c->buf, c->len);
		CHECK(rewrite_scan(buf, c->len, &ri) == 0, "%s", ctx);
		CHECK(ri.header_len == c->header_len, "%s: header_len %zu, want %zu",
		    ctx, ri.header_len, c->header_len);
		CHECK(ri.complete == c->complete, "%s: complete %d", ctx,
		    ri.complete);
		CHECK_STR(ri.message_id, c->message_id, ctx);
		CHECK_STR(ri.from_addr, c->from_addr, ctx);
		for (k = 0; k < c->len; k++) {
			rewrite_scan(buf, k, &ri);
			CHECK(ri.header_len <= k, "%s: prefix %zu: header_len %zu",
			    ctx, k, ri.header_len);
			CHECK(ri.complete || ri.header_len == k, "%s: prefix %zu",
			    ctx, k);
		}
		free(buf);
	}
}

struct rw_case {
	const char	*hdr;
	size_t		 hdrlen;
	const char	*env;
	const char	*want;
};

static const struct rw_case rw_cases[] = {
	/* the From: forms */
	{ S("From: Name <app@x.example>\r\nTo: t@y\r\nSubject: s\r\n\r\n"), ENV,
	  "From: Name <" ACCT ">\r\nTo: t@y\r\nSubject: s\r\n"
	  "Reply-To: <app@x.example>\r\n" NEWMID "\r\n" },
	{ S("From: \"Quoted, Name\" <app@x>\r\n\r\n"), ENV,
	  "From: \"Quoted, Name\" <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	{ S("From: app@x\r\n\r\n"), ENV,
	  "From: <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	{ S("From: <app@x>\r\n\r\n"), ENV,
	  "From: <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	{ S("From: app@x (Comment Name)\r\n\r\n"), ENV,
	  "From: Comment Name <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	{ S("From: app@x (Smith, John)\r\n\r\n"), ENV,
	  "From: \"Smith, John\" <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	{ S("From: app@x (a \"b\" \\) c)\r\n\r\n"), ENV,
	  "From: \"a \\\"b\\\" \\) c\" <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID
	  "\r\n" },
	{ S("From: (Lead Name) app@x\r\n\r\n"), ENV,
	  "From: Lead Name <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	{ S("From: app@x ()\r\n\r\n"), ENV,
	  "From: <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	{ S("From: =?UTF-8?B?0JjQstCw0L0=?= <app@x>\r\n\r\n"), ENV,
	  "From: =?UTF-8?B?0JjQstCw0L0=?= <" ACCT ">\r\nReply-To: <app@x>\r\n"
	  NEWMID "\r\n" },
	{ S("From: John Q. Public <app@x>\r\n\r\n"), ENV,
	  "From: John Q. Public <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	{ S("From:Name<app@x>\r\n\r\n"), ENV,
	  "From: Name <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	{ S("From: Very Long\r\n\tName <app@x>\r\n\r\n"), ENV,
	  "From: Very Long\r\n\tName <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID
	  "\r\n" },
	{ S("From: Name\r\n <app@x>\r\nTo: t\r\n\r\n"), ENV,
	  "From: Name <" ACCT ">\r\nTo: t\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	{ S("From: app@x, other@y\r\n\r\n"), ENV,
	  "From: <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	{ S("From: A <app@x>, B <other@y>\r\n\r\n"), ENV,
	  "From: A <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	{ S("From: <\"q x\"@x>\r\n\r\n"), ENV,
	  "From: <" ACCT ">\r\nReply-To: <\"q x\"@x>\r\n" NEWMID "\r\n" },
	{ S("From: Ivan <\xd0\xb8@x>\r\n\r\n"), ENV,
	  "From: Ivan <" ACCT ">\r\nReply-To: <\xd0\xb8@x>\r\n" NEWMID "\r\n" },
	/* groups and garbage: replaced whole, the envelope sender is the app's */
	{ S("From: Team: a@x, b@y;\r\n\r\n"), ENV,
	  "From: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("From: Undisclosed recipients:;\r\n\r\n"), ENV,
	  "From: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("From: not an address\r\n\r\n"), ENV,
	  "From: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("From: Name <app@x> trailing\r\n\r\n"), ENV,
	  "From: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("From: Name <app@x\r\n\r\n"), ENV,
	  "From: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("From: app@x (unterminated\r\n\r\n"), ENV,
	  "From: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("From: \"unterminated <app@x>\r\n\r\n"), ENV,
	  "From: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("From:\r\n\r\n"), ENV,
	  "From: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("From: <>\r\n\r\n"), ENV,
	  "From: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("From: a\0b <app@x>\r\n\r\n"), ENV,
	  "From: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("From: \"a\r\n b\"@x\r\n\r\n"), ENV,
	  "From: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	/* missing From: */
	{ S("Subject: s\r\n\r\n"), ENV,
	  "Subject: s\r\nFrom: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("Subject: s\r\n\r\n"), "",
	  "Subject: s\r\nFrom: <" ACCT ">\r\n" NEWMID "\r\n" },
	{ "", 0, ENV, "From: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("\r\n"), ENV, "From: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	/* Reply-To: not added when there is one, or when it would be the account */
	{ S("From: A <app@x>\r\nReply-To: r@y\r\n\r\n"), ENV,
	  "From: A <" ACCT ">\r\nReply-To: r@y\r\n" NEWMID "\r\n" },
	{ S("REPLY-TO: r@y\r\n\r\n"), ENV,
	  "REPLY-TO: r@y\r\nFrom: <" ACCT ">\r\n" NEWMID "\r\n" },
	{ S("From: A <Acct@Mail.EXAMPLE>\r\n\r\n"), ENV,
	  "From: A <" ACCT ">\r\n" NEWMID "\r\n" },
	{ S("From: garbage\r\n\r\n"), "ACCT@mail.example",
	  "From: <" ACCT ">\r\n" NEWMID "\r\n" },
	{ S("Subject: s\r\n\r\n"), ACCT, "Subject: s\r\nFrom: <" ACCT ">\r\n" NEWMID "\r\n" },
	{ S("From: A <app@x>\r\n\r\n"), "",
	  "From: A <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	/* Sender: and Return-Path: go, folded lines with them */
	{ S("Return-Path: <b@c>\r\nFrom: A <app@x>\r\nSender: s@y\r\nTo: t\r\n\r\n"),
	  ENV, "From: A <" ACCT ">\r\nTo: t\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	{ S("To: t\r\nsender: Long\r\n <s@y>\r\n\t(c)\r\nX: 1\r\n\r\n"), ENV,
	  "To: t\r\nX: 1\r\nFrom: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("RETURN-PATH:\r\n <b@c>\r\nSubject: s\r\n\r\n"), ENV,
	  "Subject: s\r\nFrom: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("X-Sender: k\r\nSenders: k\r\nResent-From: k@l\r\nX-From: k\r\n\r\n"), ENV,
	  "X-Sender: k\r\nSenders: k\r\nResent-From: k@l\r\nX-From: k\r\n"
	  "From: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	/* Message-ID: kept when present */
	{ S("Message-ID: <old@x>\r\nFrom: app@x\r\n\r\n"), ENV,
	  "Message-ID: <old@x>\r\nFrom: <" ACCT ">\r\nReply-To: <app@x>\r\n\r\n" },
	{ S("message-id:\r\n <old@x>\r\n\r\n"), ENV,
	  "message-id:\r\n <old@x>\r\nFrom: <" ACCT ">\r\n" RT_ENV "\r\n" },
	/* one From: only, the first */
	{ S("From: A <app@x>\r\nfrom: B <other@y>\r\n\r\n"), ENV,
	  "From: A <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	/* obs-optional: WSP before the colon */
	{ S("From : A <app@x>\r\nSender\t: s\r\n\r\n"), ENV,
	  "From: A <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	/* other octets stay exactly as they were */
	{ S("Subject: =?UTF-8?Q?x?=\r\n  folded\r\nX-Bin: \xff\x01\r\n\r\n"), ENV,
	  "Subject: =?UTF-8?Q?x?=\r\n  folded\r\nX-Bin: \xff\x01\r\n"
	  "From: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("Subject: s\nX: y\n\n"), ENV,
	  "Subject: s\nX: y\nFrom: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	/* a block without its empty line (ended by a non-field, or cut short) */
	{ S("Subject: s\r\n"), ENV,
	  "Subject: s\r\nFrom: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("Subject: s"), ENV,
	  "Subject: s\r\nFrom: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
	{ S("From: A <app@x>"), ENV,
	  "From: A <" ACCT ">\r\nReply-To: <app@x>\r\n" NEWMID "\r\n" },
	/* lines that are not fields, given anyway, are kept (fuzz_rewrite crash) */
	{ S("From: Team: a@x, b@y;\r\nX: 1\r\n\rx"), ENV,
	  "From: <" ACCT ">\r\nX: 1\r\n\rx\r\n" RT_ENV NEWMID "\r\n" },
	{ S("X: y\r\n\r\nafter\r\n"), ENV,
	  "X: y\r\nFrom: <" ACCT ">\r\n" RT_ENV NEWMID "\r\n" },
};

/* rewrite_headers on every case. */
static void
test_rewrite(void)
{
	const struct rw_case *c;
	char ctx[32], *out, *hdr;
	size_t i, outlen;

	for (i = 0; i < sizeof(rw_cases) / sizeof(rw_cases[0]); i++) {
		c = &rw_cases[i];
		snprintf(ctx, sizeof(ctx), "rewrite %zu", i);
		hdr = malloc(c->hdrlen + 1);	/* exact: overreads show */
		memcpy(hdr, c->hdr, c->hdrlen);
		out = NULL;
		CHECK(rewrite_headers(hdr, c->hdrlen, ACCT, c->env, MID, &out,
		    &outlen) == 0, "%s", ctx);
		CHECK_MEM(out, outlen, c->want, strlen(c->want), ctx);
		free(out);
		free(hdr);
	}
}

/* The Message-ID argument: brackets added when missing; none given, none added. */
static void
test_msgid_arg(void)
{
	static const struct {
		const char *mid, *want;
	} cases[] = {
		{ "<a@b>", "From: <" ACCT ">\r\nMessage-ID: <a@b>\r\n\r\n" },
		{ "a@b", "From: <" ACCT ">\r\nMessage-ID: <a@b>\r\n\r\n" },
		{ "", "From: <" ACCT ">\r\n\r\n" },
		{ NULL, "From: <" ACCT ">\r\n\r\n" },
		{ "<a\r\nX: y>", "From: <" ACCT ">\r\n\r\n" },
	};
	char *out, ctx[32];
	size_t i, outlen;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(ctx, sizeof(ctx), "msgid %zu", i);
		rewrite_headers("", 0, ACCT, "", cases[i].mid, &out, &outlen);
		CHECK_MEM(out, outlen, cases[i].want, strlen(cases[i].want), ctx);
		free(out);
	}
}

/* A whole message: scan, rewrite the block, keep the body. */
static void
test_message(void)
{
	static const char msg[] =
	    "Return-Path: <bounce@app>\r\n"
	    "From: \"Shop\" <noreply@shop.example>\r\n"
	    "To: customer@example.org\r\n"
	    "Subject: Your order\r\n"
	    "\r\n"
	    "From: this is the body\r\n";
	static const char want[] =
	    "From: \"Shop\" <" ACCT ">\r\n"
	    "To: customer@example.org\r\n"
	    "Subject: Your order\r\n"
	    "Reply-To: <noreply@shop.example>\r\n"
	    "Message-ID: " MID "\r\n"
	    "\r\n"
	    "From: this is the body\r\n";
	struct rewrite_info ri;
	char *out, full[512];
	size_t outlen;

	rewrite_scan(msg, sizeof(msg) - 1, &ri);
	CHECK(ri.complete == 1, "message: complete");
	CHECK_STR(ri.from_addr, "noreply@shop.example", "message");
	rewrite_headers(msg, ri.header_len, ACCT, "bounce@app", MID, &out, &outlen);
	memcpy(full, out, outlen);
	memcpy(full + outlen, msg + ri.header_len, sizeof(msg) - 1 - ri.header_len);
	CHECK_MEM(full, outlen + sizeof(msg) - 1 - ri.header_len, want,
	    sizeof(want) - 1, "message");
	free(out);
}

int
main(void)
{
	test_scan();
	test_rewrite();
	test_msgid_arg();
	test_message();
	T_DONE();
}

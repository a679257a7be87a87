/*
 * test_dsn: the delivery status report builder (dsn.c): tables of facts -> the
 * fields the report must carry, each report read back by relayd's own bounce
 * parser; the loop guards (dsn_is_report, dsn_is_own); dsn_status.
 */
#include <string.h>

#include "bounce_parse.h"
#include "dsn.h"
#include "t.h"

static const struct {
	const char	*reply, *want;
} status_cases[] = {
	{ "550 5.1.1 <a@b>: Recipient address rejected", "5.1.1" },
	{ "451 4.7.1 try later", "4.7.1" },
	{ "550-5.7.26 unauthenticated", "5.7.26" },
	{ "554 rejected", "5.0.0" },
	{ "452 too many", "4.0.0" },
	{ "gave up after 3 attempts", "5.0.0" },
	{ "", "5.0.0" },
	{ NULL, "5.0.0" },
	{ "550 5.1.1234 odd", "5.0.0" },
	{ "550 5.1.1.2 odd", "5.0.0" },
	{ "550 5.1.1x odd", "5.0.0" },
	{ "250 2.0.0 Ok", "2.0.0" },
	{ "55", "5.0.0" },
};

static const struct {
	const char	*hdr;
	int		 want;
} report_cases[] = {
	{ "From: a@b\r\nSubject: hi\r\n\r\n", 0 },
	{ "From: a@b\r\nX-Relayd-Report: 1\r\n\r\n", 1 },
	{ "From: a@b\r\nx-relayd-report:1\r\n\r\n", 1 },
	{ "Auto-Submitted: auto-replied\r\n\r\n", 1 },
	{ "Auto-Submitted: auto-generated; owner-email=x@y\r\n\r\n", 1 },
	{ "Auto-Submitted: no\r\n\r\n", 0 },
	{ "Auto-Submitted: No (a comment)\r\n\r\n", 0 },
	{ "Auto-Submitted:\r\n auto-replied\r\n\r\n", 1 },
	{ "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	  "\tboundary=x\r\n\r\n", 1 },
	{ "Content-Type:\r\n Multipart/Report; report-type=x\r\n\r\n", 1 },
	{ "Content-Type: multipart/mixed; boundary=x\r\n\r\n", 0 },
	{ "Subject: X-Relayd-Report: 1\r\n\r\n", 0 },
	{ "Subject: hi\r\n X-Relayd-Report: 1\r\n\r\n", 0 },	/* a continuation */
	{ "From: a@b\r\n\r\nX-Relayd-Report: 1\r\n", 0 },	/* in the body */
	{ "X-Relayd-Reports: 1\r\n\r\n", 0 },
	{ "From: a@b\nAuto-Submitted: auto-replied\n\n", 1 },	/* LF only */
	{ "", 0 },
};

/* The reports: facts -> what bounce_parse must read back. */
static const struct {
	struct dsn_facts f;
	const char	*status;	/* in the report and read back */
	const char	*remote;	/* Remote-MTA value, or NULL: none */
} build_cases[] = {
	{ { "relay.example", "bounces@shop.example", "5F2A0C1B00000001",
	    "<order-1@shop.example>", "gone@example.org", NULL,
	    "550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown",
	    "smtp.mail.ru[217.69.139.160]:465", "refused by the provider", 1764892800,
	    1764896400, "From: Shop <shop@shop.example>\r\nTo: gone@example.org\r\n"
	    "Message-ID: <order-1@shop.example>\r\nSubject: Your order\r\n\r\n", 0 },
	  "5.1.1", "smtp.mail.ru" },
	{ { "relay.example", "<bounces@shop.example>", "5F2A0C1B00000002",
	    "order-2@shop.example", "slow@example.net", "4.7.1",
	    "gave up after 5 attempts over 432000s of transient failure (retry lifetime "
	    "432000s); last reply: 451 4.7.1 greylisted", "mx.example.net", "expired",
	    1764892800, 1765324800, NULL, 0 }, "4.7.1", "mx.example.net" },
	{ { "relay.example", "bounces@shop.example", "5F2A0C1B00000003",
	    "order-3@shop.example", "full@example.com", "5.2.2", "mailbox full",
	    NULL, "bounced (soft)", 0, 1765324800, NULL, 0 }, "5.2.2", NULL },
	/* Hostile facts: CR/LF in the reply and the recipient do not add fields. */
	{ { "relay.example\r\nX-Evil: 1", "bounces@shop.example\r\nBcc: x@y",
	    "5F2A0C1B00000004", "<a@b>\r\nX-Evil: 2", "evil@example.org", NULL,
	    "550 5.7.1 no\r\nX-Evil: 3\r\n\r\n--=_relayd", "none", "refused", 1, 2,
	    "Subject: x\r\n--=_relayd-dsn-0000000000000000-0\r\n\r\n", 0 },
	  "5.7.1", NULL },
};

/* header_has: the report's own header block has the line want (CRLF included). */
static int
header_has(const char *msg, size_t hlen, const char *want)
{
	const char *p = msg;
	size_t n = strlen(want);

	for (; p != NULL && p < msg + hlen; p = strstr(p, "\r\n"), p = p ? p + 2 : NULL)
		if ((size_t)(msg + hlen - p) >= n && strncmp(p, want, n) == 0)
			return 1;
	return 0;
}

/* line_ok: no bare CR or LF, no line over 998 octets, ends with CRLF. */
static int
lines_ok(const char *msg, size_t len)
{
	size_t col = 0;

	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\r') {
			if (i + 1 >= len || msg[i + 1] != '\n')
				return 0;
			i++;
			col = 0;
			continue;
		}
		if (msg[i] == '\n' || msg[i] == '\0' || ++col > 998)
			return 0;
	}
	return len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n';
}

int
main(void)
{
	char st[16];

	for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
		dsn_status(status_cases[i].reply, st);
		CHECK_STR(st, status_cases[i].want, status_cases[i].reply ?
		    status_cases[i].reply : "(null)");
	}
	for (size_t i = 0; i < sizeof(report_cases) / sizeof(report_cases[0]); i++)
		CHECK(dsn_is_report(report_cases[i].hdr, strlen(report_cases[i].hdr)) ==
		    report_cases[i].want, "is_report case %zu: %s", i, report_cases[i].hdr);

	/* The Message-ID: deterministic, distinct per recipient, recognised as ours. */
	char *a = dsn_message_id("relay.example", "5F2A0C1B00000001", "x@example.org");
	char *b = dsn_message_id("relay.example", "5F2A0C1B00000001", "x@example.org");
	char *c = dsn_message_id("relay.example", "5F2A0C1B00000001", "y@example.org");
	CHECK_STR(a, b, "same facts, same id");
	CHECK(strcmp(a, c) != 0, "another recipient, another id: %s", c);
	CHECK(strncmp(a, "<relayd-dsn.5F2A0C1B00000001.", 29) == 0 &&
	    strstr(a, "@relay.example>") != NULL, "id form: %s", a);
	CHECK(dsn_is_own(a) && dsn_is_own(a + 1), "own id: %s", a);
	CHECK(!dsn_is_own("<order-1@shop.example>") && !dsn_is_own(NULL) &&
	    !dsn_is_own("x.relayd-dsn.1@h"), "others' ids are not ours");
	free(a);
	free(b);
	free(c);

	for (size_t i = 0; i < sizeof(build_cases) / sizeof(build_cases[0]); i++) {
		const struct dsn_facts *f = &build_cases[i].f;
		size_t len, hlen;
		char *msg = dsn_build(f, &len, &hlen), want[512];
		struct bounce_report r;

		CHECK(len == strlen(msg) && hlen < len && memcmp(msg + hlen - 4, "\r\n\r\n",
		    4) == 0, "case %zu: lengths", i);
		CHECK(lines_ok(msg, len), "case %zu: CRLF lines of at most 998 octets", i);
		CHECK(dsn_is_report(msg, hlen), "case %zu: a report is a report", i);
		CHECK(header_has(msg, hlen, "Auto-Submitted: auto-replied\r\n") &&
		    header_has(msg, hlen, "X-Relayd-Report: 1\r\n") &&
		    header_has(msg, hlen, "Content-Type: multipart/report; "
		    "report-type=delivery-status;"), "case %zu: report fields", i);
		CHECK(header_has(msg, hlen, "From: Mail Delivery System <MAILER-DAEMON@"),
		    "case %zu: From", i);
		CHECK(!header_has(msg, len, "X-Evil") && !header_has(msg, len, "Bcc:"),
		    "case %zu: nothing injected", i);
		snprintf(want, sizeof(want), "Status: %s\r\n", build_cases[i].status);
		CHECK(strstr(msg, want) != NULL, "case %zu: %s", i, want);
		CHECK(strstr(msg, "Action: failed\r\n") != NULL, "case %zu: action", i);
		if (build_cases[i].remote != NULL) {
			snprintf(want, sizeof(want), "Remote-MTA: dns; %s\r\n",
			    build_cases[i].remote);
			CHECK(strstr(msg, want) != NULL, "case %zu: %s", i, want);
		} else
			CHECK(strstr(msg, "Remote-MTA:") == NULL, "case %zu: no Remote-MTA", i);
		CHECK((strstr(msg, "Arrival-Date: ") != NULL) == (f->arrival != 0),
		    "case %zu: Arrival-Date when known", i);
		snprintf(want, sizeof(want), "Final-Recipient: rfc822; %s\r\n", f->recipient);
		CHECK(strstr(msg, want) != NULL, "case %zu: %s", i, want);

		/* relayd's own bounce parser reads it as what it says. */
		CHECK(bounce_parse(msg, len, &r) == 0 && r.type == BOUNCE_FAILURE &&
		    r.nrcpts == 1, "case %zu: parsed as a failure with one recipient "
		    "(type %d, %zu)", i, r.type, r.nrcpts);
		if (r.nrcpts == 1) {
			CHECK_STR(r.rcpts[0].recipient, f->recipient, "parsed recipient");
			CHECK_STR(r.rcpts[0].status, build_cases[i].status, "parsed status");
			CHECK_STR(r.rcpts[0].action, "failed", "parsed action");
		}
		CHECK(r.message_id != NULL && strncmp(r.message_id, i == 3 ? "a@b" :
		    "order-", i == 3 ? 3 : 6) == 0, "case %zu: the original's Message-ID "
		    "quoted: %s", i, r.message_id ? r.message_id : "(none)");
		bounce_report_clear(&r);
		free(msg);
	}
	T_DONE();
}

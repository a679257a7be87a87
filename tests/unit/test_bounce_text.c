/*
 * test_bounce_text: the table of MTA notice formats, one hand-made notice per row
 * (written after each MTA's template, not copied from a corpus), then notices that
 * no row may claim, then the address finder. Every row of the table must have a case.
 */
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "bounce_text.h"

static const struct text_case {
	const char	*format;	/* NULL: no row applies */
	const char	*notice;
	const char	*rcpts[4];
} text_cases[] = {
	{ "postfix",
	  "This is the mail system at host mx.example.net.\n\n"
	  "I'm sorry to have to inform you that your message could not\n"
	  "be delivered to one or more recipients. It's attached below.\n\n"
	  "For further assistance, please send mail to postmaster.\n\n"
	  "                   The mail system\n\n"
	  "<gone@example.org>: host mx.example.org[192.0.2.1] said: 550 5.1.1\n"
	  "    <gone@example.org>: Recipient address rejected: User unknown (in reply to\n"
	  "    RCPT TO command)\n\n"
	  "<full@example.org> (expanded from <alias@example.org>): host\n"
	  "    mx.example.org[192.0.2.1] said: 552 5.2.2 Mailbox full\n",
	  { "gone@example.org", "full@example.org" } },
	{ "postfix",
	  "This is the Postfix program at host mail.example.net.\n\n"
	  "I'm sorry to have to inform you that the message returned\n"
	  "below could not be delivered to one or more destinations.\n\n"
	  "\t\t\tThe Postfix program\n\n"
	  "<a@example.org>: unknown user: \"a\"\n"
	  "<b@example.org>: unknown user: \"b\"\n",
	  { "a@example.org", "b@example.org" } },
	{ "qmail",
	  "Hi. This is the qmail-send program at mx.example.net.\n"
	  "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
	  "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
	  "<one@example.org>:\n"
	  "Sorry, no mailbox here by that name. (#5.1.1)\n\n"
	  "<two@example.org>:\n"
	  "192.0.2.2 does not like recipient.\n"
	  "Remote host said: 550 5.1.1 unknown user\n"
	  "Giving up on 192.0.2.2.\n",
	  { "one@example.org", "two@example.org" } },
	{ "sendmail",
	  "The original message was received at Thu, 1 Jan 2026 00:00:00 +0900\n"
	  "from localhost [127.0.0.1]\n\n"
	  "   ----- The following addresses had permanent fatal errors -----\n"
	  "<who@example.org>\n"
	  "    (reason: 550 5.1.1 <who@example.org>... User unknown)\n"
	  "other@example.org\n"
	  "    (reason: 550 5.1.1 User unknown)\n\n"
	  "   ----- Transcript of session follows -----\n"
	  "... while talking to mx.example.org.:\n"
	  ">>> RCPT To:<who@example.org>\n"
	  "<<< 550 5.1.1 <who@example.org>... User unknown\n"
	  "550 5.1.1 <who@example.org>... User unknown\n",
	  { "who@example.org", "other@example.org" } },
	{ "sendmail",
	  "   ----- Transcript of session follows -----\n"
	  "... while talking to mx.example.org.:\n"
	  ">>> DATA\n"
	  "<<< 550 5.1.1 <t@example.org>... User unknown\n"
	  "550 5.1.1 <t@example.org>... User unknown\n"
	  "<<< 503 5.0.0 Need RCPT (recipient)\n",
	  { "t@example.org" } },
	{ "exim",
	  "This message was created automatically by mail delivery software.\n\n"
	  "A message that you sent could not be delivered to one or more of its\n"
	  "recipients. This is a permanent error. The following address(es) failed:\n\n"
	  "  ivan@example.ru\n"
	  "    SMTP error from remote mail server after RCPT TO:<ivan@example.ru>:\n"
	  "    host mx.example.ru [192.0.2.3]: 550 5.1.1 No such user\n"
	  "  petr@example.ru\n"
	  "    Unrouteable address\n",
	  { "ivan@example.ru", "petr@example.ru" } },
	{ "exim",
	  "This message was created automatically by mail delivery software.\n\n"
	  "A message that you sent has not yet been delivered to one or more of its\n"
	  "recipients after more than 24 hours on the queue on mx.example.net.\n\n"
	  "The message identifier is:     1abcde-000001-AB\n\n"
	  "The address to which the message has not yet been delivered is:\n\n"
	  "  slow@example.org\n"
	  "    Delay reason: SMTP error from remote mail server after RCPT TO:\n",
	  { "slow@example.org" } },
	{ "courier",
	  "This is a delivery status notification from mx.example.net,\n"
	  "running the Courier mail server, version 1.0.\n\n"
	  "Your message to the following recipients cannot be delivered:\n\n"
	  "<c@example.org>:\n"
	  "    mx.example.org [192.0.2.4]:\n"
	  ">>> RCPT TO:<c@example.org>\n"
	  "<<< 550 5.1.1 <c@example.org>... User Unknown\n",
	  { "c@example.org" } },
	{ "opensmtpd",
	  "Hi!\n\n"
	  "This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail.\n\n"
	  "An error has occurred while attempting to deliver a message for\n"
	  "the following list of recipients:\n\n"
	  "o@example.org: 550 5.1.1 <o@example.org>: Recipient address rejected\n",
	  { "o@example.org" } },
	{ "exchange",
	  "Delivery has failed to these recipients or groups:\n\n"
	  "x@example.com\n"
	  "The e-mail address you entered couldn't be found. Please check the\n"
	  "recipient's e-mail address and try to resend the message.\n",
	  { "x@example.com" } },
	{ "exchange",
	  "Your message\n\n"
	  "  To:      someone@example.com\n"
	  "  Subject: hello\n\n"
	  "did not reach the following recipient(s):\n\n"
	  "y@example.com on Thu, 1 Jan 2026 00:00:00 +0000\n"
	  "    The recipient name is not recognized\n",
	  { "y@example.com" } },
	{ "office365",
	  "Your message to z@example.com couldn't be delivered.\n"
	  "z wasn't found at example.com.\n",
	  { "z@example.com" } },
	{ "gmail",
	  "Delivery to the following recipient failed permanently:\n\n"
	  "     g@example.jp\n\n"
	  "Technical details of permanent failure:\n"
	  "Google tried to deliver your message, but it was rejected by the server.\n",
	  { "g@example.jp" } },
	{ "gmail",
	  "Address not found\n\n"
	  "Your message wasn't delivered to h@example.jp because the address couldn't\n"
	  "be found, or is unable to receive mail.\n",
	  { "h@example.jp" } },
	{ "yahoo",
	  "Sorry, we were unable to deliver your message to the following address.\n\n"
	  "<yh@example.com>:\n"
	  "Remote host said: 550 5.1.1 recipient rejected [RCPT_TO]\n",
	  { "yh@example.com" } },
	{ "aol",
	  "----- The following addresses had delivery problems -----\n"
	  "aol1@example.com   (Mailbox full)\n",
	  { "aol1@example.com" } },
	{ "domino",
	  "Your message\n\n"
	  "  Subject: hello\n\n"
	  "was not delivered to:\n\n"
	  "  d@example.net\n\n"
	  "because:\n\n"
	  "  User d (d@example.net) not listed in Domino Directory\n",
	  { "d@example.net" } },
	{ "groupwise",
	  "The message that you sent was undeliverable to the following:\n"
	  "\tgw@example.org (user not found)\n\n"
	  "Possible causes: the user does not exist.\n",
	  { "gw@example.org" } },
	{ "recipient-list",
	  "Your message could not be delivered to the following recipients:\n\n"
	  "  rl1@example.org  550 5.1.1 unknown user\n"
	  "  rl2@example.org  552 5.2.2 mailbox full\n",
	  { "rl1@example.org", "rl2@example.org" } },
	{ "amazonses",
	  "{\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\","
	  "\"bouncedRecipients\":[{\"emailAddress\":\"ses@example.com\"}]},"
	  "\"mail\":{\"source\":\"sender@example.org\",\"destination\":[\"ses@example.com\"]}}\n",
	  { "ses@example.com" } },
	{ "intended-recipient",
	  "Delivery failure.\n\n"
	  "Intended recipient: ir1@example.org\n"
	  "Reason: mailbox unavailable\n\n"
	  "Intended recipient: ir2@example.org\n"
	  "Reason: mailbox full\n",
	  { "ir1@example.org", "ir2@example.org" } },
	/* A format's mark with nothing where it lists recipients: no row claims it. */
	{ NULL,
	  "This is the mail system at host mx.example.net.\n\n"
	  "\t--- Delivery report unavailable ---\n", { NULL } },
	{ NULL, "Hello, please call me at bob@example.org tomorrow.\n", { NULL } },
	{ NULL, "", { NULL } },
};

static void
test_formats(void)
{
	for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
		const struct text_case *tc = &text_cases[i];
		char **a;
		size_t n, want = 0;
		const char *f = bounce_text_rcpts(tc->notice, strlen(tc->notice), &a, &n);
		char name[64];

		snprintf(name, sizeof(name), "case %zu (%s)", i, tc->format ? tc->format : "none");
		CHECK_STR(f ? f : "(none)", tc->format ? tc->format : "(none)", name);
		while (want < 4 && tc->rcpts[want] != NULL)
			want++;
		CHECK(n == want, "%s: %zu recipients, want %zu", name, n, want);
		for (size_t k = 0; k < n && k < want; k++)
			CHECK_STR(a[k], tc->rcpts[k], name);
		CHECK((n == 0) == (a == NULL), "%s: array and count disagree", name);
		bounce_text_rcpts_free(a, n);
	}
	/* Each row of the table has a case above. */
	for (size_t r = 0; r < bounce_text_format_count(); r++) {
		const char *fn = bounce_text_format_name(r);
		int seen = 0;
		for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++)
			seen |= text_cases[i].format && strcmp(text_cases[i].format, fn) == 0;
		CHECK(seen, "format %s has no test case", fn);
	}
	CHECK(bounce_text_format_name(bounce_text_format_count()) == NULL, "name range");
	bounce_text_rcpts_free(NULL, 0);
}

static const struct {
	const char	*text, *addr;	/* addr NULL: none */
} addr_cases[] = {
	{ "to <A.B@Example.ORG>: no", "A.B@example.org" },
	{ "smtp=user@example.com", "user@example.com" },
	{ "RFC822=user@example.com", "user@example.com" },
	{ "mailto:x@example.net.", "x@example.net" },
	{ "user@[192.0.2.1]", "user@[192.0.2.1]" },
	{ "user@localhost", NULL },
	{ "@example.org", NULL },
	{ "a@.example.org", NULL },
	{ "no address here", NULL },
};

static void
test_addr(void)
{
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		const char *t = addr_cases[i].text, *at, *after;
		char out[BOUNCE_TEXT_ADDR_MAX];
		int r = bounce_text_addr(t, t + strlen(t), out, &at, &after);
		if (addr_cases[i].addr == NULL)
			CHECK(r == -1, "addr(%s) = %s, want none", t, out);
		else
			CHECK(r == 0 && strcmp(out, addr_cases[i].addr) == 0,
			    "addr(%s) = %s, want %s", t, r == 0 ? out : "(none)",
			    addr_cases[i].addr);
	}
}

/* The notice in lines: where the quoted original starts, where an address is named. */
static const struct {
	const char	*text;
	size_t		 nlines, cut, orig;
} split_cases[] = {
	{ "a\r\nb\n\n------ This is a copy of your message ------\nFrom: x@y.z\n",
	  5, 3, 4 },
	{ "notice\n\nReceived: from x\nMessage-ID: <1@x>\nFrom: a@b.c\nTo: d@e.f\n\nhi",
	  8, 2, 2 },
	/* A summary of the original (To, Subject, Sent) does not start it. */
	{ "Your message\n  To: a@b.c\n  Subject: hi\n  Sent: today\nfailed.", 5, 5, 5 },
	{ "", 0, 0, 0 },
};

static void
test_notice(void)
{
	for (size_t i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		struct bounce_text_notice n;
		bounce_text_notice_split(&n, split_cases[i].text);
		CHECK(n.nlines == split_cases[i].nlines && n.cut == split_cases[i].cut &&
		    n.orig == split_cases[i].orig, "split %zu: %zu lines, cut %zu, orig %zu",
		    i, n.nlines, n.cut, n.orig);
		bounce_text_notice_free(&n);
	}
	struct bounce_text_notice n;
	bounce_text_notice_split(&n, "To: A@b.c\n<A@B.C>: gone\nb@b.c too\n"
	    "--- Original message follows ---\nTo: x@b.c\n");
	CHECK(bounce_text_notice_find(&n, "a@b.c", 0) == 1, "find skips To:, any case");
	CHECK(bounce_text_notice_find(&n, "x@b.c", 0) == n.cut, "find stops at the cut");
	static const char *const ph[] = { "too" };
	CHECK(bounce_text_notice_has(&n, 0, n.cut, ph, 1) &&
	    !bounce_text_notice_has(&n, 0, 2, ph, 1), "has");
	bounce_text_notice_free(&n);
	CHECK(bounce_text_find("could not\n  be delivered", 24, "not be delivered", NULL)
	    != NULL, "a wrapped phrase is found");
}

int
main(void)
{
	test_formats();
	test_notice();
	test_addr();
	T_DONE();
}

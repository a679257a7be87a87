/*
 * test_bounce_parse: tables of small hand-made notifications, one per form the parser
 * knows (RFC 3464 failure and delay, Exim/Mail.ru text, qmail, Postfix, Sendmail,
 * auto-reply, ARF), then the hard/soft classification on its own, then inputs that
 * once crashed or misled the parser.
 */
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "bounce_parse.h"
#include "bounce_status.h"

static const char rfc3464_hard[] =
	"From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
	"To: sender@example.com\n"
	"Subject: Undelivered Mail Returned to Sender\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n"
	"\n"
	"--B\n"
	"Content-Type: text/plain\n"
	"\n"
	"I'm sorry to have to inform you that your message could not be delivered.\n"
	"\n"
	"--B\n"
	"Content-Type: message/delivery-status\n"
	"\n"
	"Reporting-MTA: dns; mx.example.net\n"
	"\n"
	"Final-Recipient: rfc822; gone@example.org\n"
	"Original-Recipient: rfc822;gone@example.org\n"
	"Action: failed\n"
	"Status: 5.1.1\n"
	"Diagnostic-Code: smtp; 550 5.1.1 <gone@example.org>: Recipient address\n"
	"    rejected: User unknown in local recipient table\n"
	"\n"
	"Final-Recipient: rfc822; full@example.org\n"
	"Action: failed\n"
	"Status: 5.0.0\n"
	"Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\n"
	"\n"
	"--B\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"From: sender@example.com\n"
	"To: gone@example.org, full@example.org\n"
	"Message-ID: <orig-1@example.com>\n"
	"Subject: hello\n"
	"\n"
	"hello\n"
	"--B--\n";

static const char rfc3464_delay[] =
	"From: MAILER-DAEMON@mx.example.net\n"
	"To: sender@example.com\n"
	"Subject: Delayed Mail (still being retried)\n"
	"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n"
	"\n"
	"--B\n"
	"Content-Type: text/plain\n"
	"\n"
	"Your message has not been delivered yet; it will be retried.\n"
	"--B\n"
	"Content-Type: message/delivery-status\n"
	"\n"
	"Reporting-MTA: dns; mx.example.net\n"
	"\n"
	"Final-Recipient: rfc822; slow@example.org\n"
	"Action: delayed\n"
	"Status: 4.4.1\n"
	"Diagnostic-Code: X-Postfix; connect to mx.example.org[192.0.2.1]:25: Connection timed out\n"
	"\n"
	"--B\n"
	"Content-Type: text/rfc822-headers\n"
	"\n"
	"From: sender@example.com\n"
	"Message-Id: <delay-2@example.com>\n"
	"\n"
	"--B--\n";

static const char exim_mailru[] =
	"Return-path: <>\n"
	"X-Failed-Recipients: ivan@example.ru\n"
	"Auto-Submitted: auto-replied\n"
	"From: mailer-daemon@corp.mail.ru\n"
	"To: me@mail.ru\n"
	"Content-Type: text/plain; charset=utf-8\n"
	"Content-Transfer-Encoding: 8bit\n"
	"Subject: Mail failure.\n"
	"\n"
	"Это письмо создано автоматически сервером Mail.Ru.\n"
	"\n"
	"  ivan@example.ru\n"
	"    SMTP error from remote mail server after RCPT TO:<ivan@example.ru>:\n"
	"    host mx.example.ru [192.0.2.5]: 550 5.1.1 <ivan@example.ru>: No such user\n"
	"\n"
	"------ This is a copy of the message, including all the headers. ------\n"
	"\n"
	"Return-path: <me@mail.ru>\n"
	"From: me <me@mail.ru>\n"
	"To: ivan@example.ru\n"
	"Message-Id: <E1abc-0001@mail.ru>\n"
	"Subject: hi\n"
	"\n"
	"hi\n";

static const char qmail[] =
	"From: MAILER-DAEMON@mx.example.jp\n"
	"To: me@example.jp\n"
	"Subject: failure notice\n"
	"\n"
	"Hi. This is the qmail-send program at mx.example.jp.\n"
	"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
	"This is a permanent error; I've given up. Sorry it didn't work out.\n"
	"\n"
	"<nobody@example.net>:\n"
	"Sorry, no mailbox here by that name. (#5.1.1)\n"
	"\n"
	"<full@example.net>:\n"
	"192.0.2.9 does not like recipient.\n"
	"Remote host said: 552 5.2.2 Mailbox quota exceeded\n"
	"Giving up on 192.0.2.9.\n"
	"\n"
	"--- Below this line is a copy of the message.\n"
	"\n"
	"Return-Path: <me@example.jp>\n"
	"Received: (qmail 1 invoked by uid 0); 1 Jul 2014 08:30:40 -0000\n"
	"Message-ID: <q-3@example.jp>\n"
	"From: me@example.jp\n"
	"\n"
	"body\n";

static const char vacation[] =
	"From: Boss <boss@example.org>\n"
	"To: me@example.com\n"
	"Subject: Out of Office: hello\n"
	"Auto-Submitted: auto-replied\n"
	"Content-Type: text/plain\n"
	"\n"
	"I am away until Monday and will read your message when I return.\n";

static const char arf[] =
	"From: feedback@arf.example.net\n"
	"To: abuse@example.com\n"
	"Subject: FW: hello\n"
	"Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\n"
	"\n"
	"--F\n"
	"Content-Type: text/plain\n"
	"\n"
	"This is an email abuse report. The user unknown to us complained.\n"
	"--F\n"
	"Content-Type: message/feedback-report\n"
	"\n"
	"Feedback-Type: abuse\n"
	"User-Agent: SomeGenerator/1.0\n"
	"Version: 1\n"
	"Original-Rcpt-To: <user@example.net>\n"
	"\n"
	"--F\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"From: me@example.com\n"
	"To: user@example.net\n"
	"Message-ID: <spam-4@example.com>\n"
	"\n"
	"buy now\n"
	"--F--\n";

static const char sendmail_text[] =
	"From Mailer-Daemon Thu Apr 29 23:34:45 2010\n"
	"From: Mail Delivery Subsystem <MAILER-DAEMON@example.jp>\n"
	"To: me@example.jp\n"
	"Subject: Returned mail: see transcript for details\n"
	"\n"
	"   ----- The following addresses had permanent fatal errors -----\n"
	"<who@example.org>\n"
	"    (reason: 550 5.1.1 <who@example.org>... User unknown)\n"
	"\n"
	"   ----- Transcript of session follows -----\n"
	"... while talking to mx.example.org.:\n"
	">>> RCPT To:<who@example.org>\n"
	"<<< 550 5.1.1 <who@example.org>... User unknown\n"
	"\n"
	"   ----- Original message follows -----\n"
	"\n"
	"From: me@example.jp\n"
	"Message-Id: <sm-5@example.jp>\n"
	"\n";

static const char postfix_data[] =
	"From: MAILER-DAEMON@smtp.example.com (Mail Delivery System)\n"
	"To: me@example.com\n"
	"Subject: Undelivered Mail Returned to Sender\n"
	"\n"
	"This is the mail system at host smtp.example.com.\n"
	"\n"
	"<filtered@example.net>: host mx.example.net[192.0.2.2] said: 550 Unknown user\n"
	"    filtered@example.net (in reply to end of DATA command)\n";

static const char gmail_delay[] =
	"From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
	"To: me@gmail.com\n"
	"Subject: Delivery Status Notification (Delay)\n"
	"\n"
	"THIS IS A WARNING MESSAGE ONLY.\n"
	"\n"
	"YOU DO NOT NEED TO RESEND YOUR MESSAGE.\n"
	"\n"
	"Delivery to the following recipient has been delayed:\n"
	"\n"
	"     late@example.jp\n"
	"\n"
	"Message will be retried for 2 more day(s)\n";

/* A text notice that says it will retry: a delay, not permanent. */
static const char will_retry[] =
	"From: MAILER-DAEMON@mx.example.net\n"
	"To: sender@example.com\n"
	"Subject: Delivery delayed\n"
	"\n"
	"Your message to w@example.org could not be delivered yet:\n"
	"connection refused by mx.example.org.\n"
	"The mail system will retry for 4 more days.\n";

/* Exchange / Outlook.com: the notice is HTML only, the reply in "Remote Server returned". */
static const char exchange_html[] =
	"From: postmaster@outlook.example\n"
	"To: me@outlook.example\n"
	"Subject: Undeliverable: order 1042\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/mixed; boundary=\"X\"\n"
	"\n"
	"--X\n"
	"Content-Type: text/html; charset=us-ascii\n"
	"\n"
	"<html><body><p><b>Delivery has failed to these recipients or groups:</b></p>\n"
	"<p><a href=\"mailto:nobody@example.com\">nobody@example.com</a><br>\n"
	"The email address you entered couldn't be found.</p>\n"
	"<p>Diagnostic information for administrators:</p>\n"
	"<p>Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; "
	"Recipient not found by SMTP address lookup'</p>\n"
	"</body></html>\n"
	"--X\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"From: me@outlook.example\n"
	"To: nobody@example.com\n"
	"Message-ID: <ex-6@outlook.example>\n"
	"Subject: order 1042\n"
	"\n"
	"body\n"
	"--X--\n";

/* Yandex: RFC 3464 with the reply text in Russian, 8-bit, in the human part. */
static const char yandex_dsn[] =
	"From: mailer-daemon@yandex.ru\n"
	"To: shop@yandex.ru\n"
	"Subject: =?utf-8?B?0J3QtdC00L7RgdGC0LDQstC70LXQvdC90L7QtSDRgdC+0L7QsdGJ0LXQvdC40LU=?=\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/report; report-type=delivery-status; boundary=\"Y\"\n"
	"\n"
	"--Y\n"
	"Content-Type: text/plain; charset=utf-8\n"
	"Content-Transfer-Encoding: 8bit\n"
	"\n"
	"\xd0\x9d\xd0\xb5 \xd1\x83\xd0\xb4\xd0\xb0\xd0\xbb\xd0\xbe\xd1\x81\xd1\x8c "
	"(message could not be delivered)\n"
	"\n"
	"--Y\n"
	"Content-Type: message/delivery-status\n"
	"\n"
	"Reporting-MTA: dns; forward1.mail.yandex.net\n"
	"\n"
	"Final-Recipient: rfc822; full@example.ru\n"
	"Action: failed\n"
	"Status: 5.2.2\n"
	"Diagnostic-Code: smtp; 552 5.2.2 Mailbox size limit exceeded\n"
	"\n"
	"--Y\n"
	"Content-Type: text/rfc822-headers\n"
	"\n"
	"From: shop@yandex.ru\n"
	"Message-Id: <ya-7@yandex.ru>\n"
	"\n"
	"--Y--\n";

/* Exchange: an address type glued on with '=', Final-Recipient an internal store name,
 * a trailing comment. */
static const char exchange_smtp_eq[] =
	"From: postmaster@outlook.example\n"
	"To: sender@example.com\n"
	"Subject: Undeliverable: hello\n"
	"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n"
	"\n"
	"--B\n"
	"Content-Type: message/delivery-status\n"
	"\n"
	"Reporting-MTA: dns; outlook.example\n"
	"\n"
	"Original-Recipient: rfc822;smtp=Sent.To@example.org (the one we sent to)\n"
	"Final-Recipient: rfc822; <IMCEAEX-store-42@store.internal.example>\n"
	"Action: failed\n"
	"Status: 5.2.1\n"
	"Diagnostic-Code: smtp;550 5.2.1 mailbox disabled\n"
	"\n"
	"--B--\n";

/* A list server's reply to commands: it quotes "no such user", names addresses. */
static const char list_reply[] =
	"From: Majordomo@lists.example.org\n"
	"To: sender@example.com\n"
	"Subject: Majordomo results: unsubscribe\n"
	"\n"
	"--\n"
	">>>> unsubscribe news bob@example.net\n"
	"**** unsubscribe: no such user bob@example.net on list news\n"
	">>>> who news\n"
	"**** Command 'who' failed: permission denied\n";

/* A challenge-response request: "not be delivered" until the sender confirms. */
static const char challenge[] =
	"From: Bob <bob@example.net>\n"
	"To: sender@example.com\n"
	"Subject: Please confirm your message\n"
	"X-Boxbe-Challenge: yes\n"
	"\n"
	"Your message to bob@example.net will not be delivered until you confirm\n"
	"that you are a person: reply to this message.\n";

/* Postfix with no report: X-Original-To is where the notice went (us), the failed
 * recipient is the quoted original's To. */
static const char postfix_noreport[] =
	"X-Original-To: bounces@sender.example.com\n"
	"From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
	"To: sender@example.com\n"
	"Subject: Undelivered Mail Returned to Sender\n"
	"\n"
	"This is the mail system at host mx.example.net.\n"
	"\n"
	"                   The mail system\n"
	"\n"
	"\t--- Delivery report unavailable ---\n"
	"\n"
	"--- Original message follows ---\n"
	"\n"
	"Return-Path: <sender@example.com>\n"
	"From: <sender@example.com>\n"
	"To: lost@example.fr\n"
	"Message-Id: <pf-9@example.com>\n"
	"\n"
	"hi\n";

/* "Action: deliverable" (sendmail -bv) with 2.1.5: not a failure. */
static const char deliverable[] =
	"From: MAILER-DAEMON@mx.example.net\n"
	"Subject: Return receipt\n"
	"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n"
	"\n"
	"--B\n"
	"Content-Type: message/delivery-status\n"
	"\n"
	"Final-Recipient: rfc822; fine@example.jp\n"
	"Action: deliverable\n"
	"Status: 2.1.5\n"
	"Diagnostic-Code: smtp; 250 2.1.5 Ok\n"
	"\n"
	"--B--\n";

/* The top of a minimal RFC 3464 report, up to its delivery-status fields. */
#define DSN_HEAD							\
	"From: MAILER-DAEMON@mx.example.net\n"				\
	"Subject: Undelivered Mail Returned to Sender\n"			\
	"Content-Type: multipart/report; report-type=delivery-status; "	\
	"boundary=\"B\"\n\n--B\nContent-Type: message/delivery-status\n\n"

/* Action failed with a temporary status: retried until the MTA gave up. */
static const char gave_up[] =
	DSN_HEAD
	"Final-Recipient: rfc822; away@example.org\n"
	"Action: failed\n"
	"Status: 4.4.1\n"
	"Diagnostic-Code: X-Postfix; connect to mx.example.org[192.0.2.9]:25: Connection\n"
	"    timed out\n"
	"\n"
	"--B--\n";

/* An Outlook auto-reply in Spanish, without the RFC 3834 headers. */
static const char autoreply_es[] =
	"From: Ana <ana@example.es>\n"
	"To: sender@example.com\n"
	"Subject: =?UTF-8?Q?Respuesta_autom=C3=A1tica:_Pedido_1042?=\n"
	"\n"
	"Estoy fuera de la oficina hasta el lunes.\n";

static const char not_a_bounce[] =
	"From: friend@example.org\n"
	"To: me@example.com\n"
	"Subject: lunch?\n"
	"\n"
	"Shall we meet at noon? Write to bob@example.net too.\n";

/* One expected recipient; a NULL recipient ends a case's list. */
struct want_rcpt {
	const char	*recipient, *status;
	enum bounce_kind kind;
	int		 reply;
	const char	*diag_has;
	int		 permanent;
	const char	*reason;
};

static const struct parse_case {
	const char	*name;
	const char	*msg;
	int		 ret;
	enum bounce_type type;
	const char	*msgid;		/* NULL: none expected */
	struct want_rcpt rcpts[3];
} parse_cases[] = {
	{ "rfc3464 hard", rfc3464_hard, 0, BOUNCE_FAILURE, "orig-1@example.com", {
		{ "gone@example.org", "5.1.1", BOUNCE_HARD, 550, "User unknown", 1, "user_unknown" },
		{ "full@example.org", "5.2.2", BOUNCE_SOFT, 552, "Mailbox full", 1, "mailbox_full" } } },
	{ "rfc3464 delayed", rfc3464_delay, 0, BOUNCE_DELAY, "delay-2@example.com", {
		{ "slow@example.org", "4.4.1", BOUNCE_SOFT, 0, "timed out", 0, "network_error" } } },
	{ "exim mail.ru", exim_mailru, 0, BOUNCE_FAILURE, "E1abc-0001@mail.ru", {
		{ "ivan@example.ru", "5.1.1", BOUNCE_HARD, 550, "No such user", 1, "user_unknown" } } },
	{ "qmail", qmail, 0, BOUNCE_FAILURE, "q-3@example.jp", {
		{ "nobody@example.net", "5.1.1", BOUNCE_HARD, 0, "no mailbox here", 1, "user_unknown" },
		{ "full@example.net", "5.2.2", BOUNCE_SOFT, 552, "quota", 1, "mailbox_full" } } },
	{ "sendmail text", sendmail_text, 0, BOUNCE_FAILURE, "sm-5@example.jp", {
		{ "who@example.org", "5.1.1", BOUNCE_HARD, 550, "User unknown", 1, "user_unknown" } } },
	{ "postfix after DATA", postfix_data, 0, BOUNCE_FAILURE, NULL, {
		{ "filtered@example.net", "5.1.1", BOUNCE_SOFT, 550, "Unknown user", 1, "spam_or_content" } } },
	{ "gmail delay", gmail_delay, 0, BOUNCE_DELAY, NULL, {
		{ "late@example.jp", "4.0.0", BOUNCE_SOFT, 0, "retried", 0, "unknown" } } },
	{ "will retry", will_retry, 0, BOUNCE_DELAY, NULL, {
		{ "w@example.org", "4.4.1", BOUNCE_SOFT, 0, "refused", 0, "network_error" } } },
	{ "exchange html", exchange_html, 0, BOUNCE_FAILURE, "ex-6@outlook.example", {
		{ "nobody@example.com", "5.1.10", BOUNCE_HARD, 550, "RecipientNotFound", 1, "user_unknown" } } },
	{ "yandex dsn", yandex_dsn, 0, BOUNCE_FAILURE, "ya-7@yandex.ru", {
		{ "full@example.ru", "5.2.2", BOUNCE_SOFT, 552, "size limit", 1, "mailbox_full" } } },
	{ "exchange type prefix", exchange_smtp_eq, 0, BOUNCE_FAILURE, NULL, {
		{ "Sent.To@example.org", "5.2.1", BOUNCE_HARD, 550, "disabled", 1,
		  "mailbox_disabled" } } },
	{ "vacation", vacation, 0, BOUNCE_AUTOREPLY, NULL, { { NULL } } },
	{ "arf", arf, 0, BOUNCE_FEEDBACK, "spam-4@example.com", { { NULL } } },
	{ "postfix without report", postfix_noreport, 0, BOUNCE_FAILURE, "pf-9@example.com", {
		{ "lost@example.fr", "5.0.0", BOUNCE_SOFT, 0, "", 1, "unknown" } } },
	{ "deliverable", deliverable, 0, BOUNCE_DELIVERED, NULL, {
		{ "fine@example.jp", "2.1.5", BOUNCE_KIND_NONE, 0, "Ok", 0, "unknown" } } },
	{ "gave up", gave_up, 0, BOUNCE_FAILURE, NULL, {
		{ "away@example.org", "4.4.1", BOUNCE_SOFT, 0, "timed out", 0, "expired" } } },
	{ "autoreply es", autoreply_es, 0, BOUNCE_AUTOREPLY, NULL, { { NULL } } },
	{ "list server reply", list_reply, 0, BOUNCE_NONE, NULL, { { NULL } } },
	{ "challenge-response", challenge, 0, BOUNCE_AUTOREPLY, NULL, { { NULL } } },
	{ "plain mail", not_a_bounce, 0, BOUNCE_NONE, NULL, { { NULL } } },
	{ "empty", "", -1, BOUNCE_NONE, NULL, { { NULL } } },
	{ "mbox line only", "From x\n", -1, BOUNCE_NONE, NULL, { { NULL } } },
};

static void
test_parse(void)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *pc = &parse_cases[i];
		struct bounce_report r;
		int ret = bounce_parse(pc->msg, strlen(pc->msg), &r);
		size_t want = 0;

		CHECK(ret == pc->ret, "%s: returned %d", pc->name, ret);
		CHECK(r.type == pc->type, "%s: type %s, want %s", pc->name,
		    bounce_parse_type_name(r.type), bounce_parse_type_name(pc->type));
		if (pc->msgid != NULL)
			CHECK_STR(r.message_id ? r.message_id : "(null)", pc->msgid, pc->name);
		else
			CHECK(r.message_id == NULL, "%s: message_id %s", pc->name, r.message_id);
		while (want < 3 && pc->rcpts[want].recipient != NULL)
			want++;
		CHECK(r.nrcpts == want, "%s: %zu recipients, want %zu", pc->name,
		    r.nrcpts, want);
		for (size_t k = 0; k < want && k < r.nrcpts; k++) {
			const struct want_rcpt *w = &pc->rcpts[k];
			const struct bounce_rcpt *rc = &r.rcpts[k];
			CHECK_STR(rc->recipient, w->recipient, pc->name);
			CHECK_STR(rc->status, w->status, pc->name);
			CHECK(rc->kind == w->kind, "%s: %s kind %s", pc->name, w->recipient,
			    bounce_parse_kind_name(rc->kind));
			CHECK(rc->reply_code == w->reply, "%s: %s reply %d", pc->name,
			    w->recipient, rc->reply_code);
			CHECK(rc->permanent == w->permanent, "%s: %s permanent %d", pc->name,
			    w->recipient, rc->permanent);
			CHECK_STR(bounce_status_reason_name(rc->reason), w->reason, pc->name);
			CHECK(strcasestr(rc->diagnostic, w->diag_has) != NULL,
			    "%s: diagnostic \"%s\" lacks \"%s\"", pc->name, rc->diagnostic,
			    w->diag_has);
		}
		bounce_report_clear(&r);
		CHECK(r.nrcpts == 0 && r.rcpts == NULL && r.message_id == NULL,
		    "%s: report not cleared", pc->name);
	}
	bounce_report_clear(NULL);
}

static const struct kind_case {
	const char	*status, *diag;
	enum bounce_kind kind;
} kind_cases[] = {
	{ "5.1.1", "550 5.1.1 User unknown", BOUNCE_HARD },
	{ "5.1.1", NULL, BOUNCE_HARD },
	{ "5.1.2", "Host or domain name not found", BOUNCE_HARD },
	{ "5.1.10", "RESOLVER.ADR.RecipientNotFound", BOUNCE_HARD },
	{ "5.2.1", "The email account that you tried to reach is disabled", BOUNCE_HARD },
	{ "5.2.1", "receiving mail at a rate that prevents additional messages", BOUNCE_SOFT },
	{ "5.0.0", "550 Requested action not taken: mailbox unavailable", BOUNCE_HARD },
	{ "5.0.0", "This user doesn't have a yahoo.com account", BOUNCE_HARD },
	{ "5.0.0", "нет такого пользователя", BOUNCE_HARD },
	{ "5.2.2", "552 5.2.2 Mailbox full", BOUNCE_SOFT },
	{ "5.1.1", "552 Mailbox quota exceeded", BOUNCE_SOFT },
	{ "5.7.1", "Service unavailable; client host blocked using Spamhaus", BOUNCE_SOFT },
	{ "5.7.26", "Unauthenticated email is not accepted due to DMARC policy", BOUNCE_SOFT },
	{ "5.1.8", "Domain of sender address does not exist", BOUNCE_SOFT },
	{ "5.1.7", NULL, BOUNCE_SOFT },
	{ "5.0.0", "SMTP error after MAIL FROM: 550 user unknown", BOUNCE_SOFT },
	{ "5.4.4", "Host not found, try again", BOUNCE_SOFT },
	{ "5.0.0", "User not listed in Domino Directory", BOUNCE_HARD },
	{ "5.7.1", "Client host listed in bl.example.net", BOUNCE_SOFT },
	{ "4.1.1", "450 4.1.1 User unknown in virtual alias table", BOUNCE_SOFT },
	{ "4.2.2", "mailbox full", BOUNCE_SOFT },
	{ "2.0.0", "delivered", BOUNCE_KIND_NONE },
	{ "5.0.0", NULL, BOUNCE_SOFT },
	{ "", "", BOUNCE_SOFT },
	{ NULL, NULL, BOUNCE_SOFT },
};

static void
test_kind(void)
{
	for (size_t i = 0; i < sizeof(kind_cases) / sizeof(kind_cases[0]); i++) {
		const struct kind_case *kc = &kind_cases[i];
		enum bounce_kind k = bounce_parse_kind(kc->status, kc->diag);
		CHECK(k == kc->kind, "kind(%s, %s) = %s, want %s", kc->status ? kc->status :
		    "NULL", kc->diag ? kc->diag : "NULL", bounce_parse_kind_name(k),
		    bounce_parse_kind_name(kc->kind));
	}
	CHECK_STR(bounce_parse_type_name(BOUNCE_FEEDBACK), "feedback", "type name");
	CHECK_STR(bounce_parse_type_name((enum bounce_type)99), "none", "bad type name");
	CHECK_STR(bounce_parse_kind_name(BOUNCE_HARD), "hard", "kind name");
}

/* The taxonomy: status and words -> reason, and whether it is permanent. */
static const struct reason_case {
	const char	*action, *status, *diag, *reason;
	int		 permanent;
	enum bounce_kind kind;
} reason_cases[] = {
	{ "failed", "5.1.1", NULL, "user_unknown", 1, BOUNCE_HARD },
	{ "failed", "5.0.0", "550 5.0.0 <a@b.c>... User unknown", "user_unknown", 1,
	  BOUNCE_HARD },
	{ "failed", "5.2.2", "552 Mailbox full", "mailbox_full", 1, BOUNCE_SOFT },
	{ "failed", "5.2.1", "account has been disabled", "mailbox_disabled", 1,
	  BOUNCE_HARD },
	{ "failed", "5.1.2", NULL, "host_unknown", 1, BOUNCE_HARD },
	{ "failed", "5.1.6", NULL, "has_moved", 1, BOUNCE_HARD },
	{ "failed", "5.3.2", NULL, "not_accept", 1, BOUNCE_HARD },
	{ "failed", "5.7.1", "Message rejected as spam", "spam_or_content", 1, BOUNCE_SOFT },
	{ "failed", "5.7.1", "blocked using zen.spamhaus.example", "spam_or_content", 1,
	  BOUNCE_SOFT },
	{ "failed", "5.7.26", "DMARC policy", "policy", 1, BOUNCE_SOFT },
	{ "failed", "5.7.1", NULL, "policy", 1, BOUNCE_SOFT },
	{ "failed", "4.7.0", "too many connections", "rate_limited", 0, BOUNCE_SOFT },
	{ "failed", "5.3.4", NULL, "too_large", 1, BOUNCE_SOFT },
	{ "failed", "5.7.1", "Relaying denied", "relay_denied", 1, BOUNCE_SOFT },
	{ "failed", "5.1.8", "user unknown", "sender_rejected", 1, BOUNCE_SOFT },
	{ "failed", "4.4.7", NULL, "expired", 0, BOUNCE_SOFT },
	{ "failed", "5.0.0", "connection timed out", "expired", 1, BOUNCE_SOFT },
	{ "failed", "4.4.1", NULL, "network_error", 0, BOUNCE_SOFT },
	{ "failed", "5.3.0", NULL, "system_error", 1, BOUNCE_SOFT },
	{ "failed", "5.0.0", NULL, "unknown", 1, BOUNCE_SOFT },
	{ "failed", "", NULL, "unknown", 1, BOUNCE_SOFT },
	{ "delayed", "5.1.1", NULL, "user_unknown", 0, BOUNCE_SOFT },
	{ "failed", "4.1.1", "450 4.1.1 User unknown", "user_unknown", 0, BOUNCE_SOFT },
	{ "", "", NULL, "unknown", 0, BOUNCE_SOFT },
	{ "failed", "5.4.7", "554 4.4.7 Message expired: unable to deliver", "expired", 1,
	  BOUNCE_SOFT },
	{ "failed", "5.0.0", "550 Access blocked", "policy", 1, BOUNCE_SOFT },
	{ "failed", "5.1.1", "blocked: no such mailbox here", "user_unknown", 1, BOUNCE_HARD },
	{ "failed", "5.1.1", "550 blocked", "user_unknown", 1, BOUNCE_HARD },
	{ "failed", "5.0.0", "Giving up on 192.0.2.2.", "expired", 1, BOUNCE_SOFT },
};

static void
test_reason(void)
{
	for (size_t i = 0; i < sizeof(reason_cases) / sizeof(reason_cases[0]); i++) {
		const struct reason_case *rc = &reason_cases[i];
		enum bounce_reason r = bounce_status_reason(rc->status, rc->diag);
		int perm = bounce_status_permanent(rc->action, rc->status);
		CHECK_STR(bounce_status_reason_name(r), rc->reason, rc->status);
		CHECK(perm == rc->permanent, "permanent(%s, %s) = %d", rc->action,
		    rc->status, perm);
		CHECK(bounce_status_reason_kind(r, perm) == rc->kind, "kind(%s, %s)",
		    rc->status, rc->reason);
	}
	/* Every reason has a name, and the names are distinct. */
	for (int a = 0; a < BOUNCE_REASON_NREASONS; a++)
		for (int b = a + 1; b < BOUNCE_REASON_NREASONS; b++)
			CHECK(strcmp(bounce_status_reason_name(a),
			    bounce_status_reason_name(b)) != 0, "reason %d = %d", a, b);
	CHECK_STR(bounce_status_reason_name(BOUNCE_REASON_NREASONS), "unknown", "range");

	/* A status guessed from the words: the reason's detail, the reply's class. */
	static const struct { const char *diag; int reply, temp; const char *st; } g[] = {
		{ "mailbox full", 552, 0, "5.2.2" }, { "user unknown", 450, 0, "4.1.1" },
		{ "retry timeout exceeded", 0, 0, "4.4.7" }, { "no idea", 0, 1, "4.0.0" },
		{ "no idea", 554, 0, "5.0.0" }, { "message rejected as spam", 0, 0, "5.7.1" },
	};
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		char st[BOUNCE_STATUS_MAX];
		bounce_status_guess(g[i].diag, g[i].reply, g[i].temp, st);
		CHECK_STR(st, g[i].st, g[i].diag);
	}
}

/* Original-Recipient (the address as sent) is named; both fields are kept. */
static void
test_original(void)
{
	static const char msg[] =
		DSN_HEAD
		"Final-Recipient: rfc822; store-7@mx.example.net\n"
		"Original-Recipient: rfc822; alias@example.org\n"
		"Action: failed\n"
		"Status: 5.1.1\n"
		"\n"
		"--B--\n";
	struct bounce_report r;

	bounce_parse(msg, strlen(msg), &r);
	CHECK(r.nrcpts == 1, "original: %zu recipients", r.nrcpts);
	if (r.nrcpts == 1) {
		struct bounce_rcpt *rc = &r.rcpts[0];
		CHECK_STR(rc->recipient, "alias@example.org", "Original-Recipient first");
		CHECK_STR(rc->original_recipient, "alias@example.org", "original kept");
		CHECK_STR(rc->final_recipient, "store-7@mx.example.net", "final kept");
	}
	bounce_report_clear(&r);
}

/* Inputs found by fuzzing or that once misled the parser: must not crash or leak. */
static const struct {
	const char	*name;
	const char	*msg;
	size_t		 len;		/* 0: strlen */
} odd_cases[] = {
	{ "nul bytes", "From: mailer-daemon@x\n\n\0\0 user@x.y\0 550 5.1.1\n", 40 },
	{ "dsn without value", "Content-Type: message/delivery-status\n\n"
	  "Final-Recipient:\nStatus:\nDiagnostic-Code:\n", 0 },
	{ "dsn folding at end", "Content-Type: message/delivery-status\n\n"
	  "Final-Recipient: rfc822; a@b.c\n Diagnostic-Code: x\n \n\t", 0 },
	{ "long dotted numbers", "From: postmaster@x.y\nSubject: Undelivered\n\n"
	  "a@b.cc 5.1.1.1.1 4.4.4444 550-550 5.5.5.5\n", 0 },
	{ "address at edges", "From: postmaster@x.y\n\n@\n@@\n.@.\na@\n@b.c\nx@[1.2\n", 0 },
	{ "multipart no boundary", "Content-Type: multipart/report\n\n"
	  "Final-Recipient: rfc822; z@example.org\nAction: failed\n", 0 },
	{ "crlf", "From: MAILER-DAEMON@x.y\r\nSubject: failure notice\r\n\r\n"
	  "<a@example.org>:\r\nRemote host said: 550 5.1.1 no\r\n", 0 },
};

static void
test_odd(void)
{
	for (size_t i = 0; i < sizeof(odd_cases) / sizeof(odd_cases[0]); i++) {
		struct bounce_report r;
		size_t len = odd_cases[i].len ? odd_cases[i].len : strlen(odd_cases[i].msg);
		bounce_parse(odd_cases[i].msg, len, &r);
		for (size_t k = 0; k < r.nrcpts; k++)
			CHECK(r.rcpts[k].recipient != NULL && r.rcpts[k].diagnostic != NULL &&
			    r.rcpts[k].action != NULL, "%s: NULL field", odd_cases[i].name);
		bounce_report_clear(&r);
		CHECK(1, "%s", odd_cases[i].name);
	}
	/* The boundary-less report still yields its recipient. */
	struct bounce_report r;
	const char *m = odd_cases[5].msg;
	bounce_parse(m, strlen(m), &r);
	CHECK(r.nrcpts == 1 && strcmp(r.rcpts[0].recipient, "z@example.org") == 0,
	    "multipart no boundary: %zu recipients", r.nrcpts);
	bounce_report_clear(&r);
	m = odd_cases[6].msg;
	bounce_parse(m, strlen(m), &r);
	CHECK(r.type == BOUNCE_FAILURE && r.nrcpts == 1 &&
	    strcmp(r.rcpts[0].status, "5.1.1") == 0, "crlf qmail: %zu recipients",
	    r.nrcpts);
	bounce_report_clear(&r);
}

int
main(void)
{
	bounce_parse_init();
	test_parse();
	test_kind();
	test_reason();
	test_original();
	test_odd();
	T_DONE();
}

/*
 * bounce_parse: a pure parser for the notifications that come back into an account's
 * mailbox after a provider accepted a message: RFC 3464 delivery status reports and
 * the common non-standard text bounces (Exim/Mail.ru, Postfix, Sendmail, qmail,
 * Gmail, Yandex, Outlook/Office 365...). It says what a message is (failure, delay,
 * delivered, auto-reply, feedback report, or none of these), which recipients failed
 * and why, and which Message-ID the notification quotes, so imap_watch can match it
 * to what was sent. No I/O, no logging: a buffer in, a report out. MIME is GMime's
 * job; the report fields and the text forms are parsed here.
 */
#ifndef RELAYD_BOUNCE_PARSE_H
#define RELAYD_BOUNCE_PARSE_H

#include <stddef.h>

#include "bounce_status.h"

/* What a message is. Only BOUNCE_FAILURE means "a recipient failed". */
enum bounce_type {
	BOUNCE_NONE = 0,	/* not a notification at all */
	BOUNCE_FAILURE,		/* at least one recipient failed for good */
	BOUNCE_DELAY,		/* still being retried (RFC 3464 Action: delayed) */
	BOUNCE_DELIVERED,	/* success DSN (delivered, relayed, expanded) */
	BOUNCE_AUTOREPLY,	/* RFC 3834 auto-reply, vacation, out-of-office */
	BOUNCE_FEEDBACK,	/* abuse/complaint report (ARF, RFC 5965) */
};

/* One recipient of a report. Strings are owned by the report. */
struct bounce_rcpt {
	char		*recipient;	/* "a@example.org", bare; never NULL */
	char		 status[BOUNCE_STATUS_MAX]; /* RFC 3463 "5.1.1"; "" if unknown */
	enum bounce_kind kind;		/* from reason and permanent, see bounce_status_kind */
	char		*action;	/* "failed", "delayed", ...; never NULL */
	int		 reply_code;	/* SMTP reply code (550), 0 if none */
	char		*diagnostic;	/* the remote's words, one line; never NULL */
	int		 permanent;	/* 1: 5.x.x, failed for good; 0: 4.x.x, delayed */
	enum bounce_reason reason;
	char		*original_recipient; /* DSN Original-Recipient, bare; "" if none */
	char		*final_recipient; /* DSN Final-Recipient, bare; "" if none */
};

/* The result of bounce_parse. Fill with bounce_parse, empty with bounce_report_clear. */
struct bounce_report {
	enum bounce_type type;
	char		*message_id;	/* original Message-ID without <>, NULL if not quoted */
	struct bounce_rcpt *rcpts;
	size_t		 nrcpts;
};

/*
 * bounce_parse_init: initialise GMime once. bounce_parse calls it itself; a threaded
 * program calls it once at start-up, before any thread parses.
 */
void	bounce_parse_init(void);

/*
 * bounce_parse: parse the message buf[0..len) (CRLF or LF line ends; a leading mbox
 * "From " line is skipped) into *out, which it initialises first: the caller needs no
 * prior setup but must call bounce_report_clear(out) afterwards, whatever the result.
 * Recipients are listed for failures and delays (and delivered reports), never for
 * auto-replies, list-server replies, challenge-response requests or feedback reports. Returns 0; -1 only when len is 0 or buf is not a
 * message GMime can read (out then says BOUNCE_NONE). Never prints.
 */
int	bounce_parse(const char *buf, size_t len, struct bounce_report *out);

/* bounce_report_clear: free what bounce_parse allocated and zero *r; NULL is a no-op. */
void	bounce_report_clear(struct bounce_report *r);

/*
 * bounce_parse_kind: classify one failed recipient from its RFC 3463 status ("5.1.1",
 * may be "" or NULL) and the diagnostic text (may be NULL): bounce_status_kind, that
 * is the kind of its reason (bounce_status_reason) for a permanent failure,
 * BOUNCE_SOFT for a 4.x.x status (a temporary failure never suppresses),
 * BOUNCE_KIND_NONE for 2.x.x. bounce_parse may further soften a recipient: a "user
 * unknown" refused after DATA is a filter's (reason spam_or_content), and a delayed
 * one is not permanent.
 */
enum bounce_kind bounce_parse_kind(const char *status, const char *diagnostic);

/* bounce_parse_type_name: "none", "failure", "delay", "delivered", "autoreply", "feedback". */
const char	*bounce_parse_type_name(enum bounce_type);
/* bounce_parse_kind_name: "none", "hard", "soft". */
const char	*bounce_parse_kind_name(enum bounce_kind);

#endif

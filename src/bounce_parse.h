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

/* What a message is. Only BOUNCE_FAILURE means "a recipient failed". */
enum bounce_type {
	BOUNCE_NONE = 0,	/* not a notification at all */
	BOUNCE_FAILURE,		/* at least one recipient failed for good */
	BOUNCE_DELAY,		/* still being retried (RFC 3464 Action: delayed) */
	BOUNCE_DELIVERED,	/* success DSN (delivered, relayed, expanded) */
	BOUNCE_AUTOREPLY,	/* RFC 3834 auto-reply, vacation, out-of-office */
	BOUNCE_FEEDBACK,	/* abuse/complaint report (ARF, RFC 5965) */
};

/* How bad a recipient's failure is, for suppression. */
enum bounce_kind {
	BOUNCE_KIND_NONE = 0,	/* not a failure (delivered) */
	BOUNCE_HARD,		/* the address is gone: unknown user/domain, moved */
	BOUNCE_SOFT,		/* mailbox full, temporary, policy, spam, throttling */
};

/*
 * Why a recipient failed: the taxonomy of bounce_status.c (its reason table gives each
 * its name, its kind and its RFC 3463 subject.detail). The names follow sisimai's
 * reasons, merged where the difference does not change what relayd does.
 */
enum bounce_reason {
	BOUNCE_REASON_UNKNOWN = 0,	/* "unknown": the notice does not say */
	BOUNCE_REASON_USER_UNKNOWN,	/* "user_unknown": no such mailbox (X.1.1) */
	BOUNCE_REASON_MAILBOX_DISABLED,	/* "mailbox_disabled": closed, suspended (X.2.1) */
	BOUNCE_REASON_HAS_MOVED,	/* "has_moved": moved, no forwarding (X.1.6) */
	BOUNCE_REASON_HOST_UNKNOWN,	/* "host_unknown": no such domain, no MX (X.1.2) */
	BOUNCE_REASON_NOT_ACCEPT,	/* "not_accept": the host takes no mail (X.3.2) */
	BOUNCE_REASON_MAILBOX_FULL,	/* "mailbox_full": over quota (X.2.2) */
	BOUNCE_REASON_TOO_LARGE,	/* "too_large": message over a size limit (X.3.4) */
	BOUNCE_REASON_SPAM_OR_CONTENT,	/* "spam_or_content": spam, virus, filter (X.7.1) */
	BOUNCE_REASON_POLICY,		/* "policy": blocked IP, DMARC/SPF, PTR (X.7.1) */
	BOUNCE_REASON_RATE_LIMITED,	/* "rate_limited": too many, too fast (X.7.1) */
	BOUNCE_REASON_RELAY_DENIED,	/* "relay_denied": the host does not relay (X.7.1) */
	BOUNCE_REASON_SENDER_REJECTED,	/* "sender_rejected": our sender refused (X.1.8) */
	BOUNCE_REASON_EXPIRED,		/* "expired": retried until it gave up (X.4.7) */
	BOUNCE_REASON_NETWORK_ERROR,	/* "network_error": connection, DNS trouble (X.4.1) */
	BOUNCE_REASON_SYSTEM_ERROR,	/* "system_error": the remote's fault (X.3.0) */
	BOUNCE_REASON_NREASONS
};

#define BOUNCE_STATUS_MAX	16	/* "5.1.10" and room to spare */

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

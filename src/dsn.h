/*
 * dsn: the pure builder of the delivery status reports (RFC 3464) relayd mails to
 * events.dsn_to, one per failed or bounced recipient (events_dsn.c gathers the facts
 * and enqueues the text). No I/O: facts in, a CRLF message out. Also the checks that
 * keep reports from looping: whether a header block is itself a report, and whether
 * a Message-ID is one of relayd's reports.
 */
#ifndef RELAYD_DSN_H
#define RELAYD_DSN_H

#include <stddef.h>
#include <time.h>

/* The prefix of the local part of every report's Message-ID. */
#define DSN_MSGID_PREFIX	"relayd-dsn."

/* The facts of one report. Strings may hold anything (they are cleaned); NULL: unknown. */
struct dsn_facts {
	const char	*hostname;	/* relayd's name: Reporting-MTA, From: MAILER-DAEMON@ */
	const char	*to;		/* where the report goes (dsn_to); never NULL */
	const char	*queue_id;	/* relayd's queue id of the original */
	const char	*message_id;	/* the original's Message-ID, with or without <> */
	const char	*recipient;	/* the recipient that failed; never NULL */
	const char	*status;	/* RFC 3463 "5.1.1"; NULL or "": from reply, else 5.0.0 */
	const char	*reply;		/* the reply or diagnostic, as relayd got it */
	const char	*remote_mta;	/* "smtp.example[192.0.2.1]:465" or a host; may be NULL */
	const char	*why;		/* one line for the human part: "refused", "expired"... */
	time_t		 arrival;	/* when relayd accepted the original; 0: unknown */
	time_t		 now;		/* the report's Date: and Last-Attempt-Date */
	const char	*headers;	/* the original's header block, or NULL */
	size_t		 headers_len;
};

/*
 * dsn_build: the report as a whole message (header and body, CRLF lines, no line
 * over 998 octets): multipart/report; report-type=delivery-status with a text/plain
 * part, a message/delivery-status part (Reporting-MTA, Arrival-Date, and for the
 * recipient Final-Recipient, Action: failed, Status, Remote-MTA, Diagnostic-Code,
 * Last-Attempt-Date) and a text/rfc822-headers part (the original's header block,
 * or what is known of it: Message-ID and To). The report carries Auto-Submitted:
 * auto-replied and X-Relayd-Report: 1, and the Message-ID dsn_message_id gives.
 * Returns a new string (xmalloc; the caller frees it) of *len octets; *header_len is
 * the size of its own header block, empty line included.
 */
char	*dsn_build(const struct dsn_facts *, size_t *len, size_t *header_len);

/*
 * dsn_message_id: the report's Message-ID, with <>, for the original queue_id and
 * recipient: "<relayd-dsn.QUEUEID.HASH@hostname>". The same facts give the same id:
 * it is the report's idempotency key. A new string.
 */
char	*dsn_message_id(const char *hostname, const char *queue_id, const char *recipient);

/* dsn_is_own: 1 if message_id (with or without <>) is one of relayd's reports. */
int	 dsn_is_own(const char *message_id);

/*
 * dsn_is_report: 1 if the header block hdr[0..len) is itself a report or an automatic
 * message: X-Relayd-Report, Auto-Submitted other than "no" (RFC 3834), or Content-Type
 * multipart/report. Field names are matched without case, folded lines unfolded.
 */
int	 dsn_is_report(const char *hdr, size_t len);

/*
 * dsn_status: the RFC 3463 status in an SMTP reply ("550 5.1.1 ..." -> "5.1.1"), else
 * from its code (5xx -> "5.0.0", 4xx -> "4.0.0"), else "5.0.0"; written to out (at
 * least 16 octets).
 */
void	 dsn_status(const char *reply, char out[16]);

#endif

/*
 * sendmail_smtp: relay-sendmail's SMTP client. It hands one message to relayd's
 * listener in a plain lock-step dialogue (no PIPELINING: one command, one reply), and
 * says in one sentence what happened. Blocking I/O with a timeout per state: the
 * command runs once and exits, there is no event loop to share.
 */
#ifndef RELAYD_SENDMAIL_SMTP_H
#define RELAYD_SENDMAIL_SMTP_H

#include <stddef.h>

#include "sendmail.h"

/* One submission. Everything is borrowed. */
struct sendmail_smtp_job {
	const char	*addr;		/* relayd's listener, "127.0.0.1:2525" or "[::1]:2525" */
	const char	*helo;		/* the name given in EHLO */
	const char	*sender;	/* envelope sender; "" for the null sender <> */
	const struct sendmail_rcpts *rcpts;
	const char	*data;		/* the DATA payload (sendmail_dotstuff), ".\r\n" last */
	size_t		 datalen;
	size_t		 size;		/* the message size, for SIZE= when offered */
	int		 eightbit;	/* the message has 8-bit octets: BODY=8BITMIME */
	int		 verbose;	/* show the dialogue (not the message) on stderr */
};

/*
 * sendmail_smtp_submit: submit the job. Recipients go in one transaction, or in
 * several when relayd answers 452 (too many recipients) after taking some: the rest
 * follow in the next (RFC 5321 4.5.3.1.10).
 * Returns a sysexits(3) status: EX_OK (queued as the ids put in queued),
 * EX_UNAVAILABLE (relayd cannot be reached, or refuses the session), EX_TEMPFAIL (a
 * 4xx reply, a timeout, or the connection lost: try again), EX_DATAERR (the message
 * or the sender refused with 5xx), EX_NOUSER (a recipient refused with 5xx: nothing
 * is sent in that transaction), EX_PROTOCOL (relayd's reply makes no sense).
 * msg receives one sentence saying what happened, with relayd's reply when there is
 * one ("relayd refused recipient <a@b>: 550 5.1.1 ...; the message was not sent").
 */
int	sendmail_smtp_submit(const struct sendmail_smtp_job *job, char *queued,
	    size_t queuedlen, char *msg, size_t msglen);

/*
 * sendmail_smtp_relay: -bs mode. The caller speaks SMTP itself on in/out; connect to
 * relayd at addr and copy bytes both ways until relayd closes the session, so the
 * caller gets relayd's own replies (a 250 after DATA means queued durably). When in
 * ends first, the write half to relayd is shut and relayd's last replies still go
 * out. If relayd cannot be reached, a 421 reply saying so is written to out.
 * Returns EX_OK, EX_UNAVAILABLE (relayd unreachable) or EX_IOERR (in or out failed);
 * msg receives one sentence unless EX_OK.
 */
int	sendmail_smtp_relay(const char *addr, int in, int out, char *msg, size_t msglen);

#endif

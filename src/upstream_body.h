/*
 * upstream_body: a queued message on its way out after the provider's 354: read from
 * its spool file in pieces as the output drains, the header block rewritten on the way
 * (rewrite.c), every line dot-stuffed (smtp_data.c), and the final "." added after a
 * CRLF (RFC 5321 4.5.2). No sockets here: it fills an evbuffer.
 */
#ifndef RELAYD_UPSTREAM_BODY_H
#define RELAYD_UPSTREAM_BODY_H

#include <stdint.h>

#include <event2/buffer.h>

struct queue_msg;

struct upstream_body {
	int		 fd;		/* the spool file, owned; -1: none */
	uint64_t	 off, left;	/* where the next piece starts, octets left */
	int		 bol;		/* at the beginning of a line (for stuffing) */
	int		 dot;		/* the final "." is in the output */
	char		 last[2];	/* the last two octets read */
};

/* upstream_body_init: no message yet (fd -1). */
void	upstream_body_init(struct upstream_body *);

/*
 * upstream_body_start: begin message m from fd (owned from now on, even on error):
 * its header block rewritten to come from address (rewrite_headers) into out, then the
 * first pieces of the body. Returns 0, or -1 if the file cannot be read.
 */
int	upstream_body_start(struct upstream_body *, int fd, const struct queue_msg *m,
	    const char *address, struct evbuffer *out);

/*
 * upstream_body_fill: top up out with the next pieces while it holds less than a
 * chunk; after the last one, the final ".". Returns 0, or -1 after logging under m's
 * queue id if the file cannot be read.
 */
int	upstream_body_fill(struct upstream_body *, const struct queue_msg *m,
	    struct evbuffer *out);

/* upstream_body_close: close the spool file (its name may be reused); none: no-op. */
void	upstream_body_close(struct upstream_body *);

#endif

/*
 * imap_parse: a pure parser for the server's side of an IMAP4rev1 conversation
 * (RFC 3501 section 7 and 9): framing of one response (a line, plus the literals
 * {n} it announces and the lines after them), and the reading of a response into
 * its kind (tagged, untagged, continuation), status, response code, and for FETCH
 * the UID and the message body. No I/O, no allocation, no logging: imap_watch feeds
 * it what the server sent.
 */
#ifndef RELAYD_IMAP_PARSE_H
#define RELAYD_IMAP_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IMAP_TAG_MAX		32	/* longer tags are malformed (ours are "A123") */
#define IMAP_ATOM_MAX		32	/* keyword and response code names */
#define IMAP_LITERAL_MAX	(64 * 1024 * 1024)	/* larger literals are refused */

enum imap_kind {
	IMAP_TAGGED,		/* "A1 OK ..." */
	IMAP_UNTAGGED,		/* "* ..." */
	IMAP_CONTINUE,		/* "+ ..." */
};

enum imap_status {
	IMAP_ST_NONE = 0,	/* not a status response ("* 3 EXISTS", "* CAPABILITY") */
	IMAP_ST_OK,
	IMAP_ST_NO,
	IMAP_ST_BAD,
	IMAP_ST_PREAUTH,
	IMAP_ST_BYE,
};

/* A piece of the parsed buffer (not NUL-terminated; p is NULL when len is 0). */
struct imap_span {
	const char	*p;
	size_t		 len;
};

/* One parsed response. Spans point into the buffer given to imap_parse_response. */
struct imap_response {
	enum imap_kind	 kind;
	char		 tag[IMAP_TAG_MAX];	/* tagged: the tag; else "" */
	enum imap_status status;
	/* Status responses: "[CODE args]" (code upper-cased, "" if none) and the text. */
	char		 code[IMAP_ATOM_MAX];
	struct imap_span code_arg;
	struct imap_span text;			/* also a continuation's text */
	/* Untagged data: "* 12 EXISTS" has number 12, keyword "EXISTS";
	 * "* CAPABILITY IMAP4rev1 IDLE" keyword "CAPABILITY", rest "IMAP4rev1 IDLE". */
	int		 has_number;
	uint32_t	 number;
	char		 keyword[IMAP_ATOM_MAX];	/* upper-cased; status word for status */
	struct imap_span rest;			/* up to the final CRLF */
	/* FETCH: the UID and the BODY[] (or BODY[]<0>) contents, if present. */
	uint32_t	 uid;			/* 0: none */
	int		 has_body;
	struct imap_span body;
};

/*
 * imap_parse_literal: does line[0..len) (without its CRLF) end with a literal's
 * announcement "{n}" or "{n+}" (RFC 7888)? Returns 1 with *n set, 0 if it does not,
 * -1 if it does but n is not a number or exceeds IMAP_LITERAL_MAX.
 */
int	imap_parse_literal(const char *line, size_t len, uint64_t *n);

/*
 * imap_parse_frame: the length of the first complete response at buf[0..len),
 * through the CRLF that ends it, literals included. Returns 0 when more data is
 * needed, -1 when the response is malformed (a bad literal) or longer than max.
 * A line ending in a bare LF is accepted as if it ended in CRLF.
 */
ssize_t	imap_parse_frame(const char *buf, size_t len, size_t max);

/*
 * imap_parse_response: read one complete response buf[0..len) (as framed by
 * imap_parse_frame; the final CRLF may be there or not) into *r, which it fills
 * entirely. Returns 0, or -1 when it is not a valid response (r is then unusable).
 * FETCH attributes other than UID and BODY[] are skipped, lists and literals
 * included; a BODY[section] other than the whole message is skipped too.
 */
int	imap_parse_response(const char *buf, size_t len, struct imap_response *r);

/*
 * imap_parse_has_cap: is cap (e.g. "IDLE", "AUTH=PLAIN") one of the space-separated
 * capabilities in caps? Case-insensitive. Returns 1 or 0.
 */
int	imap_parse_has_cap(const struct imap_span *caps, const char *cap);

/* imap_parse_status_name: "OK", "NO", "BAD", "PREAUTH", "BYE" or "" for none. */
const char *imap_parse_status_name(enum imap_status);

#endif

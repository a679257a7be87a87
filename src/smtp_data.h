/*
 * smtp_data: the DATA reader. A pure, incremental state machine fed the raw octets a
 * client sends after "354"; it removes dot-stuffing (RFC 5321 4.5.2), finds the end of
 * data, and refuses what SMTP smuggling needs (CVE-2023-51764 class): the only end of
 * data is CR LF "." CR LF, and a bare CR or bare LF anywhere stops the reader at once
 * with SMTP_DATA_BAD_EOL rather than being normalised (the caller then replies 521 and
 * closes). A lone "." followed by anything but CRLF is therefore also refused.
 *
 * Output is the message as it will be stored: CRLF line ends, dots unstuffed, without
 * the final ".CRLF". The reader never allocates.
 */
#ifndef RELAYD_SMTP_DATA_H
#define RELAYD_SMTP_DATA_H

#include <stddef.h>

#define SMTP_DATA_LINE_MAX	1000	/* text line incl. CRLF, RFC 5321 4.5.3.1.6 */

enum smtp_data_status {
	SMTP_DATA_MORE,		/* all input consumed; feed more */
	SMTP_DATA_END,		/* end of data found; input after it is the next command */
	SMTP_DATA_BAD_EOL,	/* bare CR or LF, or NUL: refuse the message */
};

struct smtp_data {
	int		state;		/* private: position relative to line start */
	size_t		linelen;	/* octets in the current line so far */
	size_t		total;		/* message octets output so far */
	int		long_line;	/* a line exceeded SMTP_DATA_LINE_MAX */
	int		eightbit;	/* an octet >= 0x80 was seen */
};

/* smtp_data_init: prepare the reader for a new message (the state right after 354). */
void	smtp_data_init(struct smtp_data *);

/*
 * smtp_data_feed: consume up to n octets of in. Message octets are written to out,
 * which must hold n octets (output never exceeds input); *outlen receives how many.
 * *used receives how many input octets were consumed: all n for SMTP_DATA_MORE; up
 * to and including the final CRLF.CRLF for SMTP_DATA_END; up to the offending octet
 * for SMTP_DATA_BAD_EOL. Feeding after END or BAD_EOL needs smtp_data_init first.
 * Chunk boundaries never change the result (the tests feed one octet at a time too).
 */
enum smtp_data_status smtp_data_feed(struct smtp_data *, const char *in, size_t n,
	    char *out, size_t *outlen, size_t *used);

/*
 * smtp_data_stuff: dot-stuff for sending upstream. Copies in[0..n) to out (which must
 * hold 2*n octets), doubling a "." that starts a line; *bol says whether in starts at
 * the beginning of a line and is updated for the next call. Returns octets written.
 */
size_t	smtp_data_stuff(const char *in, size_t n, char *out, int *bol);

#endif

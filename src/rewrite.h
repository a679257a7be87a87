/*
 * rewrite: the header changes relayd makes to a message before it goes to the
 * provider, which refuses mail whose sender is not the logged-in account:
 *   - From: gets the account address; its display name is kept;
 *   - the address the app meant (the original From:, else the envelope sender) goes
 *     into Reply-To:, unless the message already has a Reply-To:, and unless it is the
 *     account address itself;
 *   - Sender: and Return-Path: are removed;
 *   - a Message-ID: is added when there is none.
 * Every other octet of the header, and the whole body, is left as it was.
 * Pure functions over buffers: unit-tested and fuzzed (tests/fuzz/fuzz_rewrite.c).
 */
#ifndef RELAYD_REWRITE_H
#define RELAYD_REWRITE_H

#include <stddef.h>

#define REWRITE_HEADER_MAX	(256 * 1024)	/* largest header block relayd accepts */

/* What rewrite_scan learns from a header block. */
struct rewrite_info {
	size_t	header_len;		/* octets of the header block incl. the empty line */
	int	complete;		/* 1: the empty line ending the header was found */
	char	message_id[256];	/* Message-ID value incl. <>, unfolded, "" if none */
	char	from_addr[256];		/* address of the first From: mailbox, "" if none */
};

/*
 * rewrite_scan: scan the start of a message (CRLF lines) for the end of its header
 * block and the Message-ID and From: address. buf may hold only the first part of the
 * message: complete is 0 (and header_len == len) when no empty line was found within
 * len, and the caller may scan again with more. A message with no header block at all
 * (first line is not a header field) has header_len 0 and complete 1; when the first
 * line is empty, header_len is 2 (the empty block is just its CRLF), so that
 * buf + header_len is always the body. A line that is not a field (no "name:") ends
 * the block there, without an empty line. A last line still open at len (a field may
 * yet be continued) leaves complete 0. message_id and from_addr are "" when absent,
 * unparseable or too long for their arrays; from_addr comes from the first From: only.
 * Always returns 0.
 */
int	rewrite_scan(const char *buf, size_t len, struct rewrite_info *ri);

/*
 * rewrite_headers: produce the rewritten header block for one send.
 *   hdr, hdrlen:   the original header block, as measured by rewrite_scan (may be 0)
 *   account_addr:  the address the account sends as (becomes From: and the sender)
 *   env_sender:    the envelope sender the app gave ("" for <>)
 *   message_id:    added as "Message-ID: <...>" when the header has none (incl. <>)
 * *out receives a newly allocated block (xmalloc; the caller frees it), ending with
 * the empty line, and *outlen its length. Returns 0; never fails on odd input (an
 * unparseable From: is replaced whole, and its text goes nowhere else).
 * Details: the first From: is rewritten in place ("From: DISPLAY <account>
", or
 * "From: <account>
"; a name in a comment, "a@b (Name)", becomes the display
 * name); later From: fields are dropped. Added fields (From: when missing, Reply-To:,
 * Message-ID:) go at the end of the block, in that order, before the empty line.
 * message_id NULL or "" adds none; "<>" are added around it when missing. Octets of
 * hdr after its empty line are not header and are ignored.
 */
int	rewrite_headers(const char *hdr, size_t hdrlen, const char *account_addr,
	    const char *env_sender, const char *message_id, char **out, size_t *outlen);

#endif

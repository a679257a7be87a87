/*
 * upstream_body: the message body as upstream.c sends it after 354 (upstream_body.h
 * has the contract). The spool file is read with pread at the message's offsets
 * (queue.h: data_off, header_size, size), so nothing else moves its position.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "queue.h"
#include "rewrite.h"
#include "smtp_data.h"
#include "upstream_body.h"
#include "xmalloc.h"

#define UPSTREAM_BODY_CHUNK	(64 * 1024)

void
upstream_body_init(struct upstream_body *b)
{
	memset(b, 0, sizeof(*b));
	b->fd = -1;
}

void
upstream_body_close(struct upstream_body *b)
{
	if (b->fd != -1)
		close(b->fd);
	b->fd = -1;
}

int
upstream_body_start(struct upstream_body *b, int fd, const struct queue_msg *m,
    const char *address, struct evbuffer *out)
{
	char *hdr, *text, *stuffed;
	size_t len;
	int bol = 1;

	upstream_body_close(b);
	b->fd = fd;
	hdr = xmalloc(m->header_size + 1);
	if (m->header_size > 0 && pread(fd, hdr, m->header_size, (off_t)m->data_off) !=
	    (ssize_t)m->header_size) {
		free(hdr);
		return -1;
	}
	rewrite_headers(hdr, m->header_size, address, m->sender, m->message_id, &text, &len);
	free(hdr);
	stuffed = xmalloc(2 * len + 1);
	evbuffer_add(out, stuffed, smtp_data_stuff(text, len, stuffed, &bol));
	free(stuffed);
	free(text);
	b->off = m->data_off + m->header_size;
	b->left = m->size - m->header_size;
	b->bol = 1;	/* the header block ends with its empty line */
	b->dot = 0;
	memcpy(b->last, "\r\n", 2);
	return upstream_body_fill(b, m, out);
}

int
upstream_body_fill(struct upstream_body *b, const struct queue_msg *m, struct evbuffer *out)
{
	static char in[UPSTREAM_BODY_CHUNK], stuffed[2 * UPSTREAM_BODY_CHUNK];

	if (b->dot)
		return 0;
	while (b->left > 0 && evbuffer_get_length(out) < UPSTREAM_BODY_CHUNK) {
		size_t want = b->left < sizeof(in) ? (size_t)b->left : sizeof(in);
		ssize_t n = pread(b->fd, in, want, (off_t)b->off);

		if (n <= 0) {
			log_err("%s: spool: cannot read the message: %s", m->id,
			    n == 0 ? "file too short" : strerror(errno));
			return -1;
		}
		b->off += (uint64_t)n;
		b->left -= (uint64_t)n;
		if (n >= 2)
			memcpy(b->last, in + n - 2, 2);
		else {
			b->last[0] = b->last[1];
			b->last[1] = in[0];
		}
		evbuffer_add(out, stuffed, smtp_data_stuff(in, (size_t)n, stuffed, &b->bol));
	}
	if (b->left == 0) {
		/* The stored message ends with CRLF; make sure of it before the dot. */
		if (memcmp(b->last, "\r\n", 2) != 0)
			evbuffer_add(out, "\r\n", 2);
		evbuffer_add(out, ".\r\n", 3);
		b->dot = 1;
	}
	return 0;
}

/*
 * test_upstream_body: what goes out after 354: the spooled message with its lines
 * dot-stuffed, a CRLF made sure of before the final ".", read in pieces from the
 * message's offsets in its file; a short file is an error, not a truncated message.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "queue.h"
#include "t.h"
#include "upstream_body.h"
#include "xmalloc.h"

static const struct {
	const char	*name;
	const char	*body;		/* after the header block */
	const char	*want;		/* what follows the rewritten header */
} cases[] = {
	{ "plain", "hello\r\n", "hello\r\n.\r\n" },
	{ "dots stuffed", ".a\r\n..b\r\n.\r\n", "..a\r\n...b\r\n..\r\n.\r\n" },
	{ "no final CRLF", "x", "x\r\n.\r\n" },
	{ "empty", "", ".\r\n" },
};

/* run: the output for one case (the spool file holds junk before the message). */
static char *
run(const char *body, uint64_t short_by, int *rc)
{
	static const char pre[] = "ENVELOPE\n", hdr[] = "Subject: t\r\n\r\n";
	char path[] = "/tmp/test_upstream_body.XXXXXX";
	struct queue_msg m;
	struct upstream_body b;
	struct evbuffer *out = evbuffer_new();
	int fd = mkstemp(path);
	size_t len;
	char *s;

	unlink(path);
	if (write(fd, pre, sizeof(pre) - 1) < 0 || write(fd, hdr, sizeof(hdr) - 1) < 0 ||
	    write(fd, body, strlen(body)) < 0)
		perror("write");
	memset(&m, 0, sizeof(m));
	strcpy(m.id, "TESTID");
	m.sender = "app@crm.example";
	m.message_id = "<t@crm.example>";
	m.data_off = sizeof(pre) - 1;
	m.header_size = sizeof(hdr) - 1;
	m.size = m.header_size + strlen(body) + short_by;
	upstream_body_init(&b);
	*rc = upstream_body_start(&b, fd, &m, "shop@example.ru", out);
	while (*rc == 0 && !b.dot)
		*rc = upstream_body_fill(&b, &m, out);
	upstream_body_close(&b);
	upstream_body_close(&b);	/* twice: a no-op */
	len = evbuffer_get_length(out);
	s = xcalloc(1, len + 1);
	evbuffer_remove(out, s, len);
	evbuffer_free(out);
	return s;
}

int
main(void)
{
	char *got;
	int rc;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *p;

		got = run(cases[i].body, 0, &rc);
		CHECK(rc == 0, "%s: rc %d", cases[i].name, rc);
		p = strstr(got, "\r\n\r\n");
		CHECK(p != NULL, "%s: no header block in \"%s\"", cases[i].name, got);
		CHECK(strstr(got, "Subject: t\r\n") != NULL, "%s: %s", cases[i].name, got);
		if (p != NULL)
			CHECK_STR(p + 4, cases[i].want, cases[i].name);
		free(got);
	}
	/* The file ends before the message does: an error (logged), never a ".". */
	got = run("short", 10, &rc);
	CHECK(rc == -1, "short file: rc %d", rc);
	CHECK(strstr(got, "\r\n.\r\n") == NULL, "short file ended with a dot: %s", got);
	free(got);
	T_DONE();
}

/*
 * fuzz_imap_parse: libFuzzer target for the IMAP response parser. The input is what
 * a server might send: it is cut into responses with imap_parse_frame, the way
 * imap_watch does, and each is read with imap_parse_response. Whatever is accepted
 * must be self-consistent: frames lie inside the input, spans inside their frame,
 * tags and keywords are NUL-terminated atoms, a UID is never 0.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *       tests/fuzz/fuzz_imap_parse.c src/imap_parse.c -o fuzz_imap_parse
 *   ./fuzz_imap_parse tests/fuzz/seeds/imap_parse
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_inside: s is empty or lies within [p, p+len). */
static void
fuzz_inside(const struct imap_span *s, const char *p, size_t len)
{
	if (s->len == 0)
		return;
	if (s->p == NULL || s->p < p || s->p + s->len > p + len)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		ssize_t n = imap_parse_frame((const char *)data + off, size - off, 1 << 20);

		if (n <= 0)
			break;
		if ((size_t)n > size - off)
			abort();
		/* an exact-size copy, so reading past the frame is caught */
		char *f = malloc((size_t)n);
		struct imap_response r;

		memcpy(f, data + off, (size_t)n);
		if (imap_parse_response(f, (size_t)n, &r) == 0) {
			if (memchr(r.tag, '\0', sizeof(r.tag)) == NULL ||
			    memchr(r.keyword, '\0', sizeof(r.keyword)) == NULL ||
			    memchr(r.code, '\0', sizeof(r.code)) == NULL)
				abort();
			if ((r.kind == IMAP_TAGGED) != (r.tag[0] != '\0'))
				abort();
			if (r.kind == IMAP_TAGGED && r.status != IMAP_ST_OK &&
			    r.status != IMAP_ST_NO && r.status != IMAP_ST_BAD)
				abort();
			if (r.has_number && r.status != IMAP_ST_NONE)
				abort();
			fuzz_inside(&r.code_arg, f, (size_t)n);
			fuzz_inside(&r.text, f, (size_t)n);
			fuzz_inside(&r.rest, f, (size_t)n);
			fuzz_inside(&r.body, f, (size_t)n);
			if (r.has_body && strcmp(r.keyword, "FETCH") != 0)
				abort();
			(void)imap_parse_has_cap(&r.code_arg, "IDLE");
			(void)imap_parse_has_cap(&r.rest, "AUTH=PLAIN");
		}
		free(f);
		off += (size_t)n;
	}
	return 0;
}

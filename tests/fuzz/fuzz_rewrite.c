/*
 * fuzz_rewrite: libFuzzer target for the header scan and rewrite. The input is the
 * start of a message. Checked: the scan stays within the input; the rewritten block
 * ends with its empty line, holds one From: and no Sender: or Return-Path:, scans
 * back (when the scan was complete) as one block whose From: is the account, and
 * rewriting it again changes nothing.
 * rewrite_headers is also run on the raw input, whatever it holds.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *       tests/fuzz/fuzz_rewrite.c src/rewrite.c src/xmalloc.c -o fuzz_rewrite
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rewrite.h"

#define ACCT	"acct@mail.example"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_fields: how many lines of b[0..n) start a field named name. */
static int
fuzz_fields(const char *b, size_t n, const char *name)
{
	size_t i, k = strlen(name), j;
	int count = 0;

	for (i = 0; i < n; i++) {
		if (i > 0 && b[i - 1] != '\n')
			continue;
		if (n - i < k || strncasecmp(b + i, name, k) != 0)
			continue;
		for (j = i + k; j < n && (b[j] == ' ' || b[j] == '\t'); j++)
			;
		if (j < n && b[j] == ':')
			count++;
	}
	return count;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rewrite_info ri, ri2;
	char *buf, *out, *out2;
	size_t outlen, outlen2;

	buf = malloc(size ? size : 1);		/* exact: overreads show */
	memcpy(buf, data, size);

	rewrite_scan(buf, size, &ri);
	if (ri.header_len > size || (!ri.complete && ri.header_len != size) ||
	    memchr(ri.message_id, '\0', sizeof(ri.message_id)) == NULL ||
	    memchr(ri.from_addr, '\0', sizeof(ri.from_addr)) == NULL ||
	    strpbrk(ri.from_addr, "\r\n") != NULL ||
	    strpbrk(ri.message_id, "\r\n") != NULL)
		abort();

	rewrite_headers(buf, ri.header_len, ACCT, "env@app.example",
	    "<fuzz@relay>", &out, &outlen);
	if (outlen < 3 || memcmp(out + outlen - 3, "\n\r\n", 3) != 0)
		abort();
	if (fuzz_fields(out, outlen, "from") != 1 ||
	    fuzz_fields(out, outlen, "sender") != 0 ||
	    fuzz_fields(out, outlen, "return-path") != 0 ||
	    fuzz_fields(out, outlen, "message-id") < 1)
		abort();
	/* an unfinished last line may stay a non-field line: then no re-scan */
	rewrite_scan(out, outlen, &ri2);
	if (ri.complete && (!ri2.complete || ri2.header_len != outlen ||
	    strcmp(ri2.from_addr, ACCT) != 0))
		abort();
	rewrite_headers(out, outlen, ACCT, "env@app.example", "<other@relay>",
	    &out2, &outlen2);
	if (outlen2 != outlen || memcmp(out, out2, outlen) != 0)
		abort();
	free(out2);
	free(out);

	/* not a measured block: must not crash, still ends with the empty line */
	rewrite_headers(buf, size, ACCT, "", NULL, &out, &outlen);
	if (outlen < 3 || memcmp(out + outlen - 3, "\n\r\n", 3) != 0)
		abort();
	free(out);
	free(buf);
	return 0;
}

/*
 * fuzz_outcome_reply: libFuzzer target for the reply model. The input is split into
 * lines at LF (the CR, if any, kept as a byte: upstream never passes one); each line
 * goes through outcome_reply_line until the reply ends or is refused. Whatever the
 * parser builds must hold its contract: the normalised form is NUL-terminated, r.len
 * long, shorter than OUTCOME_REPLY_MAX, valid UTF-8 without control characters, starts
 * with the 3-digit code; and classifying it at every stage never crashes.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *       tests/fuzz/fuzz_outcome_reply.c src/outcome.c src/log.c src/xmalloc.c ...
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "outcome.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_utf8_ok: is s valid UTF-8 (no overlongs, no surrogates) with no controls? */
static int
fuzz_utf8_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k;
		unsigned c = s[i];

		if (c < 0x20 || c == 0x7f)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
		if (k == 0 || c > 0xf4 || i + k > n)
			return 0;
		for (size_t j = 1; j < k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
		if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0) ||
		    (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))
			return 0;
		i += k;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct outcome_reply r;
	const char *p = (const char *)data, *end = p + size;
	int ret = 0;

	outcome_reply_init(&r);
	while (p < end && ret == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		ret = outcome_reply_line(&r, p, n);
		p += n + (nl != NULL);
	}
	if (r.nlines == 0 || ret == -1)
		return 0;
	if (r.len >= OUTCOME_REPLY_MAX || strlen(r.text) != r.len || r.len < 3 ||
	    r.code < 200 || r.code > 599 || r.text[0] != '0' + r.code / 100 ||
	    !fuzz_utf8_ok((const unsigned char *)r.text, r.len))
		abort();
	for (int s = 0; s < OUTCOME_NSTAGES; s++) {
		enum outcome_action a = outcome_classify(NULL, 0, s, r.text);

		if (a > OUTCOME_DISABLE)
			abort();
		(void)outcome_is_guess(s, r.text);
	}
	return 0;
}

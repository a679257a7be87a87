/*
 * fuzz_smtp_data: libFuzzer target for the DATA reader and the dot-stuffer.
 * The first input octet picks a split point; the rest is fed whole, then in two
 * pieces, then one octet at a time, and the results must agree. Output never exceeds
 * input, and whatever the reader accepted as a complete message must come back
 * unchanged through smtp_data_stuff and the reader again.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *       tests/fuzz/fuzz_smtp_data.c src/smtp_data.c src/xmalloc.c -o fuzz_smtp_data
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_data.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* One feeding's result. */
struct fuzz_result {
	enum smtp_data_status st;
	size_t		outlen, used;
	int		long_line, eightbit;
	char	       *out;
};

/* Feed in[0..n) in pieces split at each offset listed in cuts (ascending). */
static void
fuzz_feed(const char *in, size_t n, const size_t *cuts, size_t ncuts,
    struct fuzz_result *r)
{
	struct smtp_data d;
	size_t off = 0, i, end, olen, used;
	char *piece;

	smtp_data_init(&d);
	r->out = malloc(n + 1);
	r->outlen = r->used = 0;
	r->st = SMTP_DATA_MORE;
	for (i = 0; i <= ncuts && r->st == SMTP_DATA_MORE; i++) {
		end = i < ncuts ? cuts[i] : n;
		if (end < off)
			end = off;
		piece = malloc(end - off + 1);	/* exact: overreads show */
		memcpy(piece, in + off, end - off);
		r->st = smtp_data_feed(&d, piece, end - off, r->out + r->outlen,
		    &olen, &used);
		free(piece);
		if (olen > end - off || used > end - off)
			abort();
		if (r->st == SMTP_DATA_MORE && used != end - off)
			abort();
		r->outlen += olen;
		r->used += used;
		off = end;
	}
	if (r->outlen > r->used || d.total != r->outlen)
		abort();
	r->long_line = d.long_line;
	r->eightbit = d.eightbit;
}

static void
fuzz_same(const struct fuzz_result *a, const struct fuzz_result *b)
{
	if (a->st != b->st || a->outlen != b->outlen || a->used != b->used ||
	    a->long_line != b->long_line || a->eightbit != b->eightbit ||
	    memcmp(a->out, b->out, a->outlen) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_result whole, two, octets, again;
	const char *in;
	size_t n, cut, i, *cuts, w;
	char *wire;
	int bol;

	if (size < 1)
		return 0;
	in = (const char *)data + 1;
	n = size - 1;
	cut = n ? data[0] % (n + 1) : 0;

	fuzz_feed(in, n, NULL, 0, &whole);
	fuzz_feed(in, n, &cut, 1, &two);
	fuzz_same(&whole, &two);
	cuts = malloc((n + 1) * sizeof(*cuts));
	for (i = 0; i < n; i++)
		cuts[i] = i + 1;
	fuzz_feed(in, n, cuts, n, &octets);
	fuzz_same(&whole, &octets);
	free(cuts);

	/* What was accepted stuffs and reads back to itself. */
	if (whole.st == SMTP_DATA_END) {
		wire = malloc(2 * whole.outlen + 3);
		bol = 1;
		w = smtp_data_stuff(whole.out, whole.outlen, wire, &bol);
		if (w > 2 * whole.outlen || (whole.outlen > 0 && !bol))
			abort();
		memcpy(wire + w, ".\r\n", 3);
		fuzz_feed(wire, w + 3, NULL, 0, &again);
		if (again.st != SMTP_DATA_END || again.used != w + 3 ||
		    again.outlen != whole.outlen ||
		    memcmp(again.out, whole.out, whole.outlen) != 0)
			abort();
		free(again.out);
		free(wire);
	}
	free(whole.out);
	free(two.out);
	free(octets.out);
	return 0;
}

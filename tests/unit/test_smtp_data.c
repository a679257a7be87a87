/*
 * test_smtp_data: the DATA reader and the dot-stuffer, as tables of cases. Every
 * reader case is fed whole, one octet at a time and in random-size chunks, and all
 * three must give the same status, output, consumed count and flags.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_data.h"
#include "t.h"

#define S(x)	x, sizeof(x) - 1
#define ALL	((size_t)-1)	/* used == the whole input */

struct data_case {
	const char	*in;
	size_t		 inlen;
	enum smtp_data_status st;
	const char	*out;
	size_t		 outlen;
	size_t		 used;
	int		 eightbit;
};

static const struct data_case data_cases[] = {
	/* end of data */
	{ S(".\r\n"), SMTP_DATA_END, S(""), 3, 0 },
	{ S("a\r\n.\r\n"), SMTP_DATA_END, S("a\r\n"), 6, 0 },
	{ S("\r\n.\r\n"), SMTP_DATA_END, S("\r\n"), 5, 0 },
	{ S("a\r\n\r\n.\r\n"), SMTP_DATA_END, S("a\r\n\r\n"), 8, 0 },
	{ S("a\r\n.\r\nQUIT\r\n"), SMTP_DATA_END, S("a\r\n"), 6, 0 },
	{ S(".\r\n.\r\n"), SMTP_DATA_END, S(""), 3, 0 },
	{ S("Subject: x\r\n\r\nbody\r\n.\r\n"), SMTP_DATA_END,
	  S("Subject: x\r\n\r\nbody\r\n"), 23, 0 },
	/* dot-unstuffing, RFC 5321 4.5.2 */
	{ S("..\r\n.\r\n"), SMTP_DATA_END, S(".\r\n"), 7, 0 },
	{ S("..a\r\n.\r\n"), SMTP_DATA_END, S(".a\r\n"), 8, 0 },
	{ S("...\r\n.\r\n"), SMTP_DATA_END, S("..\r\n"), 8, 0 },
	{ S(".a\r\n.\r\n"), SMTP_DATA_END, S("a\r\n"), 7, 0 },
	{ S("a\r\n..\r\n.\r\n"), SMTP_DATA_END, S("a\r\n.\r\n"), 10, 0 },
	{ S("a.\r\n.\r\n"), SMTP_DATA_END, S("a.\r\n"), 7, 0 },
	{ S("a\r\n. \r\n.\r\n"), SMTP_DATA_END, S("a\r\n \r\n"), 10, 0 },
	{ S(". .\r\n.\r\n"), SMTP_DATA_END, S(" .\r\n"), 8, 0 },
	/* not yet the end */
	{ S(""), SMTP_DATA_MORE, S(""), ALL, 0 },
	{ S("a"), SMTP_DATA_MORE, S("a"), ALL, 0 },
	{ S("a\r\n"), SMTP_DATA_MORE, S("a\r\n"), ALL, 0 },
	{ S("a\r\n."), SMTP_DATA_MORE, S("a\r\n"), ALL, 0 },
	{ S("a\r\n.\r"), SMTP_DATA_MORE, S("a\r\n"), ALL, 0 },
	{ S("\r"), SMTP_DATA_MORE, S("\r"), ALL, 0 },
	{ S("a\r"), SMTP_DATA_MORE, S("a\r"), ALL, 0 },
	{ S("a\r\n.a"), SMTP_DATA_MORE, S("a\r\na"), ALL, 0 },
	{ S("\t\x01\x7f \r\n"), SMTP_DATA_MORE, S("\t\x01\x7f \r\n"), ALL, 0 },
	/* 8-bit */
	{ S("caf\xc3\xa9\r\n.\r\n"), SMTP_DATA_END, S("caf\xc3\xa9\r\n"), 10, 1 },
	{ S(".\xff\r\n.\r\n"), SMTP_DATA_END, S("\xff\r\n"), 7, 1 },
	{ S("a\r\n.\r\n\xff"), SMTP_DATA_END, S("a\r\n"), 6, 0 },
	/* SMTP smuggling (CVE-2023-51764 class): never an end of data */
	{ S("a\n.\n"), SMTP_DATA_BAD_EOL, S("a"), 1, 0 },
	{ S("a\r\n.\n"), SMTP_DATA_BAD_EOL, S("a\r\n"), 4, 0 },
	{ S("a\n.\r\n"), SMTP_DATA_BAD_EOL, S("a"), 1, 0 },
	{ S("a\r.\r"), SMTP_DATA_BAD_EOL, S("a\r"), 2, 0 },
	{ S("a\r.\r\n"), SMTP_DATA_BAD_EOL, S("a\r"), 2, 0 },
	{ S("a\r\n.\r.\r\n"), SMTP_DATA_BAD_EOL, S("a\r\n"), 5, 0 },
	{ S("a\r\n.\r\r\n"), SMTP_DATA_BAD_EOL, S("a\r\n"), 5, 0 },
	{ S("a\r\n\n.\r\n"), SMTP_DATA_BAD_EOL, S("a\r\n"), 3, 0 },
	{ S("a\n\r\n.\r\n"), SMTP_DATA_BAD_EOL, S("a"), 1, 0 },
	{ S("a\r\r\n.\r\n"), SMTP_DATA_BAD_EOL, S("a\r"), 2, 0 },
	{ S("a\r\n\0.\r\n"), SMTP_DATA_BAD_EOL, S("a\r\n"), 3, 0 },
	{ S("a\r\n.\0\r\n"), SMTP_DATA_BAD_EOL, S("a\r\n"), 4, 0 },
	{ S("a\r\n.\r\0\n"), SMTP_DATA_BAD_EOL, S("a\r\n"), 5, 0 },
	{ S("a\r\0\n.\r\n"), SMTP_DATA_BAD_EOL, S("a\r"), 2, 0 },
	{ S("a\0\r\n.\r\n"), SMTP_DATA_BAD_EOL, S("a"), 1, 0 },
	{ S(".\n"), SMTP_DATA_BAD_EOL, S(""), 1, 0 },
	{ S(".\r"), SMTP_DATA_MORE, S(""), ALL, 0 },
	{ S(".\rX"), SMTP_DATA_BAD_EOL, S(""), 2, 0 },
	{ S("\n"), SMTP_DATA_BAD_EOL, S(""), 0, 0 },
	{ S("\0"), SMTP_DATA_BAD_EOL, S(""), 0, 0 },
	{ S("\r\r"), SMTP_DATA_BAD_EOL, S("\r"), 1, 0 },
	{ S("abc\ndef\r\n.\r\n"), SMTP_DATA_BAD_EOL, S("abc"), 3, 0 },
	{ S("x\r\n..\n.\r\n"), SMTP_DATA_BAD_EOL, S("x\r\n."), 5, 0 },
	{ S("\xff\n"), SMTP_DATA_BAD_EOL, S("\xff"), 1, 1 },
};

/* One feeding strategy's result. */
struct data_result {
	enum smtp_data_status st;
	char		*out;
	size_t		 outlen;
	size_t		 used;
	struct smtp_data d;
};

static uint32_t rng = 12345;

static uint32_t
test_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* Feed in[] with chunks of size chunk (0: whole, SIZE_MAX: random 1..17). */
static void
data_run(const char *in, size_t inlen, size_t chunk, struct data_result *r)
{
	size_t off = 0, k, olen, used;
	char *buf;

	r->out = malloc(inlen + 1);
	r->outlen = 0;
	r->used = 0;
	r->st = SMTP_DATA_MORE;
	smtp_data_init(&r->d);
	do {
		k = inlen - off;
		if (chunk == SIZE_MAX)
			k = k < 1 ? k : (size_t)(test_rand() % 17) + 1;
		else if (chunk != 0 && k > chunk)
			k = chunk;
		if (k > inlen - off)
			k = inlen - off;
		buf = malloc(k + 1);	/* exact size: the sanitizer sees overreads */
		memcpy(buf, in + off, k);
		r->st = smtp_data_feed(&r->d, buf, k, r->out + r->outlen, &olen,
		    &used);
		free(buf);
		CHECK(olen <= k, "output %zu > input %zu", olen, k);
		CHECK(r->st != SMTP_DATA_MORE || used == k, "MORE used %zu of %zu",
		    used, k);
		r->outlen += olen;
		r->used += used;
		off += k;
	} while (r->st == SMTP_DATA_MORE && off < inlen);
}

/* Run the table three ways and compare each with the expected result. */
static void
test_feed(void)
{
	static const size_t chunks[] = { 0, 1, 2, 3, SIZE_MAX, SIZE_MAX, SIZE_MAX };
	const struct data_case *c;
	struct data_result r;
	size_t i, j, want_used;
	char ctx[64];

	for (i = 0; i < sizeof(data_cases) / sizeof(data_cases[0]); i++) {
		c = &data_cases[i];
		want_used = c->used == ALL ? c->inlen : c->used;
		for (j = 0; j < sizeof(chunks) / sizeof(chunks[0]); j++) {
			snprintf(ctx, sizeof(ctx), "case %zu chunk %zu", i, j);
			data_run(c->in, c->inlen, chunks[j], &r);
			CHECK(r.st == c->st, "%s: status %d, want %d", ctx, r.st, c->st);
			CHECK_MEM(r.out, r.outlen, c->out, c->outlen, ctx);
			CHECK(r.used == want_used, "%s: used %zu, want %zu", ctx,
			    r.used, want_used);
			CHECK(r.d.eightbit == c->eightbit, "%s: eightbit %d", ctx,
			    r.d.eightbit);
			CHECK(r.d.total == r.outlen, "%s: total %zu", ctx, r.d.total);
			CHECK(r.d.long_line == 0, "%s: long_line", ctx);
			free(r.out);
		}
	}
}

/*
 * Lines of 1000 octets incl. CRLF are fine, 1001 are long, not counting a leading
 * dot doubled for transparency (RFC 5321 4.5.3.1.6).
 */
static void
test_long_line(void)
{
	static const struct {
		size_t	len;		/* octets before CRLF */
		int	dot;		/* line starts with a stuffing "." */
		int	long_line;
	} cases[] = {
		{ 998, 0, 0 }, { 999, 0, 1 }, { 4000, 0, 1 },
		/* the transparency dot does not count (RFC 5321 4.5.3.1.6) */
		{ 997, 1, 0 }, { 998, 1, 0 }, { 999, 1, 1 }, { 0, 0, 0 },
	};
	static const size_t chunks[] = { 0, 1, 7, SIZE_MAX };
	struct data_result r;
	char *in, ctx[64];
	size_t i, j, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = cases[i].len + cases[i].dot;
		in = malloc(n + 8);
		memset(in, 'x', n);
		if (cases[i].dot)
			in[0] = '.';
		memcpy(in + n, "\r\n.\r\n", 5);
		for (j = 0; j < sizeof(chunks) / sizeof(chunks[0]); j++) {
			snprintf(ctx, sizeof(ctx), "long %zu chunk %zu", i, j);
			data_run(in, n + 5, chunks[j], &r);
			CHECK(r.st == SMTP_DATA_END, "%s: status %d", ctx, r.st);
			CHECK(r.outlen == cases[i].len + 2, "%s: outlen %zu", ctx,
			    r.outlen);
			CHECK(r.d.long_line == cases[i].long_line, "%s: long_line %d",
			    ctx, r.d.long_line);
			free(r.out);
		}
		free(in);
	}
}

/* After END or BAD_EOL the reader refuses input until smtp_data_init. */
static void
test_after_end(void)
{
	struct smtp_data d;
	char out[16];
	size_t olen, used;

	smtp_data_init(&d);
	CHECK(smtp_data_feed(&d, S(".\r\n"), out, &olen, &used) == SMTP_DATA_END,
	    "end");
	CHECK(smtp_data_feed(&d, S("a"), out, &olen, &used) == SMTP_DATA_BAD_EOL,
	    "after end");
	CHECK(olen == 0 && used == 0, "after end: olen %zu used %zu", olen, used);
	smtp_data_init(&d);
	CHECK(smtp_data_feed(&d, S("a\r\n"), out, &olen, &used) == SMTP_DATA_MORE,
	    "after init");
}

struct stuff_case {
	const char	*in;
	size_t		 inlen;
	int		 bol, bol_after;
	const char	*out;
	size_t		 outlen;
};

static const struct stuff_case stuff_cases[] = {
	{ S(""), 1, 1, S("") },
	{ S(""), 0, 0, S("") },
	{ S("."), 1, 0, S("..") },
	{ S("."), 0, 0, S(".") },
	{ S(".\r\n"), 1, 1, S("..\r\n") },
	{ S("a\r\n.b\r\n..\r\n"), 1, 1, S("a\r\n..b\r\n...\r\n") },
	{ S("a.\r\n"), 1, 1, S("a.\r\n") },
	{ S("a\r\n."), 1, 0, S("a\r\n..") },
	{ S("a\r\n"), 0, 1, S("a\r\n") },
	{ S("\r\n.\r\n"), 1, 1, S("\r\n..\r\n") },
};

/* smtp_data_stuff, whole and one octet at a time. */
static void
test_stuff(void)
{
	const struct stuff_case *c;
	char out[64], ctx[32];
	size_t i, k, n;
	int bol;

	for (i = 0; i < sizeof(stuff_cases) / sizeof(stuff_cases[0]); i++) {
		c = &stuff_cases[i];
		snprintf(ctx, sizeof(ctx), "stuff %zu", i);
		bol = c->bol;
		n = smtp_data_stuff(c->in, c->inlen, out, &bol);
		CHECK_MEM(out, n, c->out, c->outlen, ctx);
		CHECK(bol == c->bol_after, "%s: bol %d", ctx, bol);
		bol = c->bol;
		for (k = n = 0; k < c->inlen; k++)
			n += smtp_data_stuff(c->in + k, 1, out + n, &bol);
		CHECK_MEM(out, n, c->out, c->outlen, ctx);
		CHECK(bol == c->bol_after, "%s: bol %d (octets)", ctx, bol);
	}
}

/* Random CRLF messages survive stuffing then reading unchanged. */
static void
test_roundtrip(void)
{
	static const char alpha[] = ".\r.a\xe9 \t";
	char msg[512], wire[1100], ctx[32];
	struct data_result r;
	size_t i, j, n, w;
	int bol;

	for (i = 0; i < 2000; i++) {
		n = test_rand() % 200;
		for (j = 0; j < n; j++) {
			msg[j] = alpha[test_rand() % (sizeof(alpha) - 1)];
			if (msg[j] == '\r')
				msg[++j] = '\n';
		}
		n = j;
		if (n > 0 && msg[n - 1] == '\r')
			msg[n++] = '\n';
		if (n < 2 || memcmp(msg + n - 2, "\r\n", 2) != 0) {
			msg[n++] = '\r';
			msg[n++] = '\n';
		}
		bol = 1;
		w = smtp_data_stuff(msg, n, wire, &bol);
		memcpy(wire + w, ".\r\n", 3);
		snprintf(ctx, sizeof(ctx), "roundtrip %zu", i);
		data_run(wire, w + 3, SIZE_MAX, &r);
		CHECK(r.st == SMTP_DATA_END, "%s: status %d", ctx, r.st);
		CHECK_MEM(r.out, r.outlen, msg, n, ctx);
		CHECK(r.used == w + 3, "%s: used %zu", ctx, r.used);
		free(r.out);
	}
}

int
main(void)
{
	test_feed();
	test_long_line();
	test_after_end();
	test_stuff();
	test_roundtrip();
	T_DONE();
}

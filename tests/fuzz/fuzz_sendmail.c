/*
 * fuzz_sendmail: libFuzzer target for relay-sendmail's pure parts. The first input
 * octet chooses -i and -t, the rest is what arrives on stdin. Checked: the converted
 * message has only CRLF line ends, and no lone "." line unless -i; the prepared
 * message keeps no Bcc: field in its header, has From: and Date:, and converts to
 * itself again; every address found is a mailbox with a domain; the DATA payload
 * ends with the only "." line. The address list parser also runs on the raw input.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *       tests/fuzz/fuzz_sendmail.c src/sendmail.c src/smtp_parse.c src/xmalloc.c \
 *       src/log.c $(pkg-config --cflags --libs libevent) -o fuzz_sendmail
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sendmail.h"
#include "smtp_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_crlf_only: every CR is followed by LF and every LF preceded by CR. */
static int
fuzz_crlf_only(const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (b[i] == '\r' && (i + 1 == n || b[i + 1] != '\n'))
			return 0;
		if (b[i] == '\n' && (i == 0 || b[i - 1] != '\r'))
			return 0;
	}
	return n == 0 || (n >= 2 && b[n - 2] == '\r' && b[n - 1] == '\n');
}

/* fuzz_lone_dots: how many lines of b[0..n) are a single ".". */
static int
fuzz_lone_dots(const char *b, size_t n)
{
	int count = 0;

	for (size_t i = 0; i + 2 < n; i++)
		if ((i == 0 || b[i - 1] == '\n') && memcmp(b + i, ".\r\n", 3) == 0)
			count++;
	return count;
}

/* fuzz_header_has: does the header block of b (up to its empty line) hold name? */
static int
fuzz_header_has(const char *b, size_t n, const char *name)
{
	size_t k = strlen(name);

	for (size_t i = 0; i < n; i++) {
		if (i > 0 && b[i - 1] != '\n')
			continue;
		if (n - i >= 2 && b[i] == '\r' && b[i + 1] == '\n')
			return 0;		/* the end of the header */
		if (n - i > k && strncasecmp(b + i, name, k) == 0 &&
		    (b[i + k] == ':' || b[i + k] == ' ' || b[i + k] == '\t'))
			return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sendmail_rcpts r = { 0 }, r2 = { 0 };
	struct sendmail_prep p = { .from_addr = "me@host.example", .fullname = "Fuzz",
	    .now = 1772434800 };
	char err[256], *in, *canon, *out, *again, *stuffed;
	size_t n, canonlen, outlen, againlen, stuffedlen;
	int idots;

	if (size < 1)
		return 0;
	idots = data[0] & 1;
	p.extract = (data[0] & 2) != 0;
	n = size - 1;
	in = malloc(n ? n : 1);			/* exact: overreads show */
	memcpy(in, data + 1, n);

	canon = sendmail_canon(in, n, idots, &canonlen);
	if (!fuzz_crlf_only(canon, canonlen))
		abort();
	if (!idots && fuzz_lone_dots(canon, canonlen) != 0)
		abort();
	if (sendmail_prepare(canon, canonlen, &p, &r, &out, &outlen, err,
	    sizeof(err)) == 0) {
		if (!fuzz_crlf_only(out, outlen) || fuzz_header_has(out, outlen, "bcc") ||
		    fuzz_header_has(out, outlen, "resent-bcc") ||
		    !fuzz_header_has(out, outlen, "from") || !fuzz_header_has(out, outlen, "date"))
			abort();
		/* Complete already: a second pass changes nothing. */
		p.extract = 0;
		if (sendmail_prepare(out, outlen, &p, &r2, &again, &againlen, err,
		    sizeof(err)) != 0 || againlen != outlen || memcmp(again, out, outlen) != 0)
			abort();
		free(again);
		stuffed = sendmail_dotstuff(out, outlen, &stuffedlen);
		if (stuffedlen < 3 || memcmp(stuffed + stuffedlen - 3, ".\r\n", 3) != 0 ||
		    fuzz_lone_dots(stuffed, stuffedlen) != 1 ||
		    (stuffedlen > 3 && fuzz_lone_dots(stuffed, stuffedlen - 3) != 0))
			abort();
		free(stuffed);
		free(out);
	}
	for (size_t i = 0; i < r.n; i++)
		if (strchr(r.addr[i], '@') == NULL ||
		    !smtp_parse_mailbox(r.addr[i], strlen(r.addr[i])))
			abort();
	sendmail_rcpts_free(&r);
	sendmail_rcpts_free(&r2);

	sendmail_addrlist(in, n, &r, err, sizeof(err));
	for (size_t i = 0; i < r.n; i++)
		if (strchr(r.addr[i], '@') == NULL ||
		    !smtp_parse_mailbox(r.addr[i], strlen(r.addr[i])))
			abort();
	sendmail_rcpts_free(&r);
	free(canon);
	free(in);
	return 0;
}

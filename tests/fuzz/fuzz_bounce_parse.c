/*
 * fuzz_bounce_parse: libFuzzer target for the bounce parser. The input is a whole
 * message; bounce_parse must neither crash nor leak, and what it reports must be
 * self-consistent: only failures, delays and delivered reports list recipients,
 * every string is set, a status is empty or "C.S.D" with C in 2/4/5, a kind agrees
 * with bounce_parse_kind on the same status and diagnostic unless the DATA-phase
 * rule or a delay made it soft, permanent only with a 5.x.x status (or none), the
 * reason in range. bounce_parse_kind is fed the input as a diagnostic as well.
 * Built and run by `make fuzz` (seeds in tests/fuzz/seeds/bounce_parse):
 *
 *   ./build/fuzz/fuzz_bounce_parse -max_len=16384 tests/fuzz/seeds/bounce_parse
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounce_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_status: "" or digits "C.S.D" with C in 2, 4, 5. */
static void
fuzz_status(const char *st)
{
	if (st[0] == '\0')
		return;
	if (strchr("245", st[0]) == NULL || st[1] != '.')
		abort();
	int dots = 0;
	for (const char *p = st + 1; *p; p++) {
		if (*p == '.')
			dots++;
		else if (!isdigit((unsigned char)*p))
			abort();
	}
	if (dots != 2)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bounce_report r;

	bounce_parse((const char *)data, size, &r);
	if (r.nrcpts > 0 && r.type != BOUNCE_FAILURE && r.type != BOUNCE_DELAY &&
	    r.type != BOUNCE_DELIVERED)
		abort();
	if ((r.nrcpts == 0) != (r.rcpts == NULL))
		abort();
	for (size_t i = 0; i < r.nrcpts; i++) {
		const struct bounce_rcpt *rc = &r.rcpts[i];
		if (rc->recipient == NULL || rc->action == NULL || rc->diagnostic == NULL ||
		    strchr(rc->recipient, '@') == NULL)
			abort();
		fuzz_status(rc->status);
		enum bounce_kind k = bounce_parse_kind(rc->status, rc->diagnostic);
		if (rc->kind != k && !(k == BOUNCE_HARD && rc->kind == BOUNCE_SOFT))
			abort();
		if (rc->reply_code != 0 && (rc->reply_code < 200 || rc->reply_code > 599))
			abort();
		/* permanent: a 5.x.x status (or none, and failed), never delayed. */
		if (rc->permanent && (strcmp(rc->action, "delayed") == 0 ||
		    (rc->status[0] != '5' && rc->status[0] != '\0')))
			abort();
		if (rc->original_recipient == NULL || rc->final_recipient == NULL ||
		    (unsigned)rc->reason >= BOUNCE_REASON_NREASONS)
			abort();
	}
	bounce_report_clear(&r);

	/* The classification alone, on the input as a NUL-terminated diagnostic. */
	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	bounce_parse_kind(size > 6 ? s + size - 6 : s, s);
	free(s);
	return 0;
}

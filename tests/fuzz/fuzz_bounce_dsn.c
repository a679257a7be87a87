/*
 * fuzz_bounce_dsn: libFuzzer target for the RFC 3464 field parser. The input is a
 * delivery-status body; bounce_dsn_parse must neither crash nor leak, return at most
 * BOUNCE_DSN_MAX blocks, each naming a recipient; bounce_dsn_addr on each value gives
 * none or an address with one local part, an '@' and a domain without upper case or
 * white space. Built by `make fuzz` (tests/fuzz/seeds/bounce_dsn).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounce_dsn.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_addr: check what bounce_dsn_addr makes of v. */
static void
fuzz_addr(const char *v)
{
	if (v == NULL)
		return;
	char *a = bounce_dsn_addr(v);
	if (a == NULL)
		return;
	const char *at = strrchr(a, '@');
	if (at == NULL || at == a || at[1] == '\0')
		abort();
	for (const char *p = a; *p; p++)
		if (isspace((unsigned char)*p) || (p > at && isupper((unsigned char)*p)))
			abort();
	free(a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct bounce_dsn_rcpt *r;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	size_t n = bounce_dsn_parse(s, &r);
	if (n > BOUNCE_DSN_MAX || (n == 0) != (r == NULL))
		abort();
	for (size_t i = 0; i < n; i++) {
		if (r[i].final == NULL && r[i].original == NULL)
			abort();
		fuzz_addr(r[i].final);
		fuzz_addr(r[i].original);
		bounce_dsn_value(r[i].diag ? r[i].diag : "");
	}
	bounce_dsn_free(r, n);
	fuzz_addr(s);
	free(s);
	return 0;
}

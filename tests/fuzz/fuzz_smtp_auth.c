/*
 * fuzz_smtp_auth: libFuzzer target for the PLAIN message parser (RFC 4616). Whatever
 * it accepts must be three parts inside the input, NUL-separated, with a non-empty
 * authcid and no NUL in the password.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_auth.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data, *az, *u, *p;
	size_t azl, ul, pl;

	if (smtp_auth_plain_parse(msg, size, &az, &azl, &u, &ul, &p, &pl) == -1)
		return 0;
	if (az != msg || u != az + azl + 1 || p != u + ul + 1 || p + pl != msg + size ||
	    ul == 0 || u[-1] != '\0' || p[-1] != '\0' || memchr(p, '\0', pl) != NULL ||
	    memchr(az, '\0', azl) != NULL || memchr(u, '\0', ul) != NULL)
		abort();
	return 0;
}

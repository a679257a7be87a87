/*
 * fuzz_oauth: libFuzzer target for the OAuth parsers: the token and device answers,
 * a redirect's query and the token file. None may crash or leak; a parsed token
 * answer has a token or an error, never neither; a token file that decodes encodes
 * and decodes again to the same refresh token; auth_oauth_error only writes
 * printable characters.
 *
 *   make fuzz FUZZTIME=60     (builds every tests/fuzz/fuzz_*.c; seeds in seeds/oauth)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "oauth_file.h"
#include "oauth_proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oauth_proto_token t;
	struct oauth_proto_device d;
	struct oauth_file f, g;
	char *s, *v, out[256];

	if (oauth_proto_parse_token((const char *)data, size, &t) == 0 &&
	    t.access_token == NULL && t.error == NULL)
		abort();
	oauth_proto_token_clear(&t);
	oauth_proto_parse_device((const char *)data, size, &d);
	oauth_proto_device_clear(&d);
	if (oauth_file_decode((const char *)data, size, &f) == 0) {
		char *text = oauth_file_encode(&f);

		if (oauth_file_decode(text, strlen(text), &g) != 0 ||
		    strcmp(g.refresh_token, f.refresh_token) != 0)
			abort();
		oauth_file_clear(&g);
		free(text);
	}
	oauth_file_clear(&f);
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	v = oauth_proto_query_param(s, "code");
	if (v != NULL && strlen(v) > size)
		abort();
	free(v);
	if (auth_oauth_error(s, out, sizeof(out)) == 0)
		for (const char *p = out; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				abort();
	free(s);
	return 0;
}

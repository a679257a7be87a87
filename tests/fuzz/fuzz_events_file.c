/*
 * fuzz_events_file: libFuzzer target for the event journal's record codec
 * (events_file.c): every line of the input decoded; what decodes encodes again to
 * the same line, and the provider-id reader on the input as a reply. Checked: no
 * read outside the input, no leak, the round trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "events_file.h"
#include "xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	char *s = xstrndup(p, size);

	free(events_file_provider_id(s));
	free(s);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		json_t *ev = NULL;

		if (events_file_decode(p, n, &ev) == 0) {
			size_t len;
			char *l = events_file_encode(ev, &len);
			json_t *back = NULL;

			if (l == NULL || events_file_decode(l, len - 1, &back) != 0 ||
			    !json_equal(ev, back))
				abort();
			free(l);
			json_decref(back);
			json_decref(ev);
		}
		p += n + 1;
	}
	return 0;
}

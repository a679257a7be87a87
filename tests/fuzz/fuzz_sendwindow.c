/*
 * fuzz_sendwindow: libFuzzer target for the send window's pure parsers (sendwindow.c):
 * the text form (the input up to its first NUL, as a string) and the TZif decoder (the
 * whole input as a zone file). Checked: neither reads outside its input; a parsed
 * window has days, and start and end within the day; a decoded zone's transitions are
 * in order and inside/next_open answer for times around them; nothing leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sendwindow.h"
#include "xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct sendwindow w;
	char *text = xmalloc(len + 1), err[256];

	memcpy(text, data, len);
	text[len] = '\0';
	if (sendwindow_parse(text, &w, err, sizeof(err)) == 0 &&
	    (w.days == 0 || w.days > 0x7f || w.start < 0 || w.start >= 1440 || w.end <= 0 ||
	    w.end > 1440 || w.start == w.end))
		abort();
	free(text);
	memset(&w, 0, sizeof(w));
	if (sendwindow_tzif(data, len, &w) == 0) {
		for (size_t i = 1; i < w.ntrans; i++)
			if (w.trans[i] < w.trans[i - 1])
				abort();
		w.days = 0x3e;
		w.start = 480;
		w.end = 1200;
		for (size_t i = 0; i < w.ntrans && i < 8; i++)
			if (w.trans[i] > INT64_MIN / 2 && w.trans[i] < INT64_MAX / 2) {
				(void)sendwindow_inside(&w, w.trans[i] - 1);
				(void)sendwindow_next_open(&w, w.trans[i]);
			}
	}
	sendwindow_free_data(&w);
	return 0;
}

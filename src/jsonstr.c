/*
 * jsonstr: foreign octets into JSON strings, one rule for every place (see
 * jsonstr.h). Used by control's answers (queue, status, bounces) and relayctl.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonstr.h"
#include "xmalloc.h"

size_t
jsonstr_utf8_len(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t c;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, c = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	/* No overlong forms, no surrogates, nothing past U+10FFFF. */
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return len;
}

char *
jsonstr_clean(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	char *out = xmalloc(n * 4 + 1), *o = out;

	for (size_t i = 0; i < n; ) {
		size_t k = jsonstr_utf8_len(s + i, n - i);

		if (k == 0 || (k == 1 && ((u[i] < 0x20 && u[i] != '\t' && u[i] != '\r' &&
		    u[i] != '\n') || u[i] == 0x7f))) {
			o += snprintf(o, 5, "\\x%02x", u[i]);
			i++;
			continue;
		}
		memcpy(o, u + i, k);
		o += k;
		i += k;
	}
	*o = '\0';
	return out;
}

json_t *
jsonstr_newn(const char *s, size_t n)
{
	char *c = jsonstr_clean(s, n);
	json_t *j = json_string(c);

	free(c);
	return j;
}

json_t *
jsonstr_new(const char *s)
{
	return s == NULL ? json_null() : jsonstr_newn(s, strlen(s));
}

int
jsonstr_fputs(const char *s, FILE *fp)
{
	char *c = jsonstr_clean(s, strlen(s));
	int r = fputs(c, fp);

	free(c);
	return r;
}

/*
 * test_jsonstr: foreign octets into JSON strings, as a table: text in the charsets
 * Russian and Japanese providers and apps use (CP1251, KOI8-R, Shift_JIS), invalid
 * and overlong UTF-8, controls; each becomes a JSON string that dumps, with valid
 * UTF-8 kept as it was.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsonstr.h"
#include "t.h"

static const struct {
	const char	*in;
	size_t		 len;		/* 0: strlen */
	const char	*want;
} cases[] = {
	{ "451 4.7.1 Try later", 0, "451 4.7.1 Try later" },
	/* UTF-8 stays as it is. */
	{ "451 Попробуйте позже", 0, "451 Попробуйте позже" },
	{ "後でもう一度 😀", 0, "後でもう一度 😀" },
	/* CP1251 "Попробуйте" */
	{ "451 \xcf\xee\xef\xf0\xee\xe1\xf3\xe9\xf2\xe5", 0,
	  "451 \\xcf\\xee\\xef\\xf0\\xee\\xe1\\xf3\\xe9\\xf2\\xe5" },
	/* KOI8-R "Ошибка" */
	{ "550 \xef\xdb\xc9\xc2\xcb\xc1", 0, "550 \\xef\\xdb\\xc9\\xc2\\xcb\\xc1" },
	/* Shift_JIS "後で" (0x8c 0xe3 0x82 0xc5) */
	{ "421 \x8c\xe3\x82\xc5", 0, "421 \\x8c\\xe3\\x82\\xc5" },
	/* invalid: stray continuation, truncated sequence, overlong, surrogate, > U+10FFFF */
	{ "a\x80" "b", 0, "a\\x80b" },
	{ "\xd0", 0, "\\xd0" },
	{ "\xe2\x82", 0, "\\xe2\\x82" },
	{ "\xc0\xaf", 0, "\\xc0\\xaf" },
	{ "\xe0\x80\xaf", 0, "\\xe0\\x80\\xaf" },
	{ "\xed\xa0\x80", 0, "\\xed\\xa0\\x80" },
	{ "\xf4\x90\x80\x80", 0, "\\xf4\\x90\\x80\\x80" },
	{ "\xff\xfe", 0, "\\xff\\xfe" },
	/* mixed: valid UTF-8 next to CP1251 */
	{ "Ж\xc6Ж", 0, "Ж\\xc6Ж" },
	/* controls: tab, CR, LF kept (headers); the rest escaped */
	{ "Subject: a\r\n\tb\r\n", 0, "Subject: a\r\n\tb\r\n" },
	{ "\x1b[31mred\x7f", 0, "\\x1b[31mred\\x7f" },
	{ "a\0b", 3, "a\\x00b" },
	{ "", 0, "" },
};

int
main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		json_t *j = jsonstr_newn(cases[i].in, len);
		char *c = jsonstr_clean(cases[i].in, len);

		CHECK(j != NULL && json_is_string(j), "case %zu: no JSON string", i);
		if (j != NULL)
			CHECK_STR(json_string_value(j), cases[i].want, cases[i].in);
		CHECK_STR(c, cases[i].want, "clean");
		/* It dumps, inside an object built with json_pack, as the JSON answers are. */
		json_t *o = json_pack("{s:o}", "last_reply", j);
		char *d = o ? json_dumps(o, JSON_COMPACT) : NULL;

		CHECK(d != NULL, "case %zu: does not dump", i);
		free(d);
		json_decref(o);
		free(c);
	}
	json_t *n = jsonstr_new(NULL);

	CHECK(json_is_null(n), "NULL is JSON null");
	json_decref(n);
	n = jsonstr_new("\xcf\xee");
	CHECK(n && strcmp(json_string_value(n), "\\xcf\\xee") == 0, "jsonstr_new");
	json_decref(n);
	T_DONE();
}

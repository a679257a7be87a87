/*
 * jsonstr: the one way text from outside (provider replies in CP1251 or KOI8-R,
 * raw 8-bit headers, file contents, command-line arguments) becomes a JSON string.
 * jansson refuses a string that is not UTF-8, and a json_pack with such an "s"
 * fails whole; so every JSON string built from outside data goes through here.
 *
 * The rule: valid UTF-8 is kept as it is; every octet that is not part of a valid
 * sequence, and every control character but tab, CR and LF, becomes the four
 * characters \xHH (its value in hex), so the text stays readable, shows what the
 * octets were (CP1251 can be read back by hand), and is safe on a terminal.
 */
#ifndef RELAYD_JSONSTR_H
#define RELAYD_JSONSTR_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* jsonstr_new: s as a JSON string by the rule above; a JSON null for NULL. */
json_t		*jsonstr_new(const char *s);
/* jsonstr_newn: the n octets at s (NULs included) as a JSON string. */
json_t		*jsonstr_newn(const char *s, size_t n);
/*
 * jsonstr_clean: the n octets at s made valid UTF-8 by the rule above: a new
 * NUL-terminated string (the caller frees it).
 */
char		*jsonstr_clean(const char *s, size_t n);
/*
 * jsonstr_utf8_len: the length (1-4) of the valid UTF-8 sequence at s, n octets
 * left, or 0 when s starts no valid sequence (overlong forms, surrogates and code
 * points past U+10FFFF are not valid).
 */
size_t		 jsonstr_utf8_len(const char *s, size_t n);
/* jsonstr_fputs: print s to fp by the same rule (for text output); as fputs. */
int		 jsonstr_fputs(const char *s, FILE *fp);

#endif

/*
 * events_file: encode and decode the event journal's record lines (format at the
 * top of events_file.h). Pure: buffers in, buffers or JSON out.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "events_file.h"
#include "xmalloc.h"

static const char *const events_file_names[] = {
	[EVENTS_QUEUED] = "queued",
	[EVENTS_SENT] = "sent",
	[EVENTS_DEFERRED] = "deferred",
	[EVENTS_FAILED] = "failed",
	[EVENTS_BOUNCED] = "bounced",
	[EVENTS_SUPPRESSED] = "suppressed",
	[EVENTS_ACCOUNT] = "account",
};
_Static_assert(sizeof(events_file_names) / sizeof(events_file_names[0]) == EVENTS_NTYPES,
    "a name for every event type");

const char *
events_file_type_name(enum events_type t)
{
	return (unsigned)t < EVENTS_NTYPES ? events_file_names[t] : "?";
}

int
events_file_type_parse(const char *s)
{
	for (int i = 0; s != NULL && i < EVENTS_NTYPES; i++)
		if (strcmp(s, events_file_names[i]) == 0)
			return i;
	return -1;
}

/* events_file_valid: does ev have a positive id, a time and a known type? */
static int
events_file_valid(const json_t *ev)
{
	json_t *id = json_object_get(ev, "id"), *t = json_object_get(ev, "time");

	return json_is_object(ev) && json_is_integer(id) && json_integer_value(id) > 0 &&
	    json_is_integer(t) && json_integer_value(t) >= 0 &&
	    events_file_type_parse(json_string_value(json_object_get(ev, "type"))) >= 0;
}

char *
events_file_encode(const json_t *ev, size_t *len)
{
	char *js, *line;
	size_t n;

	if (!events_file_valid(ev) ||
	    (js = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		return NULL;
	n = strlen(js);
	line = xmalloc(n + 13);
	snprintf(line, n + 13, "1 %08lx %s\n", crc32(0, (const Bytef *)js, (uInt)n), js);
	free(js);
	*len = n + 12;
	return line;
}

int
events_file_decode(const char *line, size_t len, json_t **out)
{
	char hex[9];
	unsigned long want;
	char *end;
	json_t *ev;

	*out = NULL;
	if (len < 13 || line[0] != '1' || line[1] != ' ' || line[10] != ' ')
		return -1;
	memcpy(hex, line + 2, 8);
	hex[8] = '\0';
	for (int i = 0; i < 8; i++)
		if (!isdigit((unsigned char)hex[i]) && (hex[i] < 'a' || hex[i] > 'f'))
			return -1;	/* lower case only: one spelling per record */
	want = strtoul(hex, &end, 16);
	if (crc32(0, (const Bytef *)line + 11, (uInt)(len - 11)) != want)
		return -1;
	if ((ev = json_loadb(line + 11, len - 11, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
	    NULL)) == NULL)
		return -1;
	if (!events_file_valid(ev)) {
		json_decref(ev);
		return -1;
	}
	*out = ev;
	return 0;
}

uint64_t
events_file_id(const json_t *ev)
{
	json_int_t v = json_integer_value(json_object_get(ev, "id"));

	return v > 0 ? (uint64_t)v : 0;
}

/* events_file_token: the run of id characters at p (1..128 of them) in a new string. */
static char *
events_file_token(const char *p, const char *stop)
{
	size_t n = 0;

	while (p[n] != '\0' && n < 128 && !isspace((unsigned char)p[n]) &&
	    strchr(stop, p[n]) == NULL)
		n++;
	return n > 0 ? xstrndup(p, n) : NULL;
}

char *
events_file_provider_id(const char *reply)
{
	static const char *const marks[] = { "queued as ", "id=", "Queued as " };
	const char *p, *q;

	if (reply == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if ((p = strstr(reply, marks[i])) != NULL)
			return events_file_token(p + strlen(marks[i]), ";,)>");
	if ((p = strchr(reply, '<')) != NULL && (q = strchr(p, '>')) != NULL && q > p + 1)
		return events_file_token(p + 1, ">");
	return NULL;
}

/*
 * test_control: control requests as a table: each request line gets an answer with
 * v and ok, an error naming what is wrong for a malformed one, and the command's
 * result or message for a good one, foreign octets included.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control.h"
#include "t.h"
#include "xmalloc.h"

static json_t *
echo(json_t *args, char **err, void *arg)
{
	return json_deep_copy(args);
}

static json_t *
fail(json_t *args, char **err, void *arg)
{
	const char *id = json_string_value(json_object_get(args, "id"));

	*err = xasprintf("no message %s in the queue", id ? id : "(none)");
	return NULL;
}

static json_t *
missing(json_t *args, char **err, void *arg)
{
	return control_fail(err, CONTROL_ERR_NOUSER, "no message %s in the queue",
	    json_string_value(json_object_get(args, "id")));
}

static json_t *
bad(json_t *args, char **err, void *arg)
{
	return control_fail(err, CONTROL_ERR_DATAERR, "give ids or a filter, not both");
}

static const struct {
	const char	*line;
	int		 ok;
	const char	*want;		/* in the dumped answer */
} cases[] = {
	{ "{\"v\":1,\"cmd\":\"echo\",\"args\":{\"a\":1}}", 1, "\"result\":{\"a\":1}" },
	{ "{\"v\":1,\"cmd\":\"echo\"}", 1, "\"result\":{}" },
	{ "{\"v\":1,\"cmd\":\"echo\",\"args\":[1]}", 1, "\"result\":{}" },
	{ "{\"v\":1,\"cmd\":\"fail\",\"args\":{\"id\":\"X1\"}}", 0, "no message X1 in the queue" },
	{ "{\"v\":1,\"cmd\":\"fail\",\"args\":{\"id\":\"\\u0416\"}}", 0, "no message \xd0\x96" },
	/* The kind of failure (relayctl's exit code follows it); the mark is gone. */
	{ "{\"v\":1,\"cmd\":\"fail\"}", 0, "\"kind\":\"refused\"" },
	{ "{\"v\":1,\"cmd\":\"missing\",\"args\":{\"id\":\"X1\"}}", 0,
	  "\"error\":\"no message X1 in the queue\",\"kind\":\"nouser\"" },
	{ "{\"v\":1,\"cmd\":\"bad\"}", 0,
	  "\"error\":\"give ids or a filter, not both\",\"kind\":\"dataerr\"" },
	{ "{\"v\":1,\"cmd\":\"frob\"}", 0, "unknown command \\\"frob\\\"" },
	{ "{\"v\":1}", 0, "unknown command \\\"\\\"" },
	{ "{\"v\":2,\"cmd\":\"echo\"}", 0, "protocol version 2 is not spoken here" },
	{ "{\"cmd\":\"echo\"}", 0, "protocol version 0" },
	{ "[1,2]", 0, "request is not a JSON object" },
	{ "{\"v\":1,\"cmd\":\"echo\"", 0, "request is not a JSON object" },
	{ "", 0, "request is not a JSON object" },
	/* Not UTF-8: jansson refuses the request; the answer still dumps. */
	{ "{\"v\":1,\"cmd\":\"\xcf\xee\"}", 0, "request is not a JSON object" },
};

int
main(void)
{
	struct control *c = control_new(NULL, NULL);

	control_register(c, "echo", echo, NULL);
	control_register(c, "fail", fail, NULL);
	control_register(c, "missing", missing, NULL);
	control_register(c, "bad", bad, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *r = control_dispatch(c, cases[i].line);
		char *d = r ? json_dumps(r, JSON_COMPACT) : NULL;

		CHECK(d != NULL, "case %zu: no answer", i);
		if (d == NULL)
			continue;
		CHECK(json_integer_value(json_object_get(r, "v")) == CONTROL_VERSION &&
		    json_is_true(json_object_get(r, "ok")) == cases[i].ok,
		    "case %zu: %s", i, d);
		CHECK(strstr(d, cases[i].want) != NULL, "case %zu: want %s in %s", i,
		    cases[i].want, d);
		free(d);
		json_decref(r);
	}
	control_free(c);
	T_DONE();
}

/*
 * fuzz_control: libFuzzer target for the control socket's requests (control.c): the
 * input is one request line, given to control_dispatch with a few commands
 * registered (one echoes its args, one fails with a message built from them, one
 * answers with them through jsonstr). Checked: every request gets an answer, the
 * answer is an object with v and ok, and it dumps as JSON; nothing leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control.h"
#include "jsonstr.h"
#include "xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static json_t *
fuzz_echo(json_t *args, char **err, void *arg)
{
	return json_deep_copy(args);
}

static json_t *
fuzz_fail(json_t *args, char **err, void *arg)
{
	const char *id = json_string_value(json_object_get(args, "id"));

	*err = xasprintf("no message %s in the queue", id ? id : "(none)");
	return NULL;
}

static json_t *
fuzz_show(json_t *args, char **err, void *arg)
{
	const char *id = json_string_value(json_object_get(args, "id"));

	return json_pack("{s:o}", "id", jsonstr_new(id));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct control *c;
	char *line;
	json_t *r;

	if (c == NULL) {
		c = control_new(NULL, NULL);
		control_register(c, "echo", fuzz_echo, NULL);
		control_register(c, "fail", fuzz_fail, NULL);
		control_register(c, "queue-show", fuzz_show, NULL);
		control_register(c, "status", fuzz_echo, NULL);
	}
	if (size > CONTROL_REQUEST_MAX)
		return 0;	/* the socket refuses longer requests unread */
	line = xstrndup((const char *)data, size);	/* (up to a NUL, as a line) */
	r = control_dispatch(c, line);
	if (r == NULL || !json_is_object(r) || !json_is_integer(json_object_get(r, "v")) ||
	    !json_is_boolean(json_object_get(r, "ok")))
		abort();
	char *s = json_dumps(r, JSON_COMPACT);
	if (s == NULL)
		abort();
	free(s);
	json_decref(r);
	free(line);
	return 0;
}

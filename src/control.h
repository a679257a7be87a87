/*
 * control: the control socket relayctl talks to. One request per connection: a JSON
 * line {"v":1,"cmd":"status","args":{...}} answered by one JSON line
 * {"v":1,"ok":true,"result":{...}} or {"v":1,"ok":false,"error":"..."}. The version
 * lets relayctl and relayd of different releases fail clearly instead of guessing.
 * Modules register their commands; control.c knows none of them.
 */
#ifndef RELAYD_CONTROL_H
#define RELAYD_CONTROL_H

#include <jansson.h>
#include <event2/event.h>

#define CONTROL_VERSION		1
#define CONTROL_REQUEST_MAX	(64 * 1024)

/*
 * A command handler: args is the request's "args" object (never NULL; borrowed).
 * Returns a new reference to the result object, or NULL with *err set to a newly
 * allocated message (xstrdup/xasprintf) for the client, or set by control_fail to
 * say what kind of failure it is.
 */
typedef json_t *(*control_fn)(json_t *args, char **err, void *arg);

/*
 * What kind of failure an error answer is ("kind" in the answer; relayctl's exit
 * code follows it): refused (the default), nouser (no such queue id or account: 67),
 * dataerr (the arguments are wrong: 65).
 */
enum control_errkind {
	CONTROL_ERR_REFUSED,
	CONTROL_ERR_NOUSER,
	CONTROL_ERR_DATAERR,
};

/*
 * control_fail: for a handler: set *err to the message (printf-style) with its kind.
 * Returns NULL, for "return control_fail(err, ...);".
 */
json_t		*control_fail(char **err, enum control_errkind, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

struct control;

/*
 * control_new: listen on the unix socket at path (its directory is created if
 * missing; a stale socket is replaced; mode 0660). Returns NULL after logging.
 * path NULL: no socket, for tests and fuzzing (see control_dispatch).
 */
struct control	*control_new(struct event_base *, const char *path);
void		 control_free(struct control *);

/*
 * control_dispatch: parse one request line (NUL-terminated, without its LF) and run
 * its command. Returns the answer, a new reference; NULL only when the handler
 * deferred it (control_defer): every malformed request gets an error answer.
 */
json_t		*control_dispatch(struct control *, const char *line);

/*
 * An answer given later: a handler that cannot answer at once (it waits for the
 * network) calls control_defer and returns NULL with *err left NULL; the answer goes
 * out with control_answer, exactly once, from the event loop. If the client is gone
 * by then, the answer is dropped.
 */
struct control_pending;

/* control_defer: the answer to the request being handled now comes later. NULL when
 * it cannot (no connection: control_dispatch called directly); answer at once then. */
struct control_pending *control_defer(struct control *);

/* control_answer: send p's answer: result (a new reference, taken) or, when result is
 * NULL, the error message err of that kind. p is freed. */
void		 control_answer(struct control_pending *p, json_t *result, enum control_errkind,
		    const char *err);

/* control_register: add command name (a static string) to c's table. */
void		 control_register(struct control *, const char *name, control_fn, void *arg);

#endif

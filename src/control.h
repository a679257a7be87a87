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
 * allocated message (xstrdup/xasprintf) for the client.
 */
typedef json_t *(*control_fn)(json_t *args, char **err, void *arg);

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
 * its command. Returns the answer, a new reference, never NULL: every malformed
 * request gets an error answer.
 */
json_t		*control_dispatch(struct control *, const char *line);

/* control_register: add command name (a static string) to c's table. */
void		 control_register(struct control *, const char *name, control_fn, void *arg);

#endif

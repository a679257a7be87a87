/*
 * control: the daemon's side of the control socket.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "control.h"
#include "jsonstr.h"
#include "log.h"
#include "xmalloc.h"

#define CONTROL_CMDS_MAX	32
#define CONTROL_TIMEOUT		10

struct control_cmd {
	const char	*name;
	control_fn	 fn;
	void		*arg;
};

struct control {
	struct event_base	*base;
	struct evconnlistener	*evl;
	char			*path;
	struct control_cmd	 cmds[CONTROL_CMDS_MAX];
	size_t			 ncmds;
	struct bufferevent	*current;	/* the request being handled, if any */
	int			 deferred;	/* its handler called control_defer */
};

/* An answer to come (control_defer); bev NULL once the client is gone. */
struct control_pending {
	struct bufferevent	*bev;
};

/* control_reply: write the answer and close once it is out. */
static void
control_reply(struct bufferevent *bev, json_t *reply)
{
	char *s = json_dumps(reply, JSON_COMPACT);

	evbuffer_add_printf(bufferevent_get_output(bev), "%s\n", s ? s : "{}");
	free(s);
	json_decref(reply);
	bufferevent_disable(bev, EV_READ);
}

/*
 * An error message set by control_fail starts with CONTROL_KIND_MARK and the kind's
 * digit; control_dispatch takes them off into the answer's "kind".
 */
#define CONTROL_KIND_MARK	'\x1f'

static const char *const control_kinds[] = {
	[CONTROL_ERR_REFUSED] = "refused",
	[CONTROL_ERR_NOUSER] = "nouser",
	[CONTROL_ERR_DATAERR] = "dataerr",
};
_Static_assert(sizeof(control_kinds) / sizeof(control_kinds[0]) == CONTROL_ERR_DATAERR + 1,
    "a name for every control_errkind");

/* control_error: a failure answer of that kind. */
static json_t *
control_error_kind(const char *msg, enum control_errkind kind)
{
	return json_pack("{s:i, s:b, s:o, s:s}", "v", CONTROL_VERSION, "ok", 0, "error",
	    jsonstr_new(msg), "kind", control_kinds[kind]);
}

/* control_error: a failure answer (refused). */
static json_t *
control_error(const char *msg)
{
	return control_error_kind(msg, CONTROL_ERR_REFUSED);
}

json_t *
control_fail(char **err, enum control_errkind kind, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("control: out of memory");
	va_end(ap);
	*err = xasprintf("%c%c%s", CONTROL_KIND_MARK, '0' + (int)kind, msg);
	free(msg);
	return NULL;
}

json_t *
control_dispatch(struct control *c, const char *line)
{
	json_error_t jerr;
	json_t *req = json_loads(line, 0, &jerr), *args, *result;
	const char *cmd;
	char *err = NULL, buf[256];
	json_int_t v;

	if (req == NULL || !json_is_object(req)) {
		json_decref(req);
		return control_error("request is not a JSON object");
	}
	v = json_integer_value(json_object_get(req, "v"));
	if (v != CONTROL_VERSION) {
		json_decref(req);
		snprintf(buf, sizeof(buf), "protocol version %lld is not spoken here (relayd "
		    "speaks %d): use the relayctl of the same release", (long long)v,
		    CONTROL_VERSION);
		return control_error(buf);
	}
	cmd = json_string_value(json_object_get(req, "cmd"));
	args = json_object_get(req, "args");
	if (args == NULL || !json_is_object(args))
		args = json_object();
	else
		json_incref(args);
	for (size_t i = 0; cmd != NULL && i < c->ncmds; i++) {
		if (strcmp(c->cmds[i].name, cmd) != 0)
			continue;
		c->deferred = 0;
		result = c->cmds[i].fn(args, &err, c->cmds[i].arg);
		json_decref(args);
		json_decref(req);
		if (result == NULL && err == NULL && c->deferred)
			return NULL;	/* control_answer sends it */
		if (result == NULL) {
			enum control_errkind kind = CONTROL_ERR_REFUSED;
			const char *msg = err ? err : "failed";
			json_t *e;

			if (msg[0] == CONTROL_KIND_MARK && msg[1] >= '0' &&
			    msg[1] <= '0' + CONTROL_ERR_DATAERR) {
				kind = (enum control_errkind)(msg[1] - '0');
				msg += 2;
			}
			e = control_error_kind(msg, kind);

			free(err);
			return e;
		}
		return json_pack("{s:i, s:b, s:o}", "v", CONTROL_VERSION, "ok", 1, "result",
		    result);
	}
	snprintf(buf, sizeof(buf), "unknown command \"%s\"", cmd ? cmd : "");
	json_decref(args);
	json_decref(req);
	return control_error(buf);
}

static void
control_read_cb(struct bufferevent *bev, void *arg)
{
	struct control *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	if ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) == NULL) {
		if (evbuffer_get_length(in) > CONTROL_REQUEST_MAX)
			control_reply(bev, control_error("request too long"));
		return;
	}
	c->current = bev;
	json_t *answer = control_dispatch(c, line);
	c->current = NULL;
	if (answer != NULL)
		control_reply(bev, answer);
	free(line);
}

static void
control_write_cb(struct bufferevent *bev, void *arg)
{
	if (!(bufferevent_get_enabled(bev) & EV_READ))	/* answered: done */
		bufferevent_free(bev);
}

static void
control_event_cb(struct bufferevent *bev, short what, void *arg)
{
	bufferevent_free(bev);
}

/* control_pending_event_cb: the client went away before its answer. */
static void
control_pending_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct control_pending *p = arg;

	p->bev = NULL;
	bufferevent_free(bev);
}

struct control_pending *
control_defer(struct control *c)
{
	struct control_pending *p;

	if (c->current == NULL)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->bev = c->current;
	c->deferred = 1;
	/* No timeout while the answer is awaited; EOF still tells a client gone. */
	bufferevent_set_timeouts(p->bev, NULL, NULL);
	bufferevent_setcb(p->bev, NULL, NULL, control_pending_event_cb, p);
	return p;
}

void
control_answer(struct control_pending *p, json_t *result, enum control_errkind kind,
    const char *err)
{
	json_t *reply = result != NULL ? json_pack("{s:i, s:b, s:o}", "v", CONTROL_VERSION,
	    "ok", 1, "result", result) : control_error_kind(err ? err : "failed", kind);

	if (p->bev == NULL)	/* the client is gone */
		json_decref(reply);
	else {
		/* From now on as any answer: freed once written, or if the client goes. */
		bufferevent_setcb(p->bev, NULL, control_write_cb, control_event_cb, NULL);
		control_reply(p->bev, reply);
	}
	free(p);
}

static void
control_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct bufferevent *bev = bufferevent_socket_new(evconnlistener_get_base(l), fd,
	    BEV_OPT_CLOSE_ON_FREE);
	struct timeval tv = { .tv_sec = CONTROL_TIMEOUT };

	bufferevent_setcb(bev, control_read_cb, control_write_cb, control_event_cb, arg);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct control *
control_new(struct event_base *base, const char *path)
{
	struct control *c = xcalloc(1, sizeof(*c));
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *dir = path ? xstrdup(path) : NULL;

	c->base = base;
	if (path == NULL) {	/* no socket: requests come through control_dispatch */
		free(dir);
		return c;
	}
	c->path = xstrdup(path);
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_err("control: socket path %s is too long", path);
		goto fail;
	}
	if (mkdir(dirname(dir), 0755) == -1 && errno != EEXIST) {
		log_err("control: cannot create %s: %s", dir, strerror(errno));
		goto fail;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	unlink(path);	/* a stale socket of an earlier run; the spool lock rules out two */
	mode_t old = umask(0117);
	c->evl = evconnlistener_new_bind(base, control_accept_cb, c, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC, 16, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (c->evl == NULL) {
		log_err("control: cannot listen on %s: %s", path, strerror(errno));
		goto fail;
	}
	free(dir);
	return c;
fail:
	free(dir);
	control_free(c);
	return NULL;
}

void
control_free(struct control *c)
{
	if (c == NULL)
		return;
	if (c->evl != NULL) {
		evconnlistener_free(c->evl);
		unlink(c->path);
	}
	free(c->path);
	free(c);
}

void
control_register(struct control *c, const char *name, control_fn fn, void *arg)
{
	if (c->ncmds == CONTROL_CMDS_MAX)
		fatal("control: too many commands (raise CONTROL_CMDS_MAX)");
	c->cmds[c->ncmds++] = (struct control_cmd){ name, fn, arg };
}

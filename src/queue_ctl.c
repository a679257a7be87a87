/*
 * queue_ctl: relayctl's view of the queue, served over the control socket.
 * Arguments: {"id": "QUEUEID"} or {"all": true} for hold, release and delete.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control.h"
#include "jsonstr.h"
#include "queue.h"
#include "queue_ctl.h"
#include "scheduler.h"
#include "xmalloc.h"

/* queue_ctl_state: what relayctl shows as a message's state. */
static const char *
queue_ctl_state(const struct queue_msg *m, time_t now)
{
	if (m->inflight)
		return "inflight";
	if (m->held)
		return "held";
	if (m->next_try > now || m->attempts > 0)
		return "deferred";
	return "waiting";
}

/* queue_ctl_entry: one message as a row of queue list. */
static void
queue_ctl_entry(struct queue_msg *m, void *arg)
{
	json_t *rcpts = json_array();
	time_t now = time(NULL);

	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpts[i].state == QUEUE_RCPT_PENDING)
			json_array_append_new(rcpts, jsonstr_new(m->rcpts[i].addr));
	json_array_append_new(arg, json_pack("{s:s, s:I, s:I, s:o, s:o, s:I, s:I, s:s, s:o, "
	    "s:o, s:I, s:o}", "id", m->id, "time", (json_int_t)m->ctime, "age",
	    (json_int_t)(now - m->ctime), "sender", jsonstr_new(m->sender), "recipients", rcpts,
	    "nrcpt",
	    (json_int_t)m->nrcpt, "size", (json_int_t)m->size, "state",
	    queue_ctl_state(m, now), "account", jsonstr_new(m->account), "next_attempt", m->next_try > now && !m->held ?
	    json_integer(m->next_try) : json_null(), "attempts", (json_int_t)m->attempts,
	    "last_reply", jsonstr_new(m->last_reply)));
}

/* queue_ctl_by_time: oldest first. */
static int
queue_ctl_by_time(const void *a, const void *b)
{
	json_int_t ta = json_integer_value(json_object_get(*(json_t * const *)a, "time"));
	json_int_t tb = json_integer_value(json_object_get(*(json_t * const *)b, "time"));
	const char *ia = json_string_value(json_object_get(*(json_t * const *)a, "id"));
	const char *ib = json_string_value(json_object_get(*(json_t * const *)b, "id"));

	return ta < tb ? -1 : ta > tb ? 1 : strcmp(ia, ib);
}

static json_t *
queue_ctl_list(json_t *args, char **err, void *arg)
{
	json_t *list = json_array(), *sorted = json_array(), **v;
	size_t n, i;

	scheduler_foreach(arg, queue_ctl_entry, list);
	n = json_array_size(list);
	v = xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++)
		v[i] = json_array_get(list, i);
	qsort(v, n, sizeof(*v), queue_ctl_by_time);
	for (i = 0; i < n; i++)
		json_array_append(sorted, v[i]);
	free(v);
	json_decref(list);
	return json_pack("{s:o, s:b}", "queue", sorted, "loading", scheduler_loading(arg));
}

/* queue_ctl_find: the message args name, or NULL with *err set. */
static struct queue_msg *
queue_ctl_find(struct scheduler *s, json_t *args, char **err)
{
	const char *id = json_string_value(json_object_get(args, "id"));
	struct queue_msg *m;

	if (id == NULL) {
		*err = xstrdup("give a queue id (or --all)");
		return NULL;
	}
	if ((m = scheduler_find(s, id)) == NULL)
		*err = xasprintf("no message %s in the queue", id);
	return m;
}

static json_t *
queue_ctl_show(json_t *args, char **err, void *arg)
{
	struct queue_msg *m = queue_ctl_find(arg, args, err);
	json_t *o;

	if (m == NULL)
		return NULL;
	if ((o = queue_msg_describe(scheduler_queue(arg), m)) == NULL) {
		*err = xasprintf("cannot read %s from the spool", m->id);
		return NULL;
	}
	json_object_set_new(o, "state", json_string(queue_ctl_state(m, time(NULL))));
	json_object_set_new(o, "attempts", json_integer(m->attempts));
	json_object_set_new(o, "next_attempt", m->next_try > time(NULL) ?
	    json_integer(m->next_try) : json_null());
	return o;
}

enum queue_ctl_op { QUEUE_CTL_HOLD, QUEUE_CTL_RELEASE, QUEUE_CTL_DELETE };

struct queue_ctl_batch {
	struct scheduler	*s;
	struct queue_msg	**v;
	size_t			 n;
};

static void
queue_ctl_collect(struct queue_msg *m, void *arg)
{
	struct queue_ctl_batch *b = arg;

	b->v[b->n++] = m;
}

/* queue_ctl_apply: hold, release or delete one message or all of them. */
static json_t *
queue_ctl_apply(struct scheduler *s, json_t *args, char **err, enum queue_ctl_op op)
{
	struct queue_ctl_batch b = { .s = s };
	size_t changed = 0;

	if (json_is_true(json_object_get(args, "all"))) {
		/* Collect first: deleting changes the table being walked. */
		b.v = xcalloc(scheduler_count(s) + 1, sizeof(*b.v));
		scheduler_foreach(s, queue_ctl_collect, &b);
	} else {
		struct queue_msg *m = queue_ctl_find(s, args, err);

		if (m == NULL)
			return NULL;
		b.v = xcalloc(1, sizeof(*b.v));
		b.v[b.n++] = m;
	}
	for (size_t i = 0; i < b.n; i++) {
		if (op == QUEUE_CTL_DELETE) {
			scheduler_delete(s, b.v[i]);
			changed++;
		} else
			changed += scheduler_hold(s, b.v[i], op == QUEUE_CTL_HOLD);
	}
	free(b.v);
	return json_pack("{s:I}", op == QUEUE_CTL_HOLD ? "held" : op == QUEUE_CTL_RELEASE ?
	    "released" : "deleted", (json_int_t)changed);
}

static json_t *
queue_ctl_hold(json_t *args, char **err, void *arg)
{
	return queue_ctl_apply(arg, args, err, QUEUE_CTL_HOLD);
}

static json_t *
queue_ctl_release(json_t *args, char **err, void *arg)
{
	return queue_ctl_apply(arg, args, err, QUEUE_CTL_RELEASE);
}

static json_t *
queue_ctl_delete(json_t *args, char **err, void *arg)
{
	return queue_ctl_apply(arg, args, err, QUEUE_CTL_DELETE);
}

static json_t *
queue_ctl_flush(json_t *args, char **err, void *arg)
{
	return json_pack("{s:I}", "flushed", (json_int_t)scheduler_flush(arg));
}

void
queue_ctl_register(struct control *c, struct scheduler *s)
{
	control_register(c, "queue-list", queue_ctl_list, s);
	control_register(c, "queue-show", queue_ctl_show, s);
	control_register(c, "queue-hold", queue_ctl_hold, s);
	control_register(c, "queue-release", queue_ctl_release, s);
	control_register(c, "queue-delete", queue_ctl_delete, s);
	control_register(c, "flush", queue_ctl_flush, s);
}

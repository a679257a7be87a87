/*
 * queue_ctl: relayctl's view of the queue, served over the control socket.
 * Arguments of hold, release and delete: {"ids": ["QUEUEID", ...]} ({"id": "QUEUEID"}
 * too), {"all": true}, or filters {"recipient": ADDR, "domain": DOMAIN, "sender":
 * ADDR}; the answer {"held"|"released"|"deleted": N, "unknown": [ids not queued]}.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "control.h"
#include "humantime.h"
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

/* queue_ctl_names: "main", "main and spare", "main, spare and third" of the accounts
 * in state, appended to buf; returns how many, *first_t the earliest of their key. */
static size_t
queue_ctl_names(json_t *accounts, const char *state, const char *key, long long *first_t,
    char *buf, size_t len)
{
	size_t n = 0, total = 0, i;
	json_t *a;

	json_array_foreach(accounts, i, a)
		total += strcmp(json_string_value(json_object_get(a, "state")), state) == 0;
	*first_t = 0;
	json_array_foreach(accounts, i, a) {
		long long t = json_integer_value(json_object_get(a, key));
		size_t used = strlen(buf);

		if (strcmp(json_string_value(json_object_get(a, "state")), state) != 0)
			continue;
		if (t > 0 && (*first_t == 0 || t < *first_t))
			*first_t = t;
		snprintf(buf + used, len - used, "%s%s", n == 0 ? "" : n + 1 == total ?
		    " and " : ", ", json_string_value(json_object_get(a, "name")));
		n++;
	}
	return n;
}

void
queue_ctl_why(const struct queue_msg *m, json_t *accounts, time_t now, time_t next,
    char *buf, size_t len)
{
	static const struct {
		const char	*state;
		const char	*what;	/* after the names */
		const char	*key;	/* the time it ends */
	} kinds[] = {
		{ "exhausted", "quota: %s exhausted, next free %s", "next_free" },
		{ "throttled", "%s throttled by the provider, until %s", "until" },
		{ "backoff", "%s cannot connect, next try %s", "until" },
	};
	char rel[40], names[256], part[400], *p;
	long long t;
	size_t i, used;
	json_t *a;

	buf[0] = '\0';
	if (m->inflight) {
		snprintf(buf, len, "being sent%s%s", m->account ? " through " : "",
		    m->account ? m->account : "");
		return;
	}
	if (m->held) {
		snprintf(buf, len, "held (relayctl queue release lets it go)");
		return;
	}
	if (next > now) {
		snprintf(buf, len, "%s%s%sretry %s", m->attempts > 0 ? "deferred: " : "",
		    m->last_reply ? m->last_reply : "", m->last_reply ? "; " : "",
		    humantime_rel(next, now, rel, sizeof(rel)));
		return;
	}
	json_array_foreach(accounts, i, a)
		if (strcmp(json_string_value(json_object_get(a, "state")), "ready") == 0)
			return;		/* an account may take it: it goes in turn */
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		names[0] = '\0';
		if (queue_ctl_names(accounts, kinds[k].state, kinds[k].key, &t, names,
		    sizeof(names)) == 0)
			continue;
		snprintf(part, sizeof(part), kinds[k].what, names, t > 0 ?
		    humantime_rel((time_t)t, now, rel, sizeof(rel)) : "unknown");
		used = strlen(buf);
		snprintf(buf + used, len - used, "%s%s", used ? "; " : "", part);
	}
	/* Each closed or disabled account with its own reason: its window (which
	 * limits_why says), or what disabled it. */
	json_array_foreach(accounts, i, a) {
		const char *st = json_string_value(json_object_get(a, "state"));
		const char *lw = json_string_value(json_object_get(a, "limits_why"));
		const char *why = json_string_value(json_object_get(a, "why"));

		if (strcmp(st, "closed") == 0)
			snprintf(part, sizeof(part), "%s %s", json_string_value(json_object_get(a,
			    "name")), lw != NULL && (p = strstr(lw, "outside window until ")) !=
			    NULL ? p : "outside its send window");
		else if (strcmp(st, "disabled") == 0)
			snprintf(part, sizeof(part), "%s disabled%s%s", json_string_value(
			    json_object_get(a, "name")), why ? ": " : "", why ? why : "");
		else
			continue;
		used = strlen(buf);
		snprintf(buf + used, len - used, "%s%s", used ? "; " : "", part);
	}
}

/* The accounts' status (scheduler_status) once per request, for the "why"s. */
struct queue_ctl_list {
	json_t	*list;
	json_t	*accounts;
};

/* queue_ctl_entry: one message as a row of queue list. */
static void
queue_ctl_entry(struct queue_msg *m, void *arg)
{
	struct queue_ctl_list *l = arg;
	json_t *rcpts = json_array();
	time_t now = (time_t)clock_steady(), wall = time(NULL);
	time_t next = (time_t)clock_to_wall((double)m->next_try);
	char why[600];

	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpts[i].state == QUEUE_RCPT_PENDING)
			json_array_append_new(rcpts, jsonstr_new(m->rcpts[i].addr));
	queue_ctl_why(m, l->accounts, wall, m->next_try > now ? next : 0, why, sizeof(why));
	json_array_append_new(l->list, json_pack("{s:s, s:I, s:I, s:o, s:o, s:I, s:I, s:s, "
	    "s:o, s:o, s:I, s:I, s:o, s:o}", "id", m->id, "time", (json_int_t)m->ctime, "age",
	    (json_int_t)(wall - m->ctime), "sender", jsonstr_new(m->sender), "recipients", rcpts,
	    "nrcpt", (json_int_t)m->nrcpt, "size", (json_int_t)m->size, "state",
	    queue_ctl_state(m, now), "account", jsonstr_new(m->account), "next_attempt",
	    m->next_try > now && !m->held ? json_integer(next) : json_null(), "attempts",
	    (json_int_t)(m->attempts + m->throttled), "throttled", (json_int_t)m->throttled,
	    "last_reply", jsonstr_new(m->last_reply), "why", why[0] ? jsonstr_new(why) :
	    json_null()));
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
	json_t *list = json_array(), *sorted = json_array(), **v, *st = scheduler_status(arg);
	struct queue_ctl_list l = { list, json_object_get(st, "accounts") };
	size_t n, i;

	scheduler_foreach(arg, queue_ctl_entry, &l);
	json_decref(st);
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
		control_fail(err, CONTROL_ERR_DATAERR, "give a queue id");
		return NULL;
	}
	if ((m = scheduler_find(s, id)) == NULL)
		control_fail(err, CONTROL_ERR_NOUSER, "no message %s in the queue", id);
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
	time_t now = (time_t)clock_steady(), next = (time_t)clock_to_wall((double)m->next_try);
	json_t *st = scheduler_status(arg);
	char why[600];

	queue_ctl_why(m, json_object_get(st, "accounts"), time(NULL), m->next_try > now ?
	    next : 0, why, sizeof(why));
	json_decref(st);
	json_object_set_new(o, "state", json_string(queue_ctl_state(m, now)));
	json_object_set_new(o, "attempts", json_integer(m->attempts + m->throttled));
	json_object_set_new(o, "throttled", json_integer(m->throttled));
	json_object_set_new(o, "next_attempt", m->next_try > now && !m->held ?
	    json_integer(next) : json_null());
	json_object_set_new(o, "why", why[0] ? jsonstr_new(why) : json_null());
	json_object_set_new(o, "last_reply", jsonstr_new(m->last_reply));
	return o;
}

enum queue_ctl_op { QUEUE_CTL_HOLD, QUEUE_CTL_RELEASE, QUEUE_CTL_DELETE };

/* Which messages a hold, release or delete is for, when not named by id. */
struct queue_ctl_batch {
	const char		*recipient;	/* one of its recipients is this address */
	const char		*domain;	/* one of its recipients is at this domain */
	const char		*sender;	/* its envelope sender is this address */
	struct queue_msg	**v;
	size_t			 n;
};

/* queue_ctl_domain_of: the domain of an address ("" when it has no @). */
static const char *
queue_ctl_domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : "";
}

int
queue_ctl_matches(const struct queue_msg *m, const char *recipient, const char *domain,
    const char *sender)
{
	int rcpt_ok = recipient == NULL, dom_ok = domain == NULL;

	if (sender != NULL && strcasecmp(m->sender, sender) != 0)
		return 0;
	for (size_t i = 0; i < m->nrcpt && (!rcpt_ok || !dom_ok); i++) {
		if (recipient != NULL && strcasecmp(m->rcpts[i].addr, recipient) == 0)
			rcpt_ok = 1;
		if (domain != NULL && strcasecmp(queue_ctl_domain_of(m->rcpts[i].addr),
		    domain) == 0)
			dom_ok = 1;
	}
	return rcpt_ok && dom_ok;
}

static void
queue_ctl_collect(struct queue_msg *m, void *arg)
{
	struct queue_ctl_batch *b = arg;

	if (queue_ctl_matches(m, b->recipient, b->domain, b->sender))
		b->v[b->n++] = m;
}

/* queue_ctl_filter: the string filter key of args: 0 with *v set (NULL: absent), or
 * -1 with *err set when it is there but no string or empty. */
static int
queue_ctl_filter(json_t *args, const char *key, const char **v, char **err)
{
	json_t *j = json_object_get(args, key);

	*v = json_string_value(j);
	if (j != NULL && (*v == NULL || **v == '\0')) {
		control_fail(err, CONTROL_ERR_DATAERR, "--%s needs a value", key);
		return -1;
	}
	return 0;
}

/*
 * queue_ctl_apply: hold, release or delete messages, named by id ("ids": [...], or
 * "id") or chosen by "all" or the filters "recipient", "domain", "sender" (all given
 * must match). The answer counts those changed and lists the ids not in the queue.
 */
static json_t *
queue_ctl_apply(struct scheduler *s, json_t *args, char **err, enum queue_ctl_op op)
{
	struct queue_ctl_batch b = { 0 };
	json_t *ids = json_object_get(args, "ids"), *unknown = json_array(), *v;
	size_t changed = 0, i;
	int all = json_is_true(json_object_get(args, "all"));

	if (queue_ctl_filter(args, "recipient", &b.recipient, err) == -1 ||
	    queue_ctl_filter(args, "domain", &b.domain, err) == -1 ||
	    queue_ctl_filter(args, "sender", &b.sender, err) == -1)
		goto fail;
	if (ids == NULL && json_is_string(json_object_get(args, "id"))) {
		ids = json_array();	/* one id, as relayctl before 17 sent it */
		json_array_append(ids, json_object_get(args, "id"));
	} else
		json_incref(ids);
	if ((ids != NULL) == (all || b.recipient || b.domain || b.sender)) {
		json_decref(ids);
		control_fail(err, CONTROL_ERR_DATAERR, ids ? "give queue ids or --all or "
		    "filters, not both" : "give queue ids, --all, or a filter (--recipient, "
		    "--domain, --sender)");
		goto fail;
	}
	if (ids == NULL) {
		/* Collect first: deleting changes the table being walked. */
		b.v = xcalloc(scheduler_count(s) + 1, sizeof(*b.v));
		scheduler_foreach(s, queue_ctl_collect, &b);
	} else {
		b.v = xcalloc(json_array_size(ids) + 1, sizeof(*b.v));
		json_array_foreach(ids, i, v) {
			struct queue_msg *m = json_is_string(v) ? scheduler_find(s,
			    json_string_value(v)) : NULL;
			size_t j;

			if (m == NULL) {
				json_array_append_new(unknown, json_is_string(v) ?
				    jsonstr_new(json_string_value(v)) : json_string("?"));
				continue;
			}
			for (j = 0; j < b.n && b.v[j] != m; j++)
				;
			if (j == b.n)	/* an id given twice counts once */
				b.v[b.n++] = m;
		}
		json_decref(ids);
	}
	for (i = 0; i < b.n; i++) {
		if (op == QUEUE_CTL_DELETE) {
			changed += !b.v[i]->deleted;
			scheduler_delete(s, b.v[i]);
		} else
			changed += scheduler_hold(s, b.v[i], op == QUEUE_CTL_HOLD);
	}
	free(b.v);
	return json_pack("{s:I, s:o}", op == QUEUE_CTL_HOLD ? "held" :
	    op == QUEUE_CTL_RELEASE ? "released" : "deleted", (json_int_t)changed,
	    "unknown", unknown);
fail:
	json_decref(unknown);
	return NULL;
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
queue_ctl_drop_suppressed(json_t *args, char **err, void *arg)
{
	return json_pack("{s:I}", "dropped", (json_int_t)scheduler_drop_suppressed_queued(arg));
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
	control_register(c, "queue-drop-suppressed", queue_ctl_drop_suppressed, s);
}

/*
 * bounce_store_ctl: the control commands of the bounce store: bounces, suppress-list,
 * suppress-add and suppress-remove (relayctl bounces, relayctl suppress ...).
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bounce_parse.h"
#include "bounce_status.h"
#include "bounce_store.h"
#include "bounce_store_ctl.h"
#include "bounce_store_int.h"
#include "config.h"
#include "control.h"
#include "events.h"
#include "jsonstr.h"
#include "log.h"
#include "xmalloc.h"

/* bounce_store_cmd_bounces: {"limit":N} -> {"bounces":[...]}, newest first. */
static json_t *
bounce_store_cmd_bounces(json_t *args, char **err, void *arg)
{
	struct bounce_store *b = arg;
	json_t *limit = json_object_get(args, "limit"), *list = json_array();
	size_t n = b->nrecs;

	if (limit != NULL && (!json_is_integer(limit) || json_integer_value(limit) < 0)) {
		json_decref(list);
		*err = xstrdup("limit must be a non-negative integer");
		return NULL;
	}
	if (limit != NULL && (json_int_t)n > json_integer_value(limit))
		n = (size_t)json_integer_value(limit);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, bounce_store_rec_json(b->recs[b->nrecs - 1 - i], 0));
	return json_pack("{s:o}", "bounces", list);
}

/* bounce_store_by_since: newest suppression first, then by address. */
static int
bounce_store_by_since(const void *x, const void *y)
{
	const struct bounce_addr *a = *(const struct bounce_addr *const *)x;
	const struct bounce_addr *c = *(const struct bounce_addr *const *)y;

	if (a->since != c->since)
		return a->since < c->since ? 1 : -1;
	return strcmp(a->addr, c->addr);
}

/* bounce_store_cmd_list: {"suppressed":[{"address","reason","since"}]}. */
static json_t *
bounce_store_cmd_list(json_t *args, char **err, void *arg)
{
	struct bounce_store *b = arg;
	struct bounce_addr **v = xcalloc(b->addrs.n + 1, sizeof(*v));
	size_t n = 0;
	json_t *list = json_array();

	for (size_t i = 0; i < b->addrs.nb; i++)
		for (struct bounce_store_map_ent *me = b->addrs.b[i]; me; me = me->next)
			if (((struct bounce_addr *)me->val)->suppressed)
				v[n++] = me->val;
	qsort(v, n, sizeof(*v), bounce_store_by_since);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:o, s:o, s:o}", "address",
		    jsonstr_new(v[i]->addr),
		    "reason", bounce_store_reason(v[i]), "since", bounce_store_iso(v[i]->since)));
	free(v);
	return json_pack("{s:o}", "suppressed", list);
}

/* bounce_store_arg_addr: the "address" argument, lower-cased and checked, or NULL. */
static char *
bounce_store_arg_addr(json_t *args, char **err)
{
	const char *a = json_string_value(json_object_get(args, "address"));
	char *l;

	if (a == NULL) {
		*err = xstrdup("an address is needed");
		return NULL;
	}
	char *t = bounce_store_mid(a);	/* the same trimming: blanks and <> */
	l = bounce_store_lower(t);
	free(t);
	if (!bounce_store_addr_ok(l)) {
		*err = xasprintf("\"%s\" is not a mail address", a);
		free(l);
		return NULL;
	}
	return l;
}

/*
 * bounce_store_ctl_log: append line (freed here) to the suppression log for the
 * operator's change. Returns 0, or -1 with *err set for relayctl.
 */
static int
bounce_store_ctl_log(struct bounce_store *b, char *line, char **err)
{
	int r = bounce_store_file_append(&b->f_suppress, line, 0);

	free(line);
	if (r == -1) {
		*err = xstrdup("cannot write the suppression list (see relayd's log)");
		return -1;
	}
	b->nsuppress_lines++;
	return 0;
}

/* bounce_store_cmd_add: {"address"} -> {"address","added"}. */
static json_t *
bounce_store_cmd_add(json_t *args, char **err, void *arg)
{
	struct bounce_store *b = arg;
	char *a = bounce_store_arg_addr(args, err);
	struct bounce_addr *e;
	time_t now = time(NULL);
	json_t *res;

	if (a == NULL)
		return NULL;
	e = bounce_store_addr(b, a, 1);
	if (e->suppressed) {
		res = json_pack("{s:o, s:b}", "address", jsonstr_new(a), "added", 0);
		free(a);
		return res;
	}
	if (bounce_store_ctl_log(b, xasprintf("add\t%lld\t%s\toperator\n", (long long)now,
	    a), err) == -1) {
		free(a);
		return NULL;
	}
	e->suppressed = 1;
	e->since = now;
	snprintf(e->reason, sizeof(e->reason), "operator");
	log_info("suppress: address=<%s> reason=operator (added with relayctl)", a);
	res = json_pack("{s:o, s:b}", "address", jsonstr_new(a), "added", 1);
	free(a);
	return res;
}

/* bounce_store_cmd_remove: {"address"} -> {"address"}; an error if not listed. */
static json_t *
bounce_store_cmd_remove(json_t *args, char **err, void *arg)
{
	struct bounce_store *b = arg;
	char *a = bounce_store_arg_addr(args, err);
	struct bounce_addr *e;
	time_t now = time(NULL);
	json_t *res;

	if (a == NULL)
		return NULL;
	if ((e = bounce_store_addr(b, a, 0)) == NULL || !e->suppressed) {
		*err = xasprintf("%s is not on the suppression list", a);
		free(a);
		return NULL;
	}
	if (bounce_store_ctl_log(b, xasprintf("del\t%lld\t%s\n", (long long)now, a),
	    err) == -1) {
		free(a);
		return NULL;
	}
	e->suppressed = 0;
	e->cleared = now;
	e->nsoft = 0;
	log_info("suppress: address=<%s> removed with relayctl", a);
	res = json_pack("{s:o}", "address", jsonstr_new(a));
	free(a);
	return res;
}

void
bounce_store_ctl_register(struct control *c, struct bounce_store *b)
{
	control_register(c, "bounces", bounce_store_cmd_bounces, b);
	control_register(c, "suppress-list", bounce_store_cmd_list, b);
	control_register(c, "suppress-add", bounce_store_cmd_add, b);
	control_register(c, "suppress-remove", bounce_store_cmd_remove, b);
}

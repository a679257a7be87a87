/*
 * bounce_store_suppress: the suppression list (SPOOL/bounces/suppress, format at the
 * top of bounce_store.c): which addresses are refused at RCPT and why, the rules
 * that put an address there after its bounces, and the log's compaction.
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
#include "bounce_store_int.h"
#include "config.h"
#include "events.h"
#include "jsonstr.h"
#include "log.h"
#include "xmalloc.h"

/* bounce_store_addr: the entry for address a (lower-cased), created if asked. */
struct bounce_addr *
bounce_store_addr(struct bounce_store *b, const char *a, int create)
{
	struct bounce_addr *e = bounce_store_map_get(&b->addrs, a);

	if (e == NULL && create) {
		e = xcalloc(1, sizeof(*e) + strlen(a) + 1);
		strcpy(e->addr, a);
		bounce_store_map_put(&b->addrs, a, e);
	}
	return e;
}

/* bounce_store_why: the refusal text for a suppressed entry. */
void
bounce_store_why(const struct bounce_addr *e, char *why, size_t len)
{
	char day[16];

	bounce_store_date(e->since, day, sizeof(day));
	if (strcmp(e->reason, "hard") == 0)
		snprintf(why, len, "suppressed after hard bounce on %s", day);
	else if (strncmp(e->reason, "soft:", 5) == 0)
		snprintf(why, len, "suppressed after %s soft bounces on %s", e->reason + 5, day);
	else
		snprintf(why, len, "suppressed by the operator on %s", day);
}

/* bounce_store_reason: the list's short reason for a suppressed entry. */
json_t *
bounce_store_reason(const struct bounce_addr *e)
{
	if (strcmp(e->reason, "hard") == 0)
		return json_string("hard bounce");
	if (strncmp(e->reason, "soft:", 5) == 0) {
		char buf[48];
		snprintf(buf, sizeof(buf), "%s soft bounces", e->reason + 5);
		return jsonstr_new(buf);
	}
	return json_string("added by the operator");
}

/* bounce_store_load_suppress: replay one line of the suppression log. */
void
bounce_store_load_suppress(char *line, size_t len, void *arg)
{
	struct bounce_store *b = arg;
	char *f[4], *p = line;
	int n = 0;
	struct bounce_addr *e;

	while (n < 4 && (f[n] = strsep(&p, "\t")) != NULL)
		n++;
	b->nsuppress_lines++;
	if (n == 4 && strcmp(f[0], "add") == 0 && p == NULL) {
		char *a = bounce_store_lower(f[2]);
		e = bounce_store_addr(b, a, 1);
		free(a);
		e->suppressed = 1;
		e->since = (time_t)strtoll(f[1], NULL, 10);
		snprintf(e->reason, sizeof(e->reason), "%s", f[3]);
	} else if (n == 3 && strcmp(f[0], "del") == 0) {
		char *a = bounce_store_lower(f[2]);
		e = bounce_store_addr(b, a, 1);
		free(a);
		e->suppressed = 0;
		e->cleared = (time_t)strtoll(f[1], NULL, 10);
		e->nsoft = 0;
	} else
		log_warn("bounces: suppress: skipping a malformed line");
}

/* bounce_store_suppress: put e on the list (memory first, then the log). */
static void
bounce_store_suppress(struct bounce_store *b, struct bounce_addr *e, time_t t,
    const char *reason)
{
	char why[128];

	e->suppressed = 1;
	e->since = t;
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	char *line = xasprintf("add\t%lld\t%s\t%s\n", (long long)t, e->addr, reason);
	bounce_store_file_append(&b->f_suppress, line, 0);	/* redone at start-up if lost */
	b->nsuppress_lines++;
	free(line);
	bounce_store_why(e, why, sizeof(why));
	log_info("suppress: address=<%s> reason=%s (%s)", e->addr, reason, why);
}

/* bounce_store_apply: count bounce r against its address; suppress if the rules say. */
void
bounce_store_apply(struct bounce_store *b, const struct bounce_rec *r)
{
	char reason[24];
	struct bounce_addr *e = bounce_store_addr(b, r->recipient, 1);

	if (r->t < e->cleared)
		return;		/* counted before the operator took it off the list */
	if (r->kind == BOUNCE_SOFT)
		e->nsoft++;
	if (e->suppressed)
		return;
	if (r->kind == BOUNCE_HARD && b->cfg->suppress_hard)
		bounce_store_suppress(b, e, r->t, "hard");
	else if (r->kind == BOUNCE_SOFT && b->cfg->suppress_soft_after > 0 &&
	    e->nsoft >= b->cfg->suppress_soft_after) {
		snprintf(reason, sizeof(reason), "soft:%d", e->nsoft);
		bounce_store_suppress(b, e, r->t, reason);
	}
}

/* bounce_store_compact_suppress: rewrite the log with one or two lines per address. */
void
bounce_store_compact_suppress(struct bounce_store *b)
{
	char *text = NULL;
	size_t len = 0, n = 0;
	FILE *fp = open_memstream(&text, &len);
	time_t cut = time(NULL) - BOUNCE_STORE_BOUNCE_DAYS * 24 * 3600;

	for (size_t i = 0; i < b->addrs.nb; i++)
		for (struct bounce_store_map_ent *me = b->addrs.b[i]; me; me = me->next) {
			const struct bounce_addr *e = me->val;

			if (e->cleared != 0 && e->cleared >= cut) {
				fprintf(fp, "del\t%lld\t%s\n", (long long)e->cleared, e->addr);
				n++;
			}
			if (e->suppressed) {
				fprintf(fp, "add\t%lld\t%s\t%s\n", (long long)e->since, e->addr,
				    e->reason);
				n++;
			}
		}
	fclose(fp);
	if (bounce_store_file_rewrite(&b->f_suppress, text) == 0)
		b->nsuppress_lines = n;
	free(text);
}

int
bounce_store_suppressed(struct bounce_store *b, const char *addr, char *why, size_t whylen)
{
	char key[BOUNCE_STORE_ADDR_MAX];
	size_t i;
	const struct bounce_addr *e;

	if (b == NULL)
		return 0;
	for (i = 0; addr[i] != '\0' && i + 1 < sizeof(key); i++)
		key[i] = (char)tolower((unsigned char)addr[i]);
	if (addr[i] != '\0')
		return 0;
	key[i] = '\0';
	if ((e = bounce_store_map_get(&b->addrs, key)) == NULL || !e->suppressed)
		return 0;
	if (why != NULL && whylen > 0)
		bounce_store_why(e, why, whylen);
	return 1;
}

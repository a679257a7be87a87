/*
 * bounce_store_sent: the sent log (SPOOL/bounces/sent, format at the top of
 * bounce_store.c): every recipient the provider accepted through an account that
 * watches its mailbox, kept 30 days and synced at most once a second, and the lookups
 * that match a bounce to the mail it reports.
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

/* bounce_store_index_sent: make s findable (the latest entry wins). */
static void
bounce_store_index_sent(struct bounce_store *b, struct bounce_sent *s)
{
	char *mid = bounce_store_lower(s->mid), *k = xasprintf("%s\t%s", mid, s->rcpt);

	bounce_store_map_put(&b->by_mid_rcpt, k, s);
	bounce_store_map_put(&b->by_mid, mid, s);
	bounce_store_map_put(&b->by_rcpt, s->rcpt, s);
	free(k);
	free(mid);
}

/* bounce_store_add_sent: keep one sent entry in memory (strings copied). */
static void
bounce_store_add_sent(struct bounce_store *b, time_t t, const char *qid,
    const char *account, const char *mid, const char *rcpt)
{
	struct bounce_sent *s = xcalloc(1, sizeof(*s));

	s->t = t;
	snprintf(s->qid, sizeof(s->qid), "%s", qid);
	s->account = xstrdup(account);
	s->mid = bounce_store_mid(mid);
	s->rcpt = bounce_store_lower(rcpt);
	if (b->nsent == b->capsent) {
		b->capsent = b->capsent ? b->capsent * 2 : 256;
		b->sent = xreallocarray(b->sent, b->capsent, sizeof(*b->sent));
	}
	b->sent[b->nsent++] = s;
	bounce_store_index_sent(b, s);
}

void
bounce_store_free_sent(struct bounce_sent *s)
{
	free(s->account);
	free(s->mid);
	free(s->rcpt);
	free(s);
}

/* bounce_store_load_sent: one line of the sent file. */
void
bounce_store_load_sent(char *line, size_t len, void *arg)
{
	struct bounce_store *b = arg;
	char *f[5], *p = line;
	int n = 0;

	while (n < 5 && (f[n] = strsep(&p, "\t")) != NULL)
		n++;
	if (n != 5 || p != NULL || strlen(f[1]) > QUEUE_ID_LEN) {
		log_warn("bounces: sent: skipping a malformed line");
		return;
	}
	bounce_store_add_sent(b, (time_t)strtoll(f[0], NULL, 10), f[1], f[2], f[3], f[4]);
}

/* bounce_store_prune_sent: forget entries older than the retention. 1 if any went. */
int
bounce_store_prune_sent(struct bounce_store *b, time_t now)
{
	time_t cut = now - BOUNCE_STORE_SENT_DAYS * 24 * 3600;
	size_t i, j;

	for (i = 0; i < b->nsent && b->sent[i]->t >= cut; i++)
		;
	if (i == b->nsent)
		return 0;
	bounce_store_map_clear(&b->by_mid_rcpt, NULL);
	bounce_store_map_clear(&b->by_mid, NULL);
	bounce_store_map_clear(&b->by_rcpt, NULL);
	for (i = j = 0; i < b->nsent; i++) {
		if (b->sent[i]->t < cut) {
			bounce_store_free_sent(b->sent[i]);
			continue;
		}
		b->sent[j++] = b->sent[i];
		bounce_store_index_sent(b, b->sent[i]);
	}
	b->nsent = j;
	return 1;
}

/* bounce_store_rewrite_sent: write the sent file from memory. */
void
bounce_store_rewrite_sent(struct bounce_store *b)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	for (size_t i = 0; i < b->nsent; i++) {
		const struct bounce_sent *s = b->sent[i];
		fprintf(fp, "%lld\t%s\t%s\t%s\t%s\n", (long long)s->t, s->qid, s->account,
		    s->mid, s->rcpt);
	}
	fclose(fp);
	bounce_store_file_rewrite(&b->f_sent, text);
	free(text);
}

/* bounce_store_sync_cb: the group sync of the sent file, a moment after a write. */
void
bounce_store_sync_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct bounce_store *b = arg;

	b->sent_dirty = 0;
	if (b->f_sent.fd != -1 && fdatasync(b->f_sent.fd) == -1)
		log_err("bounces: cannot sync %s/bounces/%s: %s", b->cfg->spool_dir,
		    b->f_sent.name, strerror(errno));
}

void
bounce_store_sent(struct bounce_store *b, const struct queue_msg *m, size_t idx,
    const char *account)
{
	time_t now = time(NULL);
	char *mid, *rcpt, *line;

	if (b == NULL || m->message_id == NULL || idx >= m->nrcpt)
		return;
	mid = bounce_store_mid(m->message_id);
	rcpt = bounce_store_lower(m->rcpts[idx].addr);
	if (*mid == '\0' || strpbrk(rcpt, "\t\r\n") != NULL || strchr(account, '\t')) {
		free(mid);
		free(rcpt);
		return;
	}
	line = xasprintf("%lld\t%s\t%s\t%s\t%s\n", (long long)now, m->id, account, mid, rcpt);
	if (bounce_store_file_append(&b->f_sent, line, 1) == 0 && !b->sent_dirty) {
		b->sent_dirty = 1;
		/* Not per message: one fdatasync for everything sent in that moment. */
		event_add(b->sync_ev, &(struct timeval){ .tv_sec = BOUNCE_STORE_SENT_SYNC });
	}
	bounce_store_add_sent(b, now, m->id, account, mid, rcpt);
	free(line);
	free(mid);
	free(rcpt);
}

/* bounce_store_match: find the sent mail a failed recipient reports. */
const struct bounce_sent *
bounce_store_match(struct bounce_store *b, const char *mid, const char *rcpt,
    const char **how)
{
	const struct bounce_sent *s = NULL;

	if (mid != NULL) {
		char *lmid = bounce_store_lower(mid), *k = xasprintf("%s\t%s", lmid, rcpt);

		if ((s = bounce_store_map_get(&b->by_mid_rcpt, k)) != NULL)
			*how = "message-id";
		else if ((s = bounce_store_map_get(&b->by_mid, lmid)) != NULL)
			*how = "message-id-only";
		free(k);
		free(lmid);
	} else if ((s = bounce_store_map_get(&b->by_rcpt, rcpt)) != NULL)
		*how = "recipient";
	if (s == NULL)
		*how = "none";
	return s;
}

/*
 * bounce_store_sent_to: of a report's addresses for one recipient (its pick, then
 * Original-Recipient, then Final-Recipient), the first the sent log says we sent to
 * (with that Message-ID when the report quotes one); else the report's pick.
 */
const char *
bounce_store_sent_to(struct bounce_store *b, const char *mid, const struct bounce_rcpt *rc)
{
	const char *cand[] = { rc->recipient, rc->original_recipient, rc->final_recipient };

	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
		const char *how;
		char *a;
		if (cand[i] == NULL || *cand[i] == '\0')
			continue;
		a = bounce_store_lower(cand[i]);
		const struct bounce_sent *s = bounce_store_match(b, mid, a, &how);
		free(a);
		if (s != NULL && strcmp(how, "message-id-only") != 0)
			return cand[i];
	}
	return rc->recipient;
}

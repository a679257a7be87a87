/*
 * bounce_store: what relayd knows about bounces, kept under SPOOL/bounces/.
 *
 * The scheduler tells it every recipient the provider accepted through an account
 * that watches its mailbox for bounces (bounce_store_sent);
 * imap_watch hands it every notification read from a watched mailbox
 * (bounce_store_report); smtp_session and the scheduler ask it whether an address is
 * suppressed (bounce_store_suppressed, a hash lookup: it runs for every RCPT).
 * Addresses are compared case-insensitively (ASCII), Message-IDs too.
 *
 * Three files, each starting with a format line, each appended one line per event
 * and synced; a line cut short by a crash (no final LF) is dropped at start-up
 * (bounce_store_file.c does the file work, bounce_store_map.c the hash tables).
 *
 * SPOOL/bounces/sent: what went out, for matching; entries older than 30 days are
 * pruned (at start-up and daily, by rewriting the file: tmp, fsync, rename).
 *   relayd-sent 1
 *   TIME<TAB>QUEUE-ID<TAB>ACCOUNT<TAB>MESSAGE-ID<TAB>RECIPIENT
 * TIME is unix seconds; MESSAGE-ID without <>. Lines are appended as recipients are
 * sent and synced at most once a second (BOUNCE_STORE_SENT_SYNC): a restart of relayd
 * loses none, an OS crash at most that last second's, whose bounces then go unmatched.
 *
 * SPOOL/bounces/bounces: the bounces found, one JSON object per line (the diagnostic
 * is free text); kept 180 days (pruned like sent):
 *   relayd-bounces 1
 *   {"time":1732300000,"key":"<digest of the notification>","recipient":"a@example.org",
 *    "kind":"hard","status":"5.1.1","permanent":true,"reason":"user_unknown",
 *    "diagnostic":"...","queue_id":"3F2A...","message_id":"...","account":"main",
 *    "matched":"message-id"}
 * (permanent and reason: see bounce_parse.h; a line written before they existed reads
 * as permanent for a 5.x.x status, reason "unknown"). The recipient is the one of the
 * report's addresses (its pick, Original-Recipient, Final-Recipient) that the sent
 * file says was sent to, else the report's pick. queue_id and message_id are null
 * when unknown; matched is how the sent mail was
 * found: "message-id" (Message-ID and recipient), "message-id-only" (the message, but
 * another recipient: a forward), "recipient" (no Message-ID quoted: the latest mail
 * to that recipient) or "none". (key, recipient) is unique: a notification read again
 * after a crash or a change of UIDVALIDITY is not counted twice.
 *
 * SPOOL/bounces/suppress: the suppression list as a log, replayed at start-up:
 *   relayd-suppress 1
 *   add<TAB>TIME<TAB>ADDRESS<TAB>REASON    REASON: hard, soft:N (after N soft), operator
 *   del<TAB>TIME<TAB>ADDRESS               removed by the operator
 * It is rewritten (tmp, fsync, rename) at start-up when superseded lines pile up.
 * Soft bounces count toward soft_after only after an address's last "del". At
 * start-up the rules are applied again to the bounces on record, so a suppression
 * lost to a crash between the two appends is made again. Every failed recipient
 * counts, matched to our mail or not: the address is dead either way.
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
#include "bounce_store_file.h"
#include "bounce_store_map.h"
#include "config.h"
#include "control.h"
#include "events.h"
#include "jsonstr.h"
#include "log.h"
#include "queue.h"
#include "xmalloc.h"

#define BOUNCE_STORE_SENT_DAYS		30
#define BOUNCE_STORE_BOUNCE_DAYS	180
#define BOUNCE_STORE_PRUNE_EVERY	(24 * 3600)	/* seconds */
#define BOUNCE_STORE_SENT_SYNC		1	/* seconds from a sent record to its fdatasync */
#define BOUNCE_STORE_ADDR_MAX		512
#define BOUNCE_STORE_LINE_MAX		(64 * 1024)

#define BOUNCE_STORE_SENT_MAGIC		"relayd-sent 1"
#define BOUNCE_STORE_BOUNCES_MAGIC	"relayd-bounces 1"
#define BOUNCE_STORE_SUPPRESS_MAGIC	"relayd-suppress 1"

/* One sent recipient. */
struct bounce_sent {
	time_t	 t;
	char	 qid[QUEUE_ID_LEN + 1];
	char	*account, *mid, *rcpt;	/* mid without <>; rcpt lower-cased */
};

/* One bounce record. */
struct bounce_rec {
	time_t		 t;
	char		*key, *recipient, *diagnostic, *queue_id, *message_id, *account;
	const char	*matched;	/* static */
	enum bounce_kind kind;
	char		 status[BOUNCE_STATUS_MAX];
	enum bounce_reason reason;
	int		 permanent;
};

/* What is known about one address (lower-cased). */
struct bounce_addr {
	int	 suppressed;
	time_t	 since;		/* when it was suppressed */
	char	 reason[24];	/* "hard", "soft:N", "operator" */
	time_t	 cleared;	/* last removal by the operator, 0 if never */
	int	 nsoft;		/* soft bounces since then */
	char	 addr[];
};

struct bounce_store {
	struct event_base	*base;
	struct config		*cfg;
	char			*dir;		/* SPOOL/bounces */
	int			 dirfd;
	struct bounce_store_file	 f_sent, f_bounces, f_suppress;

	struct bounce_sent	**sent;
	size_t			 nsent, capsent;
	struct bounce_store_map	 by_mid_rcpt, by_mid, by_rcpt;	/* -> struct bounce_sent */

	struct bounce_rec	**recs;
	size_t			 nrecs, caprecs;
	unsigned long long	 nhard, nsoft;	/* recorded since start: only go up */
	struct bounce_store_map	 seen;		/* "key\trecipient" -> struct bounce_rec */

	struct bounce_store_map	 addrs;		/* address -> struct bounce_addr */
	size_t			 nsuppress_lines;

	struct event		*sync_ev;	/* group fdatasync of the sent file */
	int			 sent_dirty;
	struct event		*prune_ev;
};

void
bounce_store_metrics(struct bounce_store *b, struct evbuffer *out)
{
	size_t hard = 0, soft = 0;

	for (size_t i = 0; i < b->nrecs; i++)
		if (b->recs[i]->kind == BOUNCE_HARD)
			hard++;
		else
			soft++;
	/* The counter counts what was recorded (those read from the spool at start
	 * too), not what is kept: the store forgets bounces older than 180 days and
	 * a counter must never go down. */
	evbuffer_add_printf(out, "# HELP relayd_bounces_total Bounces recorded from the "
	    "watched mailboxes, by kind (the store's at start, then each new one).\n"
	    "# TYPE relayd_bounces_total counter\nrelayd_bounces_total{kind=\"hard\"} "
	    "%llu\nrelayd_bounces_total{kind=\"soft\"} %llu\n", b->nhard, b->nsoft);
	evbuffer_add_printf(out, "# HELP relayd_bounces_stored Bounces kept in the store "
	    "(the last 180 days), by kind.\n# TYPE relayd_bounces_stored gauge\n"
	    "relayd_bounces_stored{kind=\"hard\"} %zu\nrelayd_bounces_stored{kind=\"soft\"} "
	    "%zu\n", hard, soft);
}

/* ---- small helpers ------------------------------------------------------------------ */

/* bounce_store_lower: s lower-cased (ASCII) in a new string. */
static char *
bounce_store_lower(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

/* bounce_store_mid: a Message-ID without blanks and <>, in a new string. */
static char *
bounce_store_mid(const char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '<')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
	    s[n - 1] == '\n' || s[n - 1] == '>'))
		n--;
	char *d = xstrndup(s, n);
	for (char *p = d; *p != '\0'; p++)
		if (*p == '\t' || *p == '\r' || *p == '\n')
			*p = ' ';
	return d;
}

/* bounce_store_date: "2026-11-22" (UTC) for t. */
static const char *
bounce_store_date(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d", &tm);
	return buf;
}

/* bounce_store_iso: "2026-11-22T10:00:00Z" for t, as a JSON string. */
static json_t *
bounce_store_iso(time_t t)
{
	char buf[32];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

/* bounce_store_addr_ok: a plausible address for the list: local@domain, no blanks. */
static int
bounce_store_addr_ok(const char *a)
{
	const char *at = strrchr(a, '@');
	size_t n = strlen(a);

	if (n == 0 || n >= BOUNCE_STORE_ADDR_MAX || at == NULL || at == a || at[1] == '\0')
		return 0;
	for (; *a != '\0'; a++)
		if ((unsigned char)*a <= 0x20 || *a == 0x7f || *a == '<' || *a == '>')
			return 0;
	return 1;
}

/* ---- sent mail ---------------------------------------------------------------------- */

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

static void
bounce_store_free_sent(struct bounce_sent *s)
{
	free(s->account);
	free(s->mid);
	free(s->rcpt);
	free(s);
}

/* bounce_store_load_sent: one line of the sent file. */
static void
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
static int
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
static void
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
static void
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

/* ---- the suppression list ----------------------------------------------------------- */

/* bounce_store_addr: the entry for address a (lower-cased), created if asked. */
static struct bounce_addr *
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
static void
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
static json_t *
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
static void
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
static void
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
static void
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

/* ---- bounce records ----------------------------------------------------------------- */

static json_t *bounce_store_rec_json(const struct bounce_rec *, int);

/*
 * bounce_store_report_event: apply a new bounce r, with its "bounced" event, and a
 * "suppressed" one if that put its address on the list.
 */
static void
bounce_store_report_event(struct bounce_store *b, const struct bounce_rec *r)
{
	struct bounce_addr *e = bounce_store_addr(b, r->recipient, 1);
	int was = e->suppressed;
	json_t *x = bounce_store_rec_json(r, 1);
	char why[128];

	json_object_del(x, "key");	/* the journal says which event, not which file */
	json_object_del(x, "time");
	events_emit(EVENTS_BOUNCED, r->queue_id, r->message_id, r->recipient, r->account, x);
	bounce_store_apply(b, r);
	if (!was && e->suppressed) {
		bounce_store_why(e, why, sizeof(why));
		events_emit(EVENTS_SUPPRESSED, r->queue_id, r->message_id, r->recipient,
		    r->account, json_pack("{s:s, s:s}", "reason", e->reason, "why", why));
	}
}

static void
bounce_store_free_rec(struct bounce_rec *r)
{
	free(r->key);
	free(r->recipient);
	free(r->diagnostic);
	free(r->queue_id);
	free(r->message_id);
	free(r->account);
	free(r);
}

/* bounce_store_seen_key: "key\trecipient", newly allocated. */
static char *
bounce_store_seen_key(const struct bounce_rec *r)
{
	return xasprintf("%s\t%s", r->key, r->recipient);
}

/* bounce_store_keep_rec: take r into memory (the store owns it now). */
static void
bounce_store_keep_rec(struct bounce_store *b, struct bounce_rec *r)
{
	char *k = bounce_store_seen_key(r);

	if (b->nrecs == b->caprecs) {
		b->caprecs = b->caprecs ? b->caprecs * 2 : 64;
		b->recs = xreallocarray(b->recs, b->caprecs, sizeof(*b->recs));
	}
	b->recs[b->nrecs++] = r;
	if (r->kind == BOUNCE_HARD)	/* a counter: pruning the store takes none back */
		b->nhard++;
	else
		b->nsoft++;
	bounce_store_map_put(&b->seen, k, r);
	free(k);
}

/* bounce_store_matched: the static name of a match kind read back from the file. */
static const char *
bounce_store_matched(const char *s)
{
	static const char *const names[] = { "message-id", "message-id-only", "recipient" };

	for (size_t i = 0; s != NULL && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0)
			return names[i];
	return "none";
}

/* bounce_store_rec_json: r as stored (file) or shown (relayctl, with ISO times). */
static json_t *
bounce_store_rec_json(const struct bounce_rec *r, int file)
{
	json_t *o = json_object();

	json_object_set_new(o, "time", file ? json_integer(r->t) : bounce_store_iso(r->t));
	if (file)
		json_object_set_new(o, "key", jsonstr_new(r->key));
	json_object_set_new(o, "recipient", jsonstr_new(r->recipient));
	json_object_set_new(o, "kind", json_string(bounce_parse_kind_name(r->kind)));
	json_object_set_new(o, "status", jsonstr_new(r->status));
	json_object_set_new(o, "permanent", json_boolean(r->permanent));
	json_object_set_new(o, "reason", json_string(bounce_status_reason_name(r->reason)));
	json_object_set_new(o, "diagnostic", jsonstr_new(r->diagnostic));
	json_object_set_new(o, "queue_id", jsonstr_new(r->queue_id));
	json_object_set_new(o, "message_id", jsonstr_new(r->message_id));
	json_object_set_new(o, "account", jsonstr_new(r->account));
	json_object_set_new(o, "matched", jsonstr_new(r->matched));
	return o;
}

/* bounce_store_jget: a string member of o, copied, or NULL. */
static char *
bounce_store_jget(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? xstrdup(s) : NULL;
}

/* bounce_store_load_rec: one line of the bounces file. */
static void
bounce_store_load_rec(char *line, size_t len, void *arg)
{
	struct bounce_store *b = arg;
	json_t *o = json_loadb(line, len, 0, NULL);
	struct bounce_rec *r;
	const char *kind, *status;

	if (o == NULL || !json_is_object(o) || !json_is_string(json_object_get(o, "key")) ||
	    !json_is_string(json_object_get(o, "recipient"))) {
		log_warn("bounces: bounces: skipping a malformed line");
		json_decref(o);
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->t = (time_t)json_integer_value(json_object_get(o, "time"));
	r->key = bounce_store_jget(o, "key");
	r->recipient = bounce_store_jget(o, "recipient");
	kind = json_string_value(json_object_get(o, "kind"));
	r->kind = kind && strcmp(kind, "hard") == 0 ? BOUNCE_HARD : BOUNCE_SOFT;
	status = json_string_value(json_object_get(o, "status"));
	snprintf(r->status, sizeof(r->status), "%s", status ? status : "");
	/* Records written before these fields: the status's class, no reason. */
	json_t *perm = json_object_get(o, "permanent");
	r->permanent = perm ? json_is_true(perm) : r->status[0] == '5';
	r->reason = bounce_status_reason_by_name(json_string_value(json_object_get(o,
	    "reason")));
	r->diagnostic = bounce_store_jget(o, "diagnostic");
	if (r->diagnostic == NULL)
		r->diagnostic = xstrdup("");
	r->queue_id = bounce_store_jget(o, "queue_id");
	r->message_id = bounce_store_jget(o, "message_id");
	r->account = bounce_store_jget(o, "account");
	if (r->account == NULL)
		r->account = xstrdup("");
	r->matched = bounce_store_matched(json_string_value(json_object_get(o, "matched")));
	json_decref(o);
	bounce_store_keep_rec(b, r);
}

/* bounce_store_prune_recs: drop records past the retention and rewrite the file. */
static void
bounce_store_prune_recs(struct bounce_store *b, time_t now)
{
	time_t cut = now - BOUNCE_STORE_BOUNCE_DAYS * 24 * 3600;
	size_t i, j;
	char *text = NULL;
	size_t len = 0;
	FILE *fp;

	for (i = 0; i < b->nrecs && b->recs[i]->t >= cut; i++)
		;
	if (i == b->nrecs)
		return;
	bounce_store_map_clear(&b->seen, NULL);
	fp = open_memstream(&text, &len);
	for (i = j = 0; i < b->nrecs; i++) {
		struct bounce_rec *r = b->recs[i];

		if (r->t < cut) {
			bounce_store_free_rec(r);
			continue;
		}
		b->recs[j++] = r;
		char *k = bounce_store_seen_key(r);
		bounce_store_map_put(&b->seen, k, r);
		free(k);
		json_t *o = bounce_store_rec_json(r, 1);
		char *s = json_dumps(o, JSON_COMPACT);
		fprintf(fp, "%s\n", s ? s : "{}");
		free(s);
		json_decref(o);
	}
	b->nrecs = j;
	fclose(fp);
	bounce_store_file_rewrite(&b->f_bounces, text);
	free(text);
}

/* bounce_store_match: find the sent mail a failed recipient reports. */
static const struct bounce_sent *
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
static const char *
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

int
bounce_store_report(struct bounce_store *b, const char *account, const char *key,
    const struct bounce_report *rep)
{
	time_t now = time(NULL);
	char *mid = NULL;
	int n = 0;

	if (rep->type != BOUNCE_FAILURE)
		return 0;
	if (rep->message_id != NULL && *rep->message_id != '\0')
		mid = bounce_store_mid(rep->message_id);
	for (size_t i = 0; i < rep->nrcpts; i++) {
		const struct bounce_rcpt *rc = &rep->rcpts[i];
		const struct bounce_sent *s;
		struct bounce_rec *r;
		const char *how;

		if (rc->kind == BOUNCE_KIND_NONE || strcmp(rc->action, "delayed") == 0 ||
		    !bounce_store_addr_ok(rc->recipient))
			continue;
		r = xcalloc(1, sizeof(*r));
		r->t = now;
		r->key = xstrdup(key);
		r->recipient = bounce_store_lower(bounce_store_sent_to(b, mid, rc));
		char *k = bounce_store_seen_key(r);
		int dup = bounce_store_map_get(&b->seen, k) != NULL;
		free(k);
		if (dup) {
			log_debug("bounce: to=<%s> account=%s notification %s already recorded",
			    r->recipient, account, key);
			bounce_store_free_rec(r);
			continue;
		}
		r->kind = rc->kind;
		snprintf(r->status, sizeof(r->status), "%s", rc->status);
		r->reason = rc->reason;
		r->permanent = rc->permanent;
		r->diagnostic = xstrdup(rc->diagnostic);
		r->account = xstrdup(account);
		s = bounce_store_match(b, mid, r->recipient, &how);
		r->matched = how;
		r->queue_id = s ? xstrdup(s->qid) : NULL;
		r->message_id = mid ? xstrdup(mid) : s ? xstrdup(s->mid) : NULL;

		json_t *o = bounce_store_rec_json(r, 1);
		char *js = json_dumps(o, JSON_COMPACT);
		char *line = xasprintf("%s\n", js ? js : "{}");
		int rc_w = bounce_store_file_append(&b->f_bounces, line, 0);
		free(line);
		free(js);
		json_decref(o);
		if (rc_w == -1) {
			bounce_store_free_rec(r);
			free(mid);
			return -1;
		}
		if (s != NULL)
			log_info("%s: to=<%s> account=%s status=bounced kind=%s dsn=%s "
			    "reason=%s message-id=<%s> matched=%s (%s)", s->qid, r->recipient,
			    account, bounce_parse_kind_name(r->kind), r->status[0] ? r->status :
			    "-", bounce_status_reason_name(r->reason), r->message_id, how,
			    r->diagnostic);
		else
			log_info("bounce: to=<%s> account=%s status=bounced kind=%s dsn=%s "
			    "reason=%s message-id=<%s> matched=none (%s)", r->recipient, account,
			    bounce_parse_kind_name(r->kind), r->status[0] ? r->status : "-",
			    bounce_status_reason_name(r->reason), mid ? mid : "", r->diagnostic);
		bounce_store_keep_rec(b, r);
		bounce_store_report_event(b, r);
		n++;
	}
	free(mid);
	return n;
}

/* ---- control commands --------------------------------------------------------------- */

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

/* bounce_store_cmd_add: {"address"} -> {"address","added"}. */
static json_t *
bounce_store_cmd_add(json_t *args, char **err, void *arg)
{
	struct bounce_store *b = arg;
	char *a = bounce_store_arg_addr(args, err), *line;
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
	line = xasprintf("add\t%lld\t%s\toperator\n", (long long)now, a);
	if (bounce_store_file_append(&b->f_suppress, line, 0) == -1) {
		free(line);
		free(a);
		*err = xstrdup("cannot write the suppression list (see relayd's log)");
		return NULL;
	}
	free(line);
	b->nsuppress_lines++;
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
	char *a = bounce_store_arg_addr(args, err), *line;
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
	line = xasprintf("del\t%lld\t%s\n", (long long)now, a);
	if (bounce_store_file_append(&b->f_suppress, line, 0) == -1) {
		free(line);
		free(a);
		*err = xstrdup("cannot write the suppression list (see relayd's log)");
		return NULL;
	}
	free(line);
	b->nsuppress_lines++;
	e->suppressed = 0;
	e->cleared = now;
	e->nsoft = 0;
	log_info("suppress: address=<%s> removed with relayctl", a);
	res = json_pack("{s:o}", "address", jsonstr_new(a));
	free(a);
	return res;
}

/* ---- life cycle --------------------------------------------------------------------- */

/* bounce_store_prune_cb: the daily pruning of old entries. */
static void
bounce_store_prune_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct bounce_store *b = arg;
	time_t now = time(NULL);

	if (bounce_store_prune_sent(b, now))
		bounce_store_rewrite_sent(b);
	bounce_store_prune_recs(b, now);
}

struct bounce_store *
bounce_store_open(struct event_base *base, struct config *cfg, struct control *ctl)
{
	struct bounce_store *b = xcalloc(1, sizeof(*b));
	time_t now = time(NULL);
	struct timeval day = { .tv_sec = BOUNCE_STORE_PRUNE_EVERY };

	b->base = base;
	b->cfg = cfg;
	b->dir = xasprintf("%s/bounces", cfg->spool_dir);
	b->f_sent = (struct bounce_store_file){ "sent", BOUNCE_STORE_SENT_MAGIC, b->dir, -1, -1 };
	b->f_bounces = (struct bounce_store_file){ "bounces", BOUNCE_STORE_BOUNCES_MAGIC, b->dir,
	    -1, -1 };
	b->f_suppress = (struct bounce_store_file){ "suppress", BOUNCE_STORE_SUPPRESS_MAGIC,
	    b->dir, -1, -1 };
	if ((mkdir(b->dir, 0700) == -1 && errno != EEXIST) ||
	    (b->dirfd = open(b->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_err("bounces: cannot open %s: %s", b->dir, strerror(errno));
		b->dirfd = -1;
		bounce_store_close(b);
		return NULL;
	}
	b->f_sent.dirfd = b->f_bounces.dirfd = b->f_suppress.dirfd = b->dirfd;
	if (bounce_store_file_load(&b->f_suppress, bounce_store_load_suppress, b) == -1 ||
	    bounce_store_file_load(&b->f_bounces, bounce_store_load_rec, b) == -1 ||
	    bounce_store_file_load(&b->f_sent, bounce_store_load_sent, b) == -1) {
		bounce_store_close(b);
		return NULL;
	}
	if (bounce_store_prune_sent(b, now))
		bounce_store_rewrite_sent(b);
	bounce_store_prune_recs(b, now);
	/* The rules again over what is on record: redo a suppression a crash lost. */
	for (size_t i = 0; i < b->nrecs; i++)
		bounce_store_apply(b, b->recs[i]);
	if (b->nsuppress_lines > 2 * b->addrs.n + 64)
		bounce_store_compact_suppress(b);

	b->sync_ev = event_new(base, -1, 0, bounce_store_sync_cb, b);
	b->prune_ev = event_new(base, -1, EV_PERSIST, bounce_store_prune_cb, b);
	event_add(b->prune_ev, &day);
	control_register(ctl, "bounces", bounce_store_cmd_bounces, b);
	control_register(ctl, "suppress-list", bounce_store_cmd_list, b);
	control_register(ctl, "suppress-add", bounce_store_cmd_add, b);
	control_register(ctl, "suppress-remove", bounce_store_cmd_remove, b);
	log_info("bounces: %zu bounce record(s), %zu sent recipient(s) remembered, "
	    "suppress hard=%s soft_after=%d", b->nrecs, b->nsent,
	    cfg->suppress_hard ? "yes" : "no", cfg->suppress_soft_after);
	return b;
}

void
bounce_store_reconfigure(struct bounce_store *b, struct config *cfg)
{
	if (b->cfg->suppress_hard != cfg->suppress_hard ||
	    b->cfg->suppress_soft_after != cfg->suppress_soft_after)
		log_info("bounces: suppress hard=%s soft_after=%d from now on",
		    cfg->suppress_hard ? "yes" : "no", cfg->suppress_soft_after);
	b->cfg = cfg;
}

void
bounce_store_close(struct bounce_store *b)
{
	if (b == NULL)
		return;
	if (b->sent_dirty && b->f_sent.fd != -1)
		fdatasync(b->f_sent.fd);
	if (b->sync_ev != NULL)
		event_free(b->sync_ev);
	if (b->prune_ev != NULL)
		event_free(b->prune_ev);
	for (size_t i = 0; i < b->nsent; i++)
		bounce_store_free_sent(b->sent[i]);
	free(b->sent);
	for (size_t i = 0; i < b->nrecs; i++)
		bounce_store_free_rec(b->recs[i]);
	free(b->recs);
	bounce_store_map_clear(&b->by_mid_rcpt, NULL);
	bounce_store_map_clear(&b->by_mid, NULL);
	bounce_store_map_clear(&b->by_rcpt, NULL);
	bounce_store_map_clear(&b->seen, NULL);
	bounce_store_map_clear(&b->addrs, free);
	bounce_store_file_close(&b->f_sent);
	bounce_store_file_close(&b->f_bounces);
	bounce_store_file_close(&b->f_suppress);
	if (b->dirfd != -1)
		close(b->dirfd);
	free(b->dir);
	free(b);
}

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
 * (bounce_store_file.c does the file work, bounce_store_map.c the hash tables). This
 * file keeps the bounce records and the store's life cycle; the sent log is
 * bounce_store_sent.c's, the suppression list bounce_store_suppress.c's, relayctl's
 * commands bounce_store_ctl.c's (registered with bounce_store_ctl_register).
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
#include "bounce_store_int.h"
#include "config.h"
#include "events.h"
#include "jsonstr.h"
#include "log.h"
#include "xmalloc.h"

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

/* ---- bounce records ----------------------------------------------------------------- */

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
json_t *
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
bounce_store_open(struct event_base *base, struct config *cfg)
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

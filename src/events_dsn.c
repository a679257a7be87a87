/*
 * events_dsn: the enqueue glue of the dsn_to reports (what, when and why at the top of
 * events_dsn.h; the report text is dsn.c's). It sits above the scheduler and the
 * spool: the journal calls it through its tap, it calls down into queue and scheduler.
 *
 * SPOOL/events/dsn, the keys of the reports made: one line per report,
 *   UNIXTIME KEY\n
 * KEY the report's Message-ID. Lines older than events.keep are dropped when relayd
 * starts. A torn last line is only a key forgotten.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bounce_store.h"
#include "config.h"
#include "dsn.h"
#include "events.h"
#include "events_dsn.h"
#include "jsonstr.h"
#include "log.h"
#include "queue.h"
#include "rewrite.h"
#include "scheduler.h"
#include "xmalloc.h"

#define EVENTS_DSN_FILE		"dsn"
#define EVENTS_DSN_LINE_MAX	1024

struct events_dsn {
	struct events		*events;
	struct queue		*q;
	struct scheduler	*sched;
	struct bounce_store	*bounces;
	const struct config	*cfg;
	int			 fd;	/* SPOOL/events/dsn, appended to, or -1 */
	json_t			*made;	/* key -> time of the reports made */
};

/* events_dsn_load: read the keys of the reports made, dropping those older than keep. */
static void
events_dsn_load(struct events_dsn *d, int dirfd)
{
	time_t old = time(NULL) - d->cfg->events.keep;
	FILE *fp;
	char line[EVENTS_DSN_LINE_MAX], key[EVENTS_DSN_LINE_MAX];
	long long t;
	int fd, dropped = 0;

	if ((fd = openat(dirfd, EVENTS_DSN_FILE, O_RDONLY | O_CLOEXEC)) == -1 ||
	    (fp = fdopen(fd, "r")) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "%lld %1023s", &t, key) != 2 || strchr(line, '\n') == NULL)
			continue;
		if (t < old)
			dropped++;
		else
			json_object_set_new(d->made, key, json_integer(t));
	}
	fclose(fp);
	if (dropped == 0)
		return;
	/* Rewrite with what is kept; no sync: a key lost only risks a second report. */
	if ((fd = openat(dirfd, EVENTS_DSN_FILE ".tmp", O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600)) == -1 || (fp = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	const char *k;
	json_t *v;
	json_object_foreach(d->made, k, v)
		fprintf(fp, "%lld %s\n", (long long)json_integer_value(v), k);
	if (fclose(fp) != 0 || renameat(dirfd, EVENTS_DSN_FILE ".tmp", dirfd,
	    EVENTS_DSN_FILE) == -1)
		log_err("events: cannot rewrite %s: %s", EVENTS_DSN_FILE, strerror(errno));
}

/* events_dsn_remember: the report key was made (in memory and in the file). */
static void
events_dsn_remember(struct events_dsn *d, const char *key)
{
	time_t now = time(NULL);
	char *line = xasprintf("%lld %s\n", (long long)now, key);
	size_t n = strlen(line);

	json_object_set_new(d->made, key, json_integer(now));
	if (d->fd == -1 || write(d->fd, line, n) != (ssize_t)n)
		log_err("events: cannot record the report %s: %s", key, strerror(errno));
	free(line);
}

/* events_dsn_headers: the header block of m from its spool file (NULL if unreadable). */
static char *
events_dsn_headers(struct events_dsn *d, const struct queue_msg *m, size_t *len)
{
	size_t n = m->header_size < REWRITE_HEADER_MAX ? (size_t)m->header_size :
	    REWRITE_HEADER_MAX;
	char *buf;
	ssize_t r;
	int fd;

	if (n == 0 || (fd = queue_msg_open(d->q, m)) == -1)
		return NULL;
	buf = xmalloc(n);
	r = pread(fd, buf, n, (off_t)m->data_off);
	close(fd);
	if (r <= 0) {
		free(buf);
		return NULL;
	}
	*len = (size_t)r;
	return buf;
}

/*
 * events_dsn_committed: the report is in the spool (or could not be stored); arg is
 * the scheduler, not the events_dsn, which may be gone by then.
 */
static void
events_dsn_committed(struct queue_msg *m, int err, void *arg)
{
	if (err != 0) {
		log_err("%s: report to <%s> not stored: %s", m->id, m->rcpts[0].addr,
		    strerror(err));
		queue_msg_free(m);
		return;
	}
	log_info("%s: client=relayd from=<> size=%llu nrcpt=1 message-id=%s status=queued "
	    "(delivery report)", m->id, (unsigned long long)m->size, m->message_id);
	events_emit_rcpt(EVENTS_QUEUED, m, 0, NULL, json_pack("{s:s, s:I}", "from", "",
	    "size", (json_int_t)m->size));
	scheduler_add(arg, m);
}

/* events_dsn_jstr: a string member of ev, or NULL. */
static const char *
events_dsn_jstr(const json_t *ev, const char *k)
{
	return json_string_value(json_object_get(ev, k));
}

/*
 * events_dsn_facts: the report's facts for the event ev (of type t, about m when
 * known); 0, or -1 when the event makes no report. The strings point into ev; the
 * status is written to status.
 */
static int
events_dsn_facts(enum events_type t, const json_t *ev, const struct queue_msg *m,
    struct dsn_facts *f, char status[16])
{
	const char *reason = events_dsn_jstr(ev, "reason"), *last;

	f->queue_id = events_dsn_jstr(ev, "queue_id");
	f->message_id = events_dsn_jstr(ev, "message_id");
	f->recipient = events_dsn_jstr(ev, "recipient");
	if (f->recipient == NULL)
		return -1;
	if (t == EVENTS_BOUNCED) {
		const char *kind = events_dsn_jstr(ev, "kind");

		f->reply = events_dsn_jstr(ev, "diagnostic");
		f->status = events_dsn_jstr(ev, "status");
		f->why = kind != NULL && strcmp(kind, "soft") == 0 ?
		    "bounced back later by the recipient's mail system (soft)" :
		    "bounced back later by the recipient's mail system";
		/* The queue id starts with the hex UNIX time the message was accepted. */
		if (f->queue_id != NULL && strlen(f->queue_id) == QUEUE_ID_LEN) {
			char hex[9];

			snprintf(hex, sizeof(hex), "%.8s", f->queue_id);
			f->arrival = (time_t)strtoll(hex, NULL, 16);
		}
		return 0;
	}
	if (reason == NULL || strcmp(reason, "deleted") == 0)
		return -1;	/* an operator's decision, not a delivery failure */
	f->reply = events_dsn_jstr(ev, "reply");
	f->remote_mta = events_dsn_jstr(ev, "relay");
	f->arrival = m != NULL ? m->ctime : 0;
	if (strcmp(reason, "expired") == 0) {
		f->why = "the retry lifetime ran out";
		/* The status the last reply gave, as a bounce parser reads it from the
		 * Diagnostic-Code (Sendmail's 4.x.x with Action: failed, RFC 3464 2.3.3). */
		last = f->reply != NULL ? strstr(f->reply, "last reply: ") : NULL;
		dsn_status(last != NULL ? last + 12 : NULL, status);
		f->status = status;
	} else
		f->why = strcmp(reason, "rejected") == 0 ? "refused by the provider" :
		    "undeliverable";
	return 0;
}

/* events_dsn_tap: a failed or bounced event: mail its report, unless it makes none. */
static void
events_dsn_tap(enum events_type t, const json_t *ev, const struct queue_msg *m, void *arg)
{
	struct events_dsn *d = arg;
	const char *to = d->cfg->events.dsn_to;
	struct dsn_facts f = { 0 };
	char status[16], why[256], *hdr = NULL, *mid, *text;
	size_t hlen = 0, len, header_len;
	struct queue_msg *r;

	if (to == NULL || events_dsn_facts(t, ev, m, &f, status) == -1)
		return;
	/* The loop guards: no report of a report, nor of a failure at dsn_to. */
	if (strcasecmp(f.recipient, to) == 0 || dsn_is_own(f.message_id))
		return;
	if (m != NULL && (hdr = events_dsn_headers(d, m, &hlen)) != NULL &&
	    dsn_is_report(hdr, hlen)) {
		free(hdr);
		return;
	}
	mid = dsn_message_id(d->cfg->hostname, f.queue_id, f.recipient);
	if (json_object_get(d->made, mid) != NULL)
		goto done;	/* made already (the failure is seen again) */
	if (bounce_store_suppressed(d->bounces, to, why, sizeof(why))) {
		log_warn("%s: to=<%s> no delivery report: dsn_to <%s> is suppressed (%s)",
		    f.queue_id ? f.queue_id : "-", f.recipient, to, why);
		goto done;
	}
	f.hostname = d->cfg->hostname;
	f.to = to;
	f.now = time(NULL);
	f.headers = hdr;
	f.headers_len = hlen;
	text = dsn_build(&f, &len, &header_len);
	r = queue_msg_new(d->q, "relayd", "");
	queue_msg_add_rcpt(r, to);
	if (queue_msg_begin(d->q, r, mid, header_len) == -1) {
		log_err("%s: to=<%s> delivery report not stored: %s", f.queue_id ?
		    f.queue_id : "-", f.recipient, strerror(errno));
		queue_msg_free(r);
	} else {
		queue_msg_write(r, text, len);
		log_info("%s: to=<%s> delivery report %s to <%s>", f.queue_id ? f.queue_id :
		    "-", f.recipient, r->id, to);
		queue_msg_commit(d->q, r, events_dsn_committed, d->sched);	/* sealed on return */
		events_dsn_remember(d, mid);
	}
	free(text);
done:
	free(mid);
	free(hdr);
}

struct events_dsn *
events_dsn_new(struct events *e, struct queue *q, struct scheduler *sched,
    struct bounce_store *bounces, const struct config *cfg)
{
	struct events_dsn *d;

	if (e == NULL)
		return NULL;
	d = xcalloc(1, sizeof(*d));
	d->events = e;
	d->q = q;
	d->sched = sched;
	d->bounces = bounces;
	d->cfg = cfg;
	d->made = json_object();
	events_dsn_load(d, events_dirfd(e));
	d->fd = openat(events_dirfd(e), EVENTS_DSN_FILE, O_WRONLY | O_CREAT | O_APPEND |
	    O_CLOEXEC, 0600);
	if (d->fd == -1)
		log_err("events: cannot open %s: %s", EVENTS_DSN_FILE, strerror(errno));
	events_set_tap(e, (1u << EVENTS_FAILED) | (1u << EVENTS_BOUNCED), events_dsn_tap, d);
	return d;
}

void
events_dsn_reconfigure(struct events_dsn *d, const struct config *cfg)
{
	if (d != NULL)
		d->cfg = cfg;
}

void
events_dsn_free(struct events_dsn *d)
{
	if (d == NULL)
		return;
	events_set_tap(d->events, 0, NULL, NULL);
	if (d->fd != -1)
		close(d->fd);
	json_decref(d->made);
	free(d);
}

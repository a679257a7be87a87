/*
 * events: the event journal (layout, ids and durability at the top of events.h).
 * Appending runs in the event loop: one write(2) per event on an O_APPEND segment.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "jsonstr.h"
#include "log.h"
#include "queue.h"
#include "xmalloc.h"

#define EVENTS_SEG_MAX		(4 * 1024 * 1024)	/* octets before a new segment */
#define EVENTS_SEG_AGE_MAX	86400			/* seconds, at most */
#define EVENTS_PRUNE_EVERY	60			/* seconds between prunes */
#define EVENTS_READ_CHUNK	(256 * 1024)

struct events {
	int		 dirfd;		/* SPOOL/events */
	int		 fd;		/* the segment being appended to, or -1 */
	uint64_t	 seg_first;	/* its first id */
	off_t		 seg_size;
	time_t		 seg_born;
	uint64_t	 last_id;
	uint64_t	 cursor;
	unsigned	 types;
	int		 keep;
	int		 werr;		/* the last append failed (logged once) */
	void		(*notify)(void *);
	void		*notify_arg;
	unsigned	 tap_types;	/* events_set_tap */
	void		(*tap)(enum events_type, const json_t *, const struct queue_msg *,
			    void *);
	void		*tap_arg;
	struct event	*notify_ev;
	struct event	*prune_ev;
};

static struct events *events_cur;

/* events_cmp: order of two segment ids for qsort. */
static int
events_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* events_segments: the sorted first ids of the segments in dirfd; *out is freed by the caller. */
static size_t
events_segments(int dirfd, uint64_t **out)
{
	size_t n = 0, cap = 0;
	struct dirent *de;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd == -1 ? NULL : fdopendir(fd);

	*out = NULL;
	if (d == NULL) {
		if (fd != -1)
			close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		char *end;
		uint64_t v;

		if (strlen(de->d_name) != 16)
			continue;
		errno = 0;
		v = strtoull(de->d_name, &end, 16);
		if (*end != '\0' || errno != 0 || v == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			*out = xreallocarray(*out, cap, sizeof(**out));
		}
		(*out)[n++] = v;
	}
	closedir(d);
	if (n > 1)
		qsort(*out, n, sizeof(**out), events_cmp);
	return n;
}

/* events_seg_name: a segment's file name. */
static void
events_seg_name(uint64_t first, char name[17])
{
	snprintf(name, 17, "%016" PRIx64, first);
}

/*
 * events_scan: read a segment from off to its end, handing each record with
 * id > after to fn (until it returns 1: stop); *off ends after the last complete line
 * read. Returns 0, or -1 if the file cannot be read.
 */
static int
events_scan(int dirfd, uint64_t seg, off_t *off, uint64_t after,
    int (*fn)(json_t *, off_t, void *), void *arg)
{
	char name[17], *buf = xmalloc(EVENTS_READ_CHUNK);
	size_t have = 0;
	int fd, stop = 0;

	events_seg_name(seg, name);
	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) == -1) {
		free(buf);
		return -1;
	}
	while (!stop) {
		ssize_t r = pread(fd, buf + have, EVENTS_READ_CHUNK - have, *off + (off_t)have);
		char *p = buf, *nl;

		if (r <= 0)
			break;
		have += (size_t)r;
		while (!stop && (nl = memchr(p, '\n', have - (size_t)(p - buf))) != NULL) {
			json_t *ev;
			off_t end = *off + (nl + 1 - buf);

			if (events_file_decode(p, (size_t)(nl - p), &ev) == 0) {
				if (events_file_id(ev) > after)
					stop = fn(ev, end, arg);
				else
					json_decref(ev);
			}
			p = nl + 1;
		}
		if (stop)
			break;
		*off += p - buf;
		have -= (size_t)(p - buf);
		memmove(buf, p, have);
		if (have == EVENTS_READ_CHUNK) {	/* a line longer than a chunk: skip it */
			*off += (off_t)have;
			have = 0;
		}
	}
	close(fd);
	free(buf);
	return 0;
}

struct events_reader {
	json_t			*out;
	size_t			 left;
	struct events_pos	*pos;
	uint64_t		 seg;
	ssize_t			 n;
};

/* events_reader_take: one record for events_read; 1 when enough were taken. */
static int
events_reader_take(json_t *ev, off_t end, void *arg)
{
	struct events_reader *r = arg;

	r->pos->seg = r->seg;
	r->pos->off = end;
	r->pos->last = events_file_id(ev);
	json_array_append_new(r->out, ev);
	r->n++;
	return --r->left == 0;
}

ssize_t
events_read(int dirfd, uint64_t after, size_t max, json_t *out, struct events_pos *pos)
{
	struct events_pos tmp = { 0, 0, 0 };
	struct events_reader r = { out, max, pos ? pos : &tmp, 0, 0 };
	uint64_t *segs;
	size_t n = events_segments(dirfd, &segs), i = 0;

	if (max == 0)
		return 0;
	/* The segment holding after + 1: the last one starting at or before it. */
	while (i + 1 < n && segs[i + 1] <= after + 1)
		i++;
	for (; i < n && r.left > 0; i++) {
		off_t off = 0;

		if (r.pos->last == after && after > 0 && r.pos->seg == segs[i])
			off = r.pos->off;
		else if (r.pos->last == after && after > 0 && r.pos->seg > segs[i])
			continue;
		r.seg = segs[i];
		events_scan(dirfd, segs[i], &off, after, events_reader_take, &r);
		if (r.n > 0)
			after = r.pos->last;
	}
	free(segs);
	return r.n;
}

/* events_last_take: remember the id of every record (open: the journal's last id). */
static int
events_last_take(json_t *ev, off_t end, void *arg)
{
	uint64_t *last = arg, id = events_file_id(ev);

	if (id > *last)
		*last = id;
	json_decref(ev);
	return 0;
}

/* events_recover: find the last id, and cut a torn last line off the newest segment. */
static void
events_recover(struct events *e)
{
	uint64_t *segs;
	size_t n = events_segments(e->dirfd, &segs);
	off_t off = 0;
	struct stat st;
	char name[17];
	int fd;

	if (n == 0) {
		free(segs);
		return;
	}
	events_scan(e->dirfd, segs[n - 1], &off, 0, events_last_take, &e->last_id);
	events_seg_name(segs[n - 1], name);
	if ((fd = openat(e->dirfd, name, O_WRONLY | O_CLOEXEC)) != -1) {
		if (fstat(fd, &st) == 0 && st.st_size > off) {
			log_warn("events: cutting %lld octets of a torn record off %s",
			    (long long)(st.st_size - off), name);
			if (ftruncate(fd, off) == -1)
				log_err("events: cannot cut %s: %s", name, strerror(errno));
		}
		close(fd);
	}
	if (segs[n - 1] > e->last_id + 1)	/* an empty segment: ids go on past it */
		e->last_id = segs[n - 1] - 1;
	free(segs);
}

/* events_read_cursor: the cursor file's id (0 if none). */
static uint64_t
events_read_cursor(int dirfd)
{
	char buf[32];
	int fd = openat(dirfd, "cursor", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strtoull(buf, NULL, 10);
}

uint64_t
events_cursor(const struct events *e)
{
	return e->cursor;
}

void
events_set_cursor(struct events *e, uint64_t id)
{
	char buf[32];
	int fd, len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", id);

	e->cursor = id;
	/* No sync: after an OS crash the receiver gets some events again (at least once). */
	fd = openat(e->dirfd, "cursor.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || write(fd, buf, (size_t)len) != len ||
	    renameat(e->dirfd, "cursor.tmp", e->dirfd, "cursor") == -1)
		log_err("events: cannot record the cursor: %s", strerror(errno));
	if (fd != -1)
		close(fd);
}

/* events_prune: drop the segments whose newest event is older than keep. */
static void
events_prune(struct events *e)
{
	uint64_t *segs;
	size_t n = events_segments(e->dirfd, &segs);
	time_t now = time(NULL);
	struct stat st;
	char name[17];

	/* The newest segment always stays: it holds the last id. */
	for (size_t i = 0; i + 1 < n; i++) {
		uint64_t last = segs[i + 1] - 1;

		events_seg_name(segs[i], name);
		if (fstatat(e->dirfd, name, &st, 0) == -1 || st.st_mtime >= now - e->keep)
			break;
		if (e->notify != NULL && last > e->cursor) {
			uint64_t from = e->cursor >= segs[i] ? e->cursor + 1 : segs[i];

			log_warn("events: dropping %" PRIu64 " undelivered event(s) %" PRIu64
			    "..%" PRIu64 ", older than keep (%ds)", last - from + 1, from, last,
			    e->keep);
		}
		unlinkat(e->dirfd, name, 0);
	}
	free(segs);
}

/* events_prune_cb: the pruning timer. */
static void
events_prune_cb(evutil_socket_t fd, short what, void *arg)
{
	events_prune(arg);
}

/* events_notify_cb: new events this loop turn: tell the reader once. */
static void
events_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct events *e = arg;

	if (e->notify != NULL)
		e->notify(e->notify_arg);
}

struct events *
events_open(struct event_base *base, const char *spool_dir, unsigned types, int keep)
{
	struct events *e = xcalloc(1, sizeof(*e));
	char *dir = xasprintf("%s/events", spool_dir);

	e->fd = -1;
	e->types = types;
	e->keep = keep;
	if ((mkdir(dir, 0700) == -1 && errno != EEXIST) ||
	    (e->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_err("events: cannot open %s: %s", dir, strerror(errno));
		free(dir);
		free(e);
		return NULL;
	}
	free(dir);
	e->cursor = events_read_cursor(e->dirfd);
	events_recover(e);
	if (e->cursor > e->last_id)
		e->last_id = e->cursor;
	if (base != NULL) {
		e->notify_ev = event_new(base, -1, 0, events_notify_cb, e);
		e->prune_ev = event_new(base, -1, EV_PERSIST, events_prune_cb, e);
		event_add(e->prune_ev, &(struct timeval){ .tv_sec = EVENTS_PRUNE_EVERY });
	}
	events_prune(e);
	events_cur = e;
	return e;
}

void
events_close(struct events *e)
{
	if (e == NULL)
		return;
	if (events_cur == e)
		events_cur = NULL;
	if (e->notify_ev != NULL)
		event_free(e->notify_ev);
	if (e->prune_ev != NULL)
		event_free(e->prune_ev);
	if (e->fd != -1)
		close(e->fd);
	close(e->dirfd);
	free(e);
}

void
events_reconfigure(struct events *e, unsigned types, int keep)
{
	e->types = types;
	e->keep = keep;
}

void
events_set_notify(struct events *e, void (*fn)(void *), void *arg)
{
	e->notify = fn;
	e->notify_arg = arg;
}

uint64_t
events_last_id(const struct events *e)
{
	return e->last_id;
}

int
events_dirfd(const struct events *e)
{
	return e->dirfd;
}

/* events_segment: the segment to append id to, opened (a new one when due). */
static int
events_segment(struct events *e, uint64_t id, time_t now)
{
	int age = e->keep / 4 < EVENTS_SEG_AGE_MAX ? e->keep / 4 : EVENTS_SEG_AGE_MAX;
	char name[17];
	struct stat st;

	if (e->fd != -1 && e->seg_size < EVENTS_SEG_MAX && now - e->seg_born < age)
		return 0;
	if (e->fd != -1) {		/* full or old: the next segment starts here */
		close(e->fd);
		e->fd = -1;
		e->seg_first = 0;
	}
	if (e->seg_first == 0) {	/* go on with the newest segment, if it is young */
		uint64_t *segs;
		size_t n = events_segments(e->dirfd, &segs);

		e->seg_first = id;
		e->seg_born = now;
		if (n > 0) {
			events_seg_name(segs[n - 1], name);
			if (fstatat(e->dirfd, name, &st, 0) == 0 && st.st_size < EVENTS_SEG_MAX &&
			    now - st.st_ctime < age && segs[n - 1] <= id) {
				e->seg_first = segs[n - 1];
				e->seg_born = st.st_ctime;
			}
		}
		free(segs);
	}
	events_seg_name(e->seg_first, name);
	e->fd = openat(e->dirfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (e->fd == -1 || fstat(e->fd, &st) == -1)
		return -1;
	e->seg_size = st.st_size;
	return 0;
}

void
events_set_tap(struct events *e, unsigned types, void (*fn)(enum events_type,
    const json_t *, const struct queue_msg *, void *), void *arg)
{
	e->tap_types = fn != NULL ? types : 0;
	e->tap = fn;
	e->tap_arg = arg;
}

/* events_append: write the record o (its id the next one) to the journal; 0 or -1. */
static int
events_append(struct events *e, json_t *o, time_t now)
{
	char *line;
	size_t len;

	line = events_file_encode(o, &len);
	if (events_segment(e, e->last_id + 1, now) == -1 ||
	    write(e->fd, line, len) != (ssize_t)len) {
		if (!e->werr)
			log_err("events: cannot append to the journal: %s", strerror(errno));
		e->werr = 1;
		if (e->fd != -1 && ftruncate(e->fd, e->seg_size) == -1)
			e->werr = 1;	/* the torn line is skipped by readers and recovery */
		free(line);
		return -1;
	}
	e->werr = 0;
	e->seg_size += (off_t)len;
	e->last_id++;
	free(line);
	if (e->notify_ev != NULL)
		event_active(e->notify_ev, 0, 0);
	return 0;
}

/* events_emit_msg: events_emit, with the message m the event is about (may be NULL). */
static void
events_emit_msg(enum events_type t, const struct queue_msg *m, const char *queue_id,
    const char *message_id, const char *recipient, const char *account, json_t *extra)
{
	struct events *e = events_cur;
	time_t now = time(NULL);
	int journal, tap;
	json_t *o, *common;

	journal = e != NULL && (e->types & (1u << t));
	tap = e != NULL && (e->tap_types & (1u << t));
	if (!journal && !tap) {
		json_decref(extra);
		return;
	}
	o = journal ? json_pack("{s:I}", "id", (json_int_t)(e->last_id + 1)) : json_object();
	common = json_pack("{s:I, s:s, s:o, s:o, s:o, s:o}", "time", (json_int_t)now, "type",
	    events_file_type_name(t), "queue_id", jsonstr_new(queue_id), "message_id",
	    jsonstr_new(message_id), "recipient", jsonstr_new(recipient), "account",
	    jsonstr_new(account));
	json_object_update(o, common);
	json_decref(common);
	if (extra != NULL)
		json_object_update_missing(o, extra);	/* the common fields win */
	json_decref(extra);
	if (journal)
		events_append(e, o, now);
	/* After the record: what the tap does (a report enqueued) is caused by it. */
	if (tap)
		e->tap(t, o, m, e->tap_arg);
	json_decref(o);
}

void
events_emit(enum events_type t, const char *queue_id, const char *message_id,
    const char *recipient, const char *account, json_t *extra)
{
	events_emit_msg(t, NULL, queue_id, message_id, recipient, account, extra);
}

void
events_emit_rcpt(enum events_type t, const struct queue_msg *m, size_t idx,
    const char *account, json_t *extra)
{
	const char *mid = m->message_id;
	char *bare = NULL;
	size_t n;

	if (mid != NULL && (n = strlen(mid)) >= 2 && mid[0] == '<' && mid[n - 1] == '>')
		mid = bare = xstrndup(mid + 1, n - 2);
	events_emit_msg(t, m, m->id, mid, idx < m->nrcpt ? m->rcpts[idx].addr : NULL, account,
	    extra);
	free(bare);
}

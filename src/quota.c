/*
 * quota: the per-account sliding-window ledger.
 *
 * File SPOOL/ledger/MAILBOX (the account's address, so a renamed account keeps its
 * day; a ledger under the account's name, as older versions kept it, is moved there),
 * format version 1, one record per line:
 *   relayd-ledger 1
 *   R <id> <time> <units>      units reserved at time (wall clock), fsynced before sending
 *   S <id> <units> <time>      the reservation settled to units, the transaction
 *                              ended at time (not fsynced; older versions wrote no
 *                              time: then the reservation's stands)
 * A reservation without its S line (a crash mid-transaction) counts in full: the
 * ledger errs on the side of sending less. At open the file is rewritten with only
 * the last day's records (temporary file, fsync, rename, fsync of the directory), and
 * again whenever it has grown to several times that.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "quota.h"
#include "xmalloc.h"

#define QUOTA_MAGIC	"relayd-ledger 1\n"

struct quota_entry {
	uint64_t	id;
	time_t		t;
	long		units;
};

struct quota {
	char			*dir;
	char			*path;
	int			 durable;
	int			 fd;
	struct quota_entry	*e;		/* oldest first */
	size_t			 n, cap;
	uint64_t		 next_id;
	int			 per_hour, per_day;
	long			 burst;		/* spread: units per burst_len; 0: off */
	time_t			 burst_len;
	time_t			 last;
	size_t			 lines;		/* records in the file */
	time_t			 off;		/* quota_wall_offset the file is written with */
};

/*
 * quota_wall_offset: the wall clock minus the caller's clock (clock_steady), whole
 * seconds. Records are kept in memory on the caller's clock and on disk on the wall
 * clock, so that a ledger read after a restart (the steady clock anchored anew) puts
 * them where they were, also when the wall clock was stepped during the last run.
 */
static time_t
quota_wall_offset(void)
{
	return (time_t)llround(clock_to_wall(0.0));
}

/* quota_prune: drop records that left the day window. */
static void
quota_prune(struct quota *q, time_t now)
{
	size_t i = 0;

	while (i < q->n && q->e[i].t <= now - QUOTA_DAY)
		i++;
	if (i > 0) {
		memmove(q->e, q->e + i, (q->n - i) * sizeof(*q->e));
		q->n -= i;
	}
}

/* quota_add: append a record in memory (records arrive in time order). */
static void
quota_add(struct quota *q, uint64_t id, time_t t, long units)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 64;
		q->e = xreallocarray(q->e, q->cap, sizeof(*q->e));
	}
	q->e[q->n++] = (struct quota_entry){ id, t, units };
	if (t > q->last)
		q->last = t;
	if (id >= q->next_id)
		q->next_id = id + 1;
}

/* quota_find: the record of reservation id, or NULL. */
static struct quota_entry *
quota_find(struct quota *q, uint64_t id)
{
	for (size_t i = q->n; i > 0; i--)
		if (q->e[i - 1].id == id)
			return &q->e[i - 1];
	return NULL;
}

/* quota_by_time: records oldest first (then in the order they were made). */
static int
quota_by_time(const void *a, const void *b)
{
	const struct quota_entry *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* quota_load: read the ledger file, keeping the last day's records. */
static void
quota_load(struct quota *q, time_t now)
{
	FILE *fp = fopen(q->path, "r");
	char line[128];
	unsigned long long id;
	long long t;
	long units;
	time_t off = quota_wall_offset();
	int n, resort = 0;

	if (fp == NULL)
		return;
	if (fgets(line, sizeof(line), fp) == NULL || strcmp(line, QUOTA_MAGIC) != 0) {
		log_err("quota: %s is not a ledger of this version; starting it anew", q->path);
		fclose(fp);
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		struct quota_entry *e;

		if (sscanf(line, "R %llu %lld %ld", &id, &t, &units) == 3) {
			t -= off;
			/* Written under a clock ahead of ours (it was stepped back while
			 * relayd was down): count it as sent now, no later, so that it
			 * holds the windows for an hour and a day, not for days. */
			if (t > now)
				t = now;
			/* Kept even if older than a day: its S line may move it later. */
			quota_add(q, id, (time_t)t, units);
		} else if ((n = sscanf(line, "S %llu %ld %lld", &id, &units, &t)) >= 2 &&
		    (e = quota_find(q, id)) != NULL) {
			e->units = units;
			if (n == 3 && (t -= off) > e->t) {
				e->t = t > now ? now : t;
				resort = 1;
			}
		}
		/* A torn last line (a crash while appending) is ignored. */
	}
	fclose(fp);
	if (resort)
		qsort(q->e, q->n, sizeof(*q->e), quota_by_time);
	if (q->n > 0 && q->e[q->n - 1].t > q->last)
		q->last = q->e[q->n - 1].t;
	quota_prune(q, now);
}

/* quota_rewrite: write the file anew with only what is in memory. */
static int
quota_rewrite(struct quota *q)
{
	char *tmp = xasprintf("%s.tmp", q->path);
	time_t off = quota_wall_offset();
	FILE *fp;
	int fd, dfd, ok;

	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		log_err("quota: cannot write %s: %s", tmp, strerror(errno));
		if (fd != -1)
			close(fd);
		free(tmp);
		return -1;
	}
	q->off = off;
	fputs(QUOTA_MAGIC, fp);
	for (size_t i = 0; i < q->n; i++)
		fprintf(fp, "R %llu %lld %ld\n", (unsigned long long)q->e[i].id,
		    (long long)(q->e[i].t + off), q->e[i].units);
	ok = fflush(fp) == 0 && fsync(fd) == 0;
	fclose(fp);
	if (!ok || rename(tmp, q->path) == -1) {
		log_err("quota: cannot replace %s: %s", q->path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	if ((dfd = open(q->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(dfd);
		close(dfd);
	}
	if (q->fd != -1)
		close(q->fd);
	q->fd = open(q->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	q->lines = q->n;
	return q->fd == -1 ? -1 : 0;
}

char *
quota_file_name(const char *key)
{
	char *f = xstrdup(key);

	for (char *c = f; *c; c++) {
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
		else if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
		    strchr("@._+-", *c) != NULL) || (c == f && *c == '.'))
			*c = '_';
	}
	return f;
}

/* quota_migrate: the ledger was kept under the account's name (before it followed
 * the mailbox): move it to path, once. */
static void
quota_migrate(const char *dir, const char *legacy, const char *path)
{
	char *old;

	if (legacy == NULL || strchr(legacy, '/') != NULL || legacy[0] == '.' ||
	    access(path, F_OK) == 0)
		return;
	old = xasprintf("%s/%s", dir, legacy);
	if (strcmp(old, path) != 0 && access(old, F_OK) == 0) {
		if (rename(old, path) == 0)
			log_info("quota: ledger %s now follows the mailbox: %s", old, path);
		else
			log_err("quota: cannot move %s to %s: %s", old, path, strerror(errno));
	}
	free(old);
}

struct quota *
quota_open(const char *spool_dir, const char *key, const char *legacy, int durable,
    time_t now)
{
	struct quota *q = xcalloc(1, sizeof(*q));
	char *file;

	q->fd = -1;
	q->next_id = 1;
	q->durable = durable;
	if (!durable)
		return q;
	q->dir = xasprintf("%s/ledger", spool_dir);
	file = quota_file_name(key);
	q->path = xasprintf("%s/%s", q->dir, file);
	free(file);
	if (mkdir(q->dir, 0700) == -1 && errno != EEXIST) {
		log_err("quota: cannot create %s: %s", q->dir, strerror(errno));
		quota_free(q);
		return NULL;
	}
	quota_migrate(q->dir, legacy, q->path);
	quota_load(q, now);
	if (quota_rewrite(q) == -1) {
		quota_free(q);
		return NULL;
	}
	return q;
}

void
quota_free(struct quota *q)
{
	if (q == NULL)
		return;
	if (q->durable && q->fd != -1 && llabs((long long)(quota_wall_offset() - q->off)) > 1)
		quota_rewrite(q);	/* the wall clock was stepped: on disk as it is now */
	if (q->fd != -1)
		close(q->fd);
	free(q->e);
	free(q->path);
	free(q->dir);
	free(q);
}

void
quota_set_limits(struct quota *q, int per_hour, int per_day)
{
	q->per_hour = per_hour;
	q->per_day = per_day;
}

void
quota_set_burst(struct quota *q, long burst, time_t len)
{
	q->burst = len > 0 ? burst : 0;
	q->burst_len = len;
}

void
quota_used(const struct quota *q, time_t now, long *hour, long *day)
{
	*hour = *day = 0;
	for (size_t i = 0; i < q->n; i++) {
		if (q->e[i].t <= now - QUOTA_DAY)
			continue;
		*day += q->e[i].units;
		if (q->e[i].t > now - QUOTA_HOUR)
			*hour += q->e[i].units;
	}
}

/* quota_by_hour: see quota.h. */
void
quota_by_hour(const struct quota *q, time_t now, long *counts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		counts[i] = 0;
	for (size_t i = 0; i < q->n; i++) {
		time_t age = now - q->e[i].t;	/* < 0: a record after now, the last hour */
		size_t back = age <= 0 ? 0 : (size_t)(age / QUOTA_HOUR);

		if (back < n)
			counts[n - 1 - back] += q->e[i].units;
	}
}

long
quota_room(const struct quota *q, time_t now)
{
	long hour, day, room = LONG_MAX;

	quota_used(q, now, &hour, &day);
	if (q->per_hour > 0)
		room = q->per_hour - hour;
	if (q->per_day > 0 && q->per_day - day < room)
		room = q->per_day - day;
	if (q->burst > 0) {
		long used = 0;

		for (size_t i = 0; i < q->n; i++)
			if (q->e[i].t > now - q->burst_len)
				used += q->e[i].units;
		if (q->burst - used < room)
			room = q->burst - used;
	}
	return room < 0 ? 0 : room;
}

/* quota_window_free: earliest t >= now when a window of len with limit has units. */
static time_t
quota_window_free(const struct quota *q, time_t now, long units, long limit, time_t len)
{
	long used = 0;

	if (limit <= 0)
		return now;
	for (size_t i = 0; i < q->n; i++)
		if (q->e[i].t > now - len)
			used += q->e[i].units;
	if (used + units <= limit)
		return now;
	/* Records leave the window oldest first: find the one whose leaving is enough. */
	for (size_t i = 0; i < q->n; i++) {
		if (q->e[i].t <= now - len)
			continue;
		used -= q->e[i].units;
		if (used + units <= limit)
			return q->e[i].t + len;
	}
	return now + len;	/* units beyond the limit itself: never; say a window */
}

time_t
quota_next_free(const struct quota *q, time_t now, long units)
{
	time_t h = quota_window_free(q, now, units, q->per_hour, QUOTA_HOUR);
	time_t d = quota_window_free(q, now, units, q->per_day, QUOTA_DAY);
	time_t b = quota_window_free(q, now, units, q->burst, q->burst_len);

	if (d > h)
		h = d;
	return b > h ? b : h;
}

uint64_t
quota_next_id(const struct quota *q)
{
	return q->next_id;
}

void
quota_foreach(const struct quota *q, void (*fn)(uint64_t, time_t, long, void *), void *arg)
{
	for (size_t i = 0; i < q->n; i++)
		fn(q->e[i].id, q->e[i].t, q->e[i].units, arg);
}

time_t
quota_last(const struct quota *q)
{
	return q->last;
}

uint64_t
quota_reserve(struct quota *q, time_t now, long units)
{
	uint64_t id = q->next_id;
	char line[96];
	int len;

	/* A minute of margin: the caller may stamp a record later than the time it
	 * asks the windows at (rounded up, rounded down); what it may still count
	 * must not be dropped. */
	quota_prune(q, now - 60);
	if (q->durable) {
		/* Rewritten when it has grown, or when the wall clock was stepped: then
		 * the records so far are put on the wall clock as it is now. */
		if (q->lines > 4 * q->n + 1024 || llabs((long long)(quota_wall_offset() - q->off)) > 1)
			quota_rewrite(q);
		len = snprintf(line, sizeof(line), "R %llu %lld %ld\n", (unsigned long long)id,
		    (long long)(now + q->off), units);
		/* On disk before anything is sent: a crash must not hand out a fresh hour. */
		if (q->fd == -1 || write(q->fd, line, (size_t)len) != len || fdatasync(q->fd) == -1) {
			log_err("quota: cannot record a send in %s: %s", q->path, strerror(errno));
			return 0;
		}
		q->lines++;
	}
	quota_add(q, id, now, units);
	return id;
}

void
quota_settle(struct quota *q, uint64_t id, long units, time_t now)
{
	struct quota_entry *e = quota_find(q, id), moved;
	char line[96];
	int len;

	if (e == NULL)
		return;
	e->units = units;
	if (now > e->t) {
		/* The provider took it at the end of the transaction, not when it was
		 * reserved: its windows run from then. now is the latest time in the
		 * ledger (the clock is monotonic): the record moves to the end. */
		moved = *e;
		moved.t = now;
		memmove(e, e + 1, (size_t)(q->e + q->n - (e + 1)) * sizeof(*e));
		q->e[q->n - 1] = moved;
		if (now > q->last)
			q->last = now;
	}
	if (q->durable && q->fd != -1) {
		len = snprintf(line, sizeof(line), "S %llu %ld %lld\n", (unsigned long long)id,
		    units, (long long)(now + q->off));
		if (write(q->fd, line, (size_t)len) == len)
			q->lines++;
	}
}

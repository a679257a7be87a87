/*
 * scheduler_state: encode, decode and durably keep an account's suspension (the
 * format is described in scheduler_state.h).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "quota.h"
#include "scheduler_state.h"
#include "xmalloc.h"

#define SCHEDULER_STATE_MAGIC	"relayd-account 1\n"

int
scheduler_state_encode(const struct scheduler_state *st, char *buf, size_t len)
{
	char why[SCHEDULER_STATE_WHY], lwhy[PLANNER_WHY];
	const struct planner_learned *l = &st->learned;
	int n;

	/* One line: a reply with a line break in it would end the value early. */
	snprintf(why, sizeof(why), "%s", st->why);
	snprintf(lwhy, sizeof(lwhy), "%s", l->why);
	for (char *c = why; *c; c++)
		if (*c == '\r' || *c == '\n')
			*c = ' ';
	for (char *c = lwhy; *c; c++)
		if (*c == '\r' || *c == '\n')
			*c = ' ';
	n = snprintf(buf, len, SCHEDULER_STATE_MAGIC "format: 2\nthrottled_until: %.3f\n"
	    "throttles: %d\ndisabled: %.3f\nconfig: %016" PRIx64 "\nwhy: %s\n"
	    "learned_hour: %d\nlearned_day: %d\nlearned_at: %.3f\nlearned_step: %.3f\n"
	    "learned_drops: %d\nlearned_why: %s\n", st->throttled_until,
	    st->throttles, st->disabled_since, st->config, why, l->hour, l->day, l->at,
	    l->step_at, l->drops, lwhy);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

/* scheduler_state_copy: a value into buf (len bytes), cut short to fit. */
static void
scheduler_state_copy(char *buf, size_t len, const char *v)
{
	size_t w = strlen(v);

	if (w >= len)
		w = len - 1;
	memcpy(buf, v, w);
	buf[w] = '\0';
}

int
scheduler_state_decode(const char *buf, size_t len, struct scheduler_state *st)
{
	size_t magic = strlen(SCHEDULER_STATE_MAGIC);
	const char *p = buf + magic, *end = buf + len;

	memset(st, 0, sizeof(*st));
	if (len < magic || memcmp(buf, SCHEDULER_STATE_MAGIC, magic) != 0)
		return -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char line[SCHEDULER_STATE_WHY + 32];
		size_t l = (nl ? (size_t)(nl - p) : (size_t)(end - p));

		if (l >= sizeof(line))
			l = sizeof(line) - 1;
		memcpy(line, p, l);
		line[l] = '\0';
		p = nl ? nl + 1 : end;
		if (strncmp(line, "why: ", 5) == 0)
			scheduler_state_copy(st->why, sizeof(st->why), line + 5);
		else if (strncmp(line, "learned_why: ", 13) == 0)
			scheduler_state_copy(st->learned.why, sizeof(st->learned.why), line + 13);
		else if (sscanf(line, "throttled_until: %lf", &st->throttled_until) == 1 ||
		    sscanf(line, "throttles: %d", &st->throttles) == 1 ||
		    sscanf(line, "disabled: %lf", &st->disabled_since) == 1 ||
		    sscanf(line, "config: %" SCNx64, &st->config) == 1 ||
		    sscanf(line, "learned_hour: %d", &st->learned.hour) == 1 ||
		    sscanf(line, "learned_day: %d", &st->learned.day) == 1 ||
		    sscanf(line, "learned_at: %lf", &st->learned.at) == 1 ||
		    sscanf(line, "learned_step: %lf", &st->learned.step_at) == 1 ||
		    sscanf(line, "learned_drops: %d", &st->learned.drops) == 1)
			continue;
	}
	if (st->learned.hour < 0 || st->learned.day < 0 || !(st->learned.at >= 0) ||
	    !(st->learned.step_at >= 0) || st->learned.drops < 0)
		memset(&st->learned, 0, sizeof(st->learned));	/* damaged: learn anew */
	if (st->throttles < 0 || st->throttles > 64)
		st->throttles = 0;
	if (!(st->throttled_until >= 0))	/* also NaN */
		st->throttled_until = 0;
	if (!(st->disabled_since >= 0))
		st->disabled_since = 0;
	return 0;
}

/* scheduler_state_path: the file of mailbox key, and its directory in *dir. */
static char *
scheduler_state_path(const char *spool_dir, const char *key, char **dir)
{
	char *file = quota_file_name(key), *path;

	*dir = xasprintf("%s/account", spool_dir);
	path = xasprintf("%s/%s", *dir, file);
	free(file);
	return path;
}

int
scheduler_state_save(const char *spool_dir, const char *key, const struct scheduler_state *st)
{
	char buf[SCHEDULER_STATE_MAX], *dir, *path = scheduler_state_path(spool_dir,
	    key, &dir), *tmp = xasprintf("%s.tmp", path);
	int n = scheduler_state_encode(st, buf, sizeof(buf)), fd = -1, dfd, rc = -1;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		log_err("account state: cannot create %s: %s", dir, strerror(errno));
	else if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1 ||
	    n < 0 || write(fd, buf, (size_t)n) != n || fsync(fd) == -1 ||
	    rename(tmp, path) == -1) {
		log_err("account state: cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	} else {
		if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
			fsync(dfd);
			close(dfd);
		}
		rc = 0;
	}
	if (fd != -1)
		close(fd);
	free(tmp);
	free(path);
	free(dir);
	return rc;
}

int
scheduler_state_load(const char *spool_dir, const char *key, struct scheduler_state *st)
{
	char buf[SCHEDULER_STATE_MAX], *dir, *path = scheduler_state_path(spool_dir,
	    key, &dir);
	int fd, rc = 0;
	ssize_t n;

	memset(st, 0, sizeof(*st));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT) {
			log_err("account state: cannot read %s: %s", path, strerror(errno));
			rc = -1;
		}
	} else if ((n = read(fd, buf, sizeof(buf))) < 0 ||
	    scheduler_state_decode(buf, (size_t)n, st) == -1) {
		log_err("account state: %s is not a state file of this version; ignored", path);
		rc = -1;
	} else
		rc = 1;
	if (fd != -1)
		close(fd);
	free(path);
	free(dir);
	return rc;
}

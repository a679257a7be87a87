/*
 * test_shared_ledger: the shared ledger's Lua scripts (issue 20) on a real Redis
 * (Debian's redis-server, started here on a unix socket in a temporary directory, no
 * persistence): one table of reserves and puts run in order, each with its time, and
 * the answer each must get: granted units, the hour and day of all hosts, and when
 * one unit fits again. Without redis-server the test says so and fails.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "shared_ledger.h"
#include "t.h"

#define PER_HOUR	"3"
#define PER_DAY		"5"

static const struct {
	const char	*op;		/* "reserve" or "put" */
	const char	*member;
	const char	*units;
	const char	*now;		/* reserve: now; put: the record's time */
	int		 granted, gunits, hour, day;
	double		 at;		/* granted: now; refused: when one unit fits */
	int		 zcard;		/* members after it (-1: not checked) */
} steps[] = {
	{ "reserve", "h1:1", "1", "1000", 1, 1, 1, 1, 1000, 1 },
	{ "reserve", "h2:1", "2", "1001", 1, 2, 3, 3, 1001, 2 },
	/* the hour is full: free when the first record leaves it */
	{ "reserve", "h1:2", "1", "1002", 0, 0, 3, 3, 4600, 2 },
	/* 1000 has left the hour (a record counts in (now - 3600, now]) */
	{ "reserve", "h1:2", "1", "4600", 1, 1, 3, 4, 4600, 3 },
	/* the day has room for one of the two asked: a partial grant */
	{ "reserve", "h3:1", "2", "4601", 1, 1, 2, 5, 4601, 4 },
	/* the day is full: free when the oldest leaves the day */
	{ "reserve", "h1:3", "1", "4602", 0, 0, 2, 5, 87400, 4 },
	/* a release (units 0) gives room back */
	{ "put", "h2:1", "0", "1001", -1, 0, 0, 0, 0, 3 },
	{ "reserve", "h1:3", "1", "4603", 1, 1, 3, 4, 4603, 4 },
	/* asked again (its reply was lost): not counted twice */
	{ "reserve", "h1:3", "1", "4604", 1, 1, 3, 4, 4604, 4 },
	/* a day on, the first record is pruned with its units */
	{ "reserve", "h2:2", "1", "87400", 1, 1, 1, 4, 87400, 4 },
	/* reconciliation: a send made without Redis goes in at its own time, twice is
	 * once; a settle moves a record to the end of its transaction */
	{ "put", "h2:3", "1", "87300", -1, 0, 0, 0, 0, 5 },
	{ "put", "h2:3", "1", "87300", -1, 0, 0, 0, 0, 5 },
	/* which fills the day again: free when 4600 leaves it */
	{ "reserve", "h3:2", "5", "87401", 0, 0, 2, 5, 91000, 5 },
	/* then 4600 is pruned, the hour is empty, the day has one */
	{ "reserve", "h3:2", "5", "91000", 1, 1, 1, 5, 91000, 5 },
};

static double
num(const redisReply *e)
{
	return e->type == REDIS_REPLY_INTEGER ? (double)e->integer :
	    e->type == REDIS_REPLY_STRING ? strtod(e->str, NULL) : -1;
}

int
main(void)
{
	char dir[] = "/tmp/t_shared_XXXXXX", sock[128], dirarg[160];
	redisContext *c = NULL;
	pid_t pid;

	if (access("/usr/bin/redis-server", X_OK) != 0) {
		fprintf(stderr, "test_shared_ledger: /usr/bin/redis-server is missing "
		    "(apt-get install redis-server)\n");
		CHECK(0, "redis-server needed");
		T_DONE();
	}
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	snprintf(dirarg, sizeof(dirarg), "%s", dir);
	if ((pid = fork()) == 0) {
		freopen("/dev/null", "w", stdout);
		execl("/usr/bin/redis-server", "redis-server", "--port", "0", "--unixsocket",
		    sock, "--save", "", "--appendonly", "no", "--dir", dirarg, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && c == NULL; i++) {	/* up to 5 s */
		usleep(50000);
		if ((c = redisConnectUnix(sock)) != NULL && c->err) {
			redisFree(c);
			c = NULL;
		}
	}
	CHECK(c != NULL, "redis-server on %s", sock);
	for (size_t i = 0; c != NULL && i < sizeof(steps) / sizeof(steps[0]); i++) {
		int put = strcmp(steps[i].op, "put") == 0;
		const char *argv[10] = { "EVAL", put ? shared_ledger_put_lua :
		    shared_ledger_reserve_lua, "2", "q", "u", steps[i].member,
		    put ? steps[i].now : steps[i].units, put ? steps[i].units : PER_HOUR,
		    PER_DAY, steps[i].now };
		redisReply *r = redisCommandArgv(c, put ? 8 : 10, argv, NULL), *z;

		CHECK(r != NULL && r->type != REDIS_REPLY_ERROR, "step %zu: %s", i,
		    r && r->str ? r->str : "no reply");
		if (r != NULL && !put && r->type == REDIS_REPLY_ARRAY && r->elements == 5) {
			CHECK(num(r->element[0]) == steps[i].granted &&
			    num(r->element[1]) == steps[i].gunits &&
			    num(r->element[2]) == steps[i].hour &&
			    num(r->element[3]) == steps[i].day &&
			    num(r->element[4]) == steps[i].at, "step %zu (%s at %s): got "
			    "granted=%g units=%g hour=%g day=%g at=%g, want %d %d %d %d %g", i,
			    steps[i].member, steps[i].now, num(r->element[0]),
			    num(r->element[1]), num(r->element[2]), num(r->element[3]),
			    num(r->element[4]), steps[i].granted, steps[i].gunits, steps[i].hour,
			    steps[i].day, steps[i].at);
		} else if (!put)
			CHECK(0, "step %zu: not a 5-element answer", i);
		freeReplyObject(r);
		z = redisCommand(c, "ZCARD q");
		CHECK(z != NULL && z->integer == steps[i].zcard, "step %zu: %lld members, "
		    "want %d", i, z ? z->integer : -1, steps[i].zcard);
		freeReplyObject(z);
		z = redisCommand(c, "HLEN u");
		CHECK(z != NULL && z->integer == steps[i].zcard, "step %zu: %lld units, want "
		    "%d (the hash follows the set)", i, z ? z->integer : -1, steps[i].zcard);
		freeReplyObject(z);
	}
	if (c != NULL)
		redisFree(c);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	t_rmtree(dir);
	T_DONE();
}

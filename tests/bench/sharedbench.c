/*
 * sharedbench: the round trip of one reservation in the shared ledger (issue 20): the
 * reserve script (src/shared_ledger.c's, linked in) run by EVAL on a local Redis, one
 * after another, the ledger growing by one record each time (limits out of reach).
 * The records are spread over a day (a mailbox sending COUNT a day, evenly), the
 * last one at the present. Prints the median, 90th and 99th percentile in
 * microseconds, overall and over the last tenth (the longest ledger), as one JSON line.
 *   sharedbench HOST PORT COUNT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "../../src/shared_ledger.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return v[(int)(p * (n - 1))];
}

int
main(int argc, char **argv)
{
	redisContext *c;
	int n = argc > 3 ? atoi(argv[3]) : 2000;
	double *us = calloc((size_t)n, sizeof(*us)), wall;
	char member[64], t[32];

	if (argc < 4 || n < 10 || us == NULL)
		return 2;
	if ((c = redisConnect(argv[1], atoi(argv[2]))) == NULL || c->err) {
		fprintf(stderr, "sharedbench: cannot connect to %s:%s\n", argv[1], argv[2]);
		return 1;
	}
	freeReplyObject(redisCommand(c, "DEL bench:quota bench:units"));
	wall = (double)time(NULL) - 86400.0;
	for (int i = 0; i < n; i++) {
		const char *av[10] = { "EVAL", shared_ledger_reserve_lua, "2", "bench:quota",
		    "bench:units", member, "1", "100000000", "100000000", t };
		redisReply *r;
		double t0;

		snprintf(member, sizeof(member), "bench/host:%d", i + 1);
		snprintf(t, sizeof(t), "%.3f", wall + (i + 1) * (86400.0 / n));
		t0 = now();
		r = redisCommandArgv(c, 10, av, NULL);
		us[i] = (now() - t0) * 1e6;
		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->element[0]->integer != 1) {
			fprintf(stderr, "sharedbench: reserve %d not granted\n", i);
			return 1;
		}
		freeReplyObject(r);
	}
	int tail = n / 10;
	double *last = malloc((size_t)tail * sizeof(*last));

	memcpy(last, us + n - tail, (size_t)tail * sizeof(*last));
	printf("{\"count\": %d, \"median_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
	    "\"last_median_us\": %.1f}\n", n, pct(us, n, 0.5), pct(us, n, 0.9),
	    pct(us, n, 0.99), pct(last, tail, 0.5));
	freeReplyObject(redisCommand(c, "DEL bench:quota bench:units"));
	redisFree(c);
	return 0;
}

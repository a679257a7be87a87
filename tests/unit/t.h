/*
 * t.h: the unit tests' harness. Each test file is a set of tables of cases; CHECK
 * counts and reports, and T_DONE() prints the plain closing line and sets the exit code.
 */
#ifndef RELAYD_T_H
#define RELAYD_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_pass, t_fail;

#define CHECK(cond, ...) do {						\
	if (cond) {							\
		t_pass++;						\
	} else {							\
		t_fail++;						\
		fprintf(stderr, "%s:%d: FAIL: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
	}								\
} while (0)

#define CHECK_STR(got, want, ctx) CHECK(strcmp((got), (want)) == 0,	\
	"%s: got \"%s\", want \"%s\"", (ctx), (got), (want))

#define CHECK_MEM(got, glen, want, wlen, ctx) CHECK((glen) == (wlen) &&	\
	memcmp((got), (want), (glen)) == 0,				\
	"%s: got \"%.*s\" (%zu), want \"%.*s\" (%zu)", (ctx),		\
	(int)(glen), (got), (size_t)(glen), (int)(wlen), (want), (size_t)(wlen))

/* t_rmtree: remove a test's temporary directory and all in it. */
static inline void
t_rmtree(const char *dir)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) == -1)
		perror("rm");
}

#define T_DONE() do {							\
	printf("%s: %d passed, %d failed\n", __FILE__, t_pass, t_fail);	\
	return t_fail ? 1 : 0;						\
} while (0)

#endif

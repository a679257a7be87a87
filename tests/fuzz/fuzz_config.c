/*
 * fuzz_config: libFuzzer target for the config loader. The input is a relay.conf; it is
 * written to a temporary file and loaded with config_load_report (problems go to
 * /dev/null), then freed. A config that loads must honour what config.h promises: at
 * least one listen address and one account, an absolute spool_dir, ports and limits in
 * range, an account name and host for every account.
 *
 *   make fuzz FUZZTIME=60      (seeds: tests/fuzz/seeds/config, etc/relay.conf variants)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char	*__lsan_default_suppressions(void);

/*
 * libconfig 1.5's scanner leaks on some syntax errors: its string buffer when the file
 * ends inside a string literal ("log = \"abc<EOF>), a token string after adjacent
 * literals. A 5-line program calling only config_read_file and config_destroy leaks the
 * same on those inputs, so they are not relayd's; relayd exits on a bad config anyway.
 */
const char *
__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

static char	 fuzz_path[64];
static int	 fuzz_fd = -1;
static FILE	*fuzz_null;

static void
fuzz_cleanup(void)
{
	if (fuzz_path[0] != '\0')
		unlink(fuzz_path);
}

static void
fuzz_check(const struct config *c)
{
	if (c->nlisten == 0 || c->listen == NULL || c->naccounts == 0 ||
	    c->spool_dir == NULL || c->spool_dir[0] != '/' || c->control_socket == NULL ||
	    c->hostname == NULL || c->max_clients < 1 || c->max_recipients < 1 ||
	    c->max_message_size < 1024)
		abort();
	for (size_t i = 0; i < c->nlisten; i++)
		if (c->listen[i] == NULL)
			abort();
	for (size_t i = 0; i < c->naccounts; i++) {
		const struct config_account *a = &c->accounts[i];

		if (a->name == NULL || a->name[0] == '\0' || a->host == NULL ||
		    a->port < 1 || a->port > 65535 || a->sessions < 1 ||
		    (a->tls != CONFIG_TLS_IMPLICIT && a->tls != CONFIG_TLS_STARTTLS &&
		    a->tls != CONFIG_TLS_NONE))
			abort();
		if (a->limits.per_hour < 0 || a->limits.per_day < 0)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c;

	if (fuzz_fd == -1) {
		snprintf(fuzz_path, sizeof(fuzz_path), "/tmp/fuzz_config.%ld.XXXXXX",
		    (long)getpid());
		if ((fuzz_fd = mkstemp(fuzz_path)) == -1 ||
		    (fuzz_null = fopen("/dev/null", "w")) == NULL)
			abort();
		atexit(fuzz_cleanup);
	}
	if (ftruncate(fuzz_fd, 0) == -1 || pwrite(fuzz_fd, data, size, 0) != (ssize_t)size)
		abort();
	c = config_load_report(fuzz_path, fuzz_null);
	if (c != NULL) {
		fuzz_check(c);
		config_free(c);
	}
	return 0;
}

/*
 * test_config_shared: the Redis address of the "shared" group (issue 20) as a table:
 * what each form parses to, and what is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "config_shared.h"
#include "t.h"

static const struct {
	const char	*url;
	int		 ok;
	const char	*host, *unix_path;
	int		 port, db;
} urls[] = {
	{ "redis://127.0.0.1:6379/0", 1, "127.0.0.1", NULL, 6379, 0 },
	{ "redis://127.0.0.1", 1, "127.0.0.1", NULL, 6379, 0 },
	{ "redis://localhost:7000", 1, "localhost", NULL, 7000, 0 },
	{ "redis://10.0.0.5/3", 1, "10.0.0.5", NULL, 6379, 3 },
	{ "redis://[::1]:6380/2", 1, "::1", NULL, 6380, 2 },
	{ "redis://10.0.0.5/", 1, "10.0.0.5", NULL, 6379, 0 },
	{ "unix:/run/redis/redis.sock", 1, NULL, "/run/redis/redis.sock", 0, 0 },
	{ "unix:run/redis.sock", 0, NULL, NULL, 0, 0 },
	{ "http://127.0.0.1", 0, NULL, NULL, 0, 0 },
	{ "redis://", 0, NULL, NULL, 0, 0 },
	{ "redis://:6379", 0, NULL, NULL, 0, 0 },
	{ "redis://h:0", 0, NULL, NULL, 0, 0 },
	{ "redis://h:70000", 0, NULL, NULL, 0, 0 },
	{ "redis://h:63x79", 0, NULL, NULL, 0, 0 },
	{ "redis://h/db", 0, NULL, NULL, 0, 0 },
	{ "redis://h/1/2", 0, NULL, NULL, 0, 0 },
	{ "redis://user:pw@h", 0, NULL, NULL, 0, 0 },
	{ "redis://[::1", 0, NULL, NULL, 0, 0 },
};

int
main(void)
{
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct config_shared s = { 0 };
		char err[256] = "";
		int r = config_shared_url(urls[i].url, &s, err, sizeof(err));

		CHECK((r == 0) == urls[i].ok, "%s: %d (%s)", urls[i].url, r, err);
		if (!urls[i].ok) {
			CHECK(err[0] != '\0' && s.host == NULL && s.unix_path == NULL,
			    "%s: refused with a reason, nothing kept", urls[i].url);
		} else if (r == 0) {
			CHECK_STR(s.host ? s.host : "-", urls[i].host ? urls[i].host : "-",
			    urls[i].url);
			CHECK_STR(s.unix_path ? s.unix_path : "-", urls[i].unix_path ?
			    urls[i].unix_path : "-", urls[i].url);
			if (s.host != NULL)
				CHECK(s.port == urls[i].port && s.db == urls[i].db, "%s: %d/%d",
				    urls[i].url, s.port, s.db);
		}
		config_shared_free(&s);
	}
	T_DONE();
}

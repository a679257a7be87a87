/*
 * config_shared: the "shared" group of relay.conf (several relayd hosts sharing the
 * accounts' ledgers and suspensions through Redis, shared.c) and each account's
 * "shared" flag. config.c calls config_shared (config_int.h) once the accounts are
 * read; problems go through config_error, as "FILE:LINE: key: problem".
 */
#ifndef RELAYD_CONFIG_SHARED_H
#define RELAYD_CONFIG_SHARED_H

#include <stddef.h>

/* What shared accounts do while Redis cannot be reached (shared_ledger.c). */
enum config_shared_unavailable {
	CONFIG_SHARED_LOCAL_SHARE,	/* send at most limit/peers, reconcile on return */
	CONFIG_SHARED_STOP,		/* send nothing on them until it returns */
};

/* The "shared" group: the Redis server shared accounts keep their ledger in. */
struct config_shared {
	int		 enabled;	/* the group is present */
	char		*redis;		/* the address as written (logs, status) */
	char		*host;		/* redis://HOST:PORT/DB, or NULL */
	int		 port;
	int		 db;
	char		*unix_path;	/* unix:/PATH, or NULL */
	char		*password;	/* from password_file (AUTH), or NULL; never logged */
	char		*prefix;	/* every key starts with it (default "relayd:") */
	enum config_shared_unavailable on_unavailable;
	int		 peers;		/* hosts sharing the accounts (local_share) */
};

/*
 * config_shared_url: parse a Redis address into s: "redis://HOST[:PORT][/DB]"
 * (port 6379, db 0 by default; [v6] in brackets) or "unix:/PATH". Pure. Returns 0,
 * or -1 with what is wrong in err.
 */
int		 config_shared_url(const char *url, struct config_shared *s, char *err,
		    size_t errlen);

#endif

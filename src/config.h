/*
 * config: loads and validates relay.conf (libconfig syntax) into a struct config.
 * Every problem is reported as "FILE:LINE: key: problem" naming what is allowed, and
 * the whole file is checked before anything is used, so `relayd -t` and a reload
 * refuse a bad file as a whole. The keys are the public contract (etc/relay.conf).
 */
#ifndef RELAYD_CONFIG_H
#define RELAYD_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "acl.h"
#include "config_domains.h"
#include "config_shared.h"
#include "config_tls.h"
#include "outcome.h"

#define CONFIG_RECIPIENTS_MAX	10000	/* the largest max_recipients allowed */

/* How an account logs in: a password through SASL, or an OAuth 2.0 access token. */
enum config_auth {
	CONFIG_AUTH_PASSWORD,	/* "password" (default): SASL PLAIN, LOGIN, SCRAM, ... */
	CONFIG_AUTH_XOAUTH2,	/* "xoauth2": Google's and Microsoft's mechanism */
	CONFIG_AUTH_OAUTHBEARER, /* "oauthbearer": RFC 7628 */
};

/* Where an account's bounce notifications arrive (IMAP), from its "bounces" group. */
struct config_imap {
	int		 enabled;	/* the group is present */
	char		*host;
	int		 port;		/* default 993 (implicit) or 143 (starttls) */
	enum config_tls	 tls;
	char		*username;	/* default: the account's */
	char		*password;	/* default: the account's */
	char		*ca_file;	/* default: the account's */
	char		*folder;	/* default "INBOX" */
	char		*move_to;	/* processed notifications go here, or NULL */
	int		 poll;		/* seconds between checks without IDLE (default 60) */
	enum config_auth auth;		/* the account's: OAuth logs in with its token */
};

/* An OAuth account's "oauth" group over its preset's endpoints (oauth.c, relayctl). */
struct config_oauth {
	char		*token_url;	/* RFC 6749 token endpoint (refresh, code, device) */
	char		*device_url;	/* RFC 8628 device authorization, or NULL */
	char		*auth_url;	/* authorization endpoint (code + PKCE), or NULL */
	char		*scope;		/* space-separated */
	char		*client_id;
	char		*client_secret;	/* from client_secret_file, or NULL; never logged */
	char		*token_file;	/* default SPOOL/oauth/NAME */
	char		*token_command;	/* prints a current access token, or NULL */
	char		*ca_file;	/* extra trust anchors; default the account's */
};

/* An account's sending limits (0: no limit). */
struct config_limits {
	int		 per_hour;	/* units in any sliding hour */
	int		 per_day;	/* units in any sliding 24 hours */
	int		 count_recipients; /* 1: a unit is a recipient; 0: a message */
	int		 min_interval;	/* seconds between two sends */
	int		 max_recipients; /* per upstream transaction */
	unsigned long long max_message_size;
	int		 spread;	/* pace the hour evenly (planner_spread) */
};

/* An account's learning from throttles (planner.c); off unless set or preset. */
struct config_learn {
	int		 enabled;
	double		 factor;	/* after a throttle: factor x what got through */
	int		 floor;		/* never below this many units */
	int		 recover_after;	/* hours without a throttle per step back up */
};

/* An account's warm-up (planner.c): the day limit ramps from `from` to per_day. */
struct config_warmup {
	int		 enabled;
	long long	 start;		/* 00:00 UTC of its first day (epoch seconds) */
	int		 from;		/* the first day's limit */
	int		 days;		/* days to reach per_day */
};

struct sendwindow;

struct config_account {
	char		*name;
	char		*host;
	int		 port;
	enum config_tls	 tls;
	char		*username;	/* NULL: no AUTH (tls "none" only) */
	char		*password;	/* from password or password_file; never logged */
	char		*address;	/* the sender mail goes out as; default username */
	char		*ca_file;	/* extra trust anchors, or NULL */
	int		 sessions;	/* parallel upstream sessions */
	char		*provider;	/* the preset used, or NULL */
	struct config_limits limits;
	struct config_learn learn;
	struct config_warmup warmup;
	struct sendwindow *window;	/* send only inside; NULL: always */
	int		 backoff_initial; /* suspension after a throttle reply, doubling */
	int		 backoff_max;
	struct outcome_rule *rules;	/* the account's rules, then its preset's */
	size_t		 nrules;
	struct config_imap bounces;
	enum config_auth auth;		/* the "auth" key */
	struct config_oauth oauth;	/* auth "xoauth2" or "oauthbearer" only */
	int		 shared;	/* its ledger and state live in Redis (config_shared) */
};

/* The "events" group: the event journal and its webhook (events.c, webhook.c). */
struct config_events {
	int		 enabled;	/* the group is present: the journal is kept */
	char		*webhook;	/* URL events are POSTed to, or NULL */
	char		*secret;	/* from secret_file: the HMAC key; never logged */
	unsigned	 types;		/* 1 << enum events_type for each type kept */
	char		*ca_file;	/* extra trust anchors for the webhook, or NULL */
	int		 batch;		/* most events per POST (default 100) */
	int		 keep;		/* seconds events are kept (default 604800) */
	char		*dsn_to;	/* reports of failures mailed there (events_dsn.c) */
};

struct config {
	char		*path;
	char		**listen;	/* "ADDR:PORT" strings */
	size_t		 nlisten;
	char		*spool_dir;
	char		*control_socket;
	char		*hostname;	/* greeting and EHLO name */
	unsigned long long max_message_size;
	int		 max_clients;
	int		 max_clients_per_address; /* from one non-loopback address */
	int		 max_session_time; /* seconds, from connect to close */
	int		 max_recipients;
	int		 log_level;	/* LOG_* priority */
	int		 log_syslog;	/* log = "syslog" (default "stderr") */
	char		*user;		/* drop to this user after binding (as root), or NULL */
	char		*control_group;	/* group of the control socket, or NULL */
	char		*metrics_listen; /* "ADDR:PORT" for /metrics, or NULL */
	char		*tls_cert;	/* inbound STARTTLS certificate chain, or NULL */
	char		*tls_key;
	char		*auth_users;	/* passwd-style file for inbound SMTP AUTH, or NULL */
	struct acl_net	*allow;		/* allow_networks: may send without AUTH */
	size_t		 nallow;
	int		 retry_initial;	/* seconds */
	int		 retry_max;
	int		 retry_lifetime;
	int		 suppress_hard;		/* suppress an address after a hard bounce */
	int		 suppress_soft_after;	/* ... or after this many soft ones (0: never) */
	struct config_account *accounts;
	size_t		 naccounts;
	struct config_events events;
	struct config_domain *domains;	/* per recipient domain limits, in order */
	size_t		 ndomains;
	struct config_shared shared;
};

/*
 * config_load: read and check the file at path. Returns a new config, or NULL after
 * printing every problem found to stderr as "FILE:LINE: key: problem".
 * The caller frees the result with config_free.
 */
struct config	*config_load(const char *path);

/* config_load_report: the same, with the problems written to err instead. */
struct config	*config_load_report(const char *path, FILE *err);
void		 config_free(struct config *);

/* config_auth_name: "password", "xoauth2" or "oauthbearer". */
const char	*config_auth_name(enum config_auth);

/* config_url_allowed: https://, or http:// to a loopback host only. Pure. */
int		 config_url_allowed(const char *url);

/* config_tls_name: "implicit", "starttls" or "none". */
const char	*config_tls_name(enum config_tls);

#endif

/*
 * preset: built-in provider presets (account key provider = "mail.ru" etc.): server,
 * port, TLS mode, conservative sending limits and the provider's known throttle and
 * disable replies. The figures come from ../shared/PROVIDERS.md; where a limit was
 * observed rather than published, the preset stays well below it. Any key set in the
 * account overrides its preset's value.
 */
#ifndef RELAYD_PRESET_H
#define RELAYD_PRESET_H

#include "config_tls.h"

struct preset_rule {
	const char	*match;		/* POSIX extended regex, case-insensitive */
	const char	*stage;		/* "any" or a stage name */
	const char	*action;	/* "throttle", "disable", "fail", "retry", "sent" */
};

struct preset {
	const char	*name;
	const char	*host;
	int		 port;
	enum config_tls	 tls;
	const char	*imap_host;	/* for the bounces group */
	int		 per_hour;
	int		 per_day;
	int		 count_recipients;	/* 1: a recipient is a unit; 0: a message */
	int		 min_interval;
	int		 max_recipients;
	unsigned long long max_message_size;
	const struct preset_rule *rules;	/* NULL-terminated by match */
	double		 learn_factor;	/* learn = { ... } (0: learn off) */
	int		 learn_floor;
	int		 learn_recover_after;	/* hours */
};

/*
 * A provider's OAuth 2.0 endpoints (the account's oauth group fills in what is not
 * set). client_id is never preset: each operator registers an application.
 */
struct preset_oauth {
	const char	*name;
	const char	*token_url;
	const char	*device_url;	/* RFC 8628 device flow, or NULL */
	const char	*auth_url;	/* authorization code + PKCE, or NULL */
	const char	*scope;
};

/* preset_oauth_find: the OAuth endpoints of the preset called name, or NULL. */
const struct preset_oauth *preset_oauth_find(const char *name);

/* preset_find: the preset called name, or NULL. */
const struct preset *preset_find(const char *name);

/* preset_names: "mail.ru, yandex, ..." for error messages (static). */
const char	*preset_names(void);

#endif

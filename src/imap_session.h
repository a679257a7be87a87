/*
 * imap_session: the IMAP client for one account's "bounces" mailbox. It logs in over
 * TLS, fetches each new message once, has bounce_parse read it and bounce_store
 * record it, moves the reports if asked, waits with IDLE (or polls), and reconnects
 * with growing delays when the server drops it. It runs until freed.
 */
#ifndef RELAYD_IMAP_SESSION_H
#define RELAYD_IMAP_SESSION_H

#include <event2/dns.h>
#include <event2/event.h>

struct bounce_store;
struct config_account;
struct imap_session;

/*
 * imap_session_new: watch the mailbox of account a (a->bounces must be enabled),
 * keeping its position in dir/ACCOUNT. The session starts from the event loop, never
 * before this returns. a and store must outlive it. Returns NULL after logging when
 * the account cannot be watched (an unusable ca_file or folder name).
 */
struct imap_session *imap_session_new(struct event_base *, struct evdns_base *,
		    struct bounce_store *store, struct config_account *a, const char *dir);

/* A session's health, for relayctl status and the metrics (imap_watch). */
struct imap_health {
	const char	*account;
	const char	*state;		/* the state machine's, e.g. "idle", "backoff" */
	int		 connected;	/* logged in, not waiting to reconnect */
	double		 last_ok;	/* wall clock of the last complete check; 0: none */
	double		 last_err_at;	/* wall clock of the last failure; 0: none */
	const char	*last_err;	/* its reason, or NULL; the session's, valid until
					 * the next event */
};

/* imap_session_health: the session's health into h. */
void		 imap_session_health(const struct imap_session *, struct imap_health *h);

/*
 * imap_session_state_name: the name of session state s for the log ("idle"), NULL
 * for a state the table leaves out (a unit test walks them all: 0 up to the first
 * "?"), "?" past the last.
 */
const char	*imap_session_state_name(int s);

/*
 * imap_session_free: close the connection (no LOGOUT) and free. Not from the
 * session's own callbacks; from any other, or with the loop stopped. NULL: no-op.
 */
void		 imap_session_free(struct imap_session *);

#endif

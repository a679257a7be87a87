/*
 * oauth: relayd's OAuth 2.0 token manager. For every account with auth "xoauth2" or
 * "oauthbearer" it keeps a current access token in memory, refreshed on the event loop
 * ahead of its expiry: from the refresh token in the account's token_file (HTTPS POST
 * to token_url through http.c), or by running its token_command. A rotated refresh
 * token is written to the token file (durably, oauth_file.c) before the new access
 * token is handed out. A failing endpoint backs off and retries; "invalid_grant" means
 * the operator must log in again (relayctl oauth login). The AUTH path (auth.c,
 * imap_session.c) only reads the current token: no network there.
 * Tokens never reach a log line or the control socket.
 */
#ifndef RELAYD_OAUTH_H
#define RELAYD_OAUTH_H

#include <stddef.h>

#include <event2/event.h>

struct config;
struct control;

/* What oauth_token has for an account. */
enum oauth_state {
	OAUTH_READY,	/* a token valid for a while yet */
	OAUTH_WAIT,	/* none yet (refreshing, or the endpoint failed): try again later */
	OAUTH_LOGIN,	/* the refresh token is gone or refused: relayctl oauth login */
};

/*
 * oauth_start: manage the OAuth accounts of cfg (borrowed; it must live until the next
 * oauth_reconfigure or oauth_stop). on_login(name, arg) runs when relayctl oauth login
 * has stored a new token for an account (relayd lifts the account's disable).
 */
void	oauth_start(struct event_base *, struct config *,
	    void (*on_login)(const char *, void *), void *arg);

/* oauth_ctl_register: add "oauth-status" and "oauth-reload" to c. */
void	oauth_ctl_register(struct control *c);

/* oauth_reconfigure: switch to a reloaded cfg; tokens are read again from the files. */
void	oauth_reconfigure(struct config *);

/* oauth_stop: end every refresh and forget the tokens. */
void	oauth_stop(void);

/*
 * oauth_token: the account's current access token in *token (valid until control
 * returns to the event loop), or why there is none in why (a reason for the log and
 * for the account's status; for OAUTH_LOGIN the reason the issue prescribes).
 */
enum oauth_state oauth_token(const char *account, const char **token, char *why,
	    size_t whylen);

/*
 * oauth_rejected: the server refused the account's token at AUTH. Returns 1 when a
 * refresh has been started (retry later with the new token), 0 when the token refused
 * came from such a refresh already (a second failure: give up).
 */
int	oauth_rejected(const char *account);

/* oauth_accepted: the server took the account's token (a later refusal may retry). */
void	oauth_accepted(const char *account);

#endif

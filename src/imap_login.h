/*
 * imap_login: how the bounce watcher's IMAP session logs in, with no I/O: the login
 * command for what the server offers (XOAUTH2 or OAUTHBEARER with the account's
 * current token; AUTHENTICATE PLAIN, RFC 4616, inline with SASL-IR, RFC 4959; else
 * LOGIN, RFC 3501) and the answer to each "+" the server sends during it. What it
 * returns holds a secret: the caller zeroes it (explicit_bzero) before freeing it.
 */
#ifndef RELAYD_IMAP_LOGIN_H
#define RELAYD_IMAP_LOGIN_H

#include <stddef.h>

struct config_imap;

/* One login in progress. */
struct imap_login {
	int	sent;		/* the credentials (or the token) went out */
};

/* imap_login_oauth_mech: "XOAUTH2" or "OAUTHBEARER" for an OAuth account, or NULL. */
const char	*imap_login_oauth_mech(const struct config_imap *);

/*
 * imap_login_command: the login command, without its tag, for cfg (the account
 * called account) given whether the server offers SASL-IR and AUTH=PLAIN; starts l.
 * NULL with why written when there is no way: no OAuth token yet (oauth.c), or a
 * user name or password LOGIN cannot carry without AUTH=PLAIN.
 */
char		*imap_login_command(struct imap_login *l, const struct config_imap *cfg,
		    const char *account, int sasl_ir, int auth_plain, char *why, size_t len);

/*
 * imap_login_continue: the line (without CRLF) answering the server's "+" during l:
 * the credentials not yet sent, the answer to an OAuth error (an empty line for
 * XOAUTH2, ^A for OAUTHBEARER, RFC 7628 3.2.3), or "*" to cancel a challenge PLAIN
 * does not have. NULL with why written: no OAuth token.
 */
char		*imap_login_continue(struct imap_login *l, const struct config_imap *cfg,
		    const char *account, int auth_plain, char *why, size_t len);

/* imap_login_plain: the base64 SASL PLAIN response for user and password. */
char		*imap_login_plain(const char *user, const char *password);

/* imap_login_quoted: str as an IMAP quoted string, or NULL if it cannot be one. */
char		*imap_login_quoted(const char *str);

#endif

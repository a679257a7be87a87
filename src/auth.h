/*
 * auth: SMTP AUTH (RFC 4954) for the upstream session, through Cyrus libsasl2's
 * client. Whatever mechanism the server offers and SASL can do with a user name and
 * password is used (PLAIN, LOGIN, SCRAM, CRAM-MD5, ...); no security layer is
 * negotiated, since TLS protects the session. Strings crossing this API are the
 * base64 text of the SMTP dialogue.
 *
 * OAuth 2.0 accounts log in with XOAUTH2 (Google, Microsoft) or OAUTHBEARER (RFC
 * 7628), built here since Debian's Cyrus SASL has neither: the access token comes from
 * oauth.c, already current, so there is no network in the AUTH path.
 */
#ifndef RELAYD_AUTH_H
#define RELAYD_AUTH_H

#include <stddef.h>

#include "config.h"
#include "outcome.h"

struct auth;

/* auth_init: load the SASL client plugins once at start-up. Returns 0 or -1. */
int		 auth_init(void);

/* auth_new: a SASL client for one login to host. Passwords are copied, never logged. */
struct auth	*auth_new(const char *host, const char *user, const char *password);
void		 auth_free(struct auth *);

/*
 * auth_new_account: the login of account a: a SASL client for a password account,
 * or its OAuth mechanism with the current token (oauth_token). NULL when the account
 * has no usable token yet, with *act RETRY (a transient state: try later) or DISABLE
 * (the operator must log in again) and why set for the log.
 */
struct auth	*auth_new_account(const struct config_account *a, enum outcome_action *act,
		    char *why, size_t whylen);

/*
 * auth_oauth_response: the base64 initial response of an OAuth mechanism, a new
 * string: XOAUTH2 "user=U^Aauth=Bearer T^A^A"; OAUTHBEARER (RFC 7628 3.1)
 * "n,a=U,^Ahost=H^Aport=P^Aauth=Bearer T^A^A" (',' and '=' in U escaped as =2C, =3D).
 */
char		*auth_oauth_response(enum config_auth, const char *user, const char *host,
		    int port, const char *token);

/*
 * auth_oauth_error: decode a server's 334 challenge after an OAuth initial response
 * (base64 JSON such as {"status":"401","schemes":"bearer"}) into out, printable
 * characters only. Returns 0, or -1 if it is not base64.
 */
int		 auth_oauth_error(const char *challenge, char *out, size_t outlen);

/*
 * auth_refused: the server refused the login with a reply classified as act. For an
 * OAuth login the first refusal refreshes the token and returns RETRY; a second one
 * returns DISABLE. Password logins return act unchanged. *detail is the server's
 * decoded 334 error, or "" (static or owned by the auth).
 */
enum outcome_action auth_refused(struct auth *, enum outcome_action act,
		    const char **detail);

/* auth_accepted: the server took the login (235). */
void		 auth_accepted(struct auth *);

/*
 * auth_start: choose a mechanism among the server's (the EHLO AUTH list). *mech is
 * the chosen name; *initial a newly allocated base64 initial response ("=" for an
 * empty one) or NULL when the mechanism sends none. Returns 0, or -1 with *err set
 * to a static reason (no usable mechanism).
 */
int		 auth_start(struct auth *, const char *mechlist, const char **mech,
		    char **initial, const char **err);

/*
 * auth_step: answer a 334 challenge (base64 text after "334 "). *response receives
 * a newly allocated base64 line to send. Returns 0, or -1 with *err set.
 */
int		 auth_step(struct auth *, const char *challenge, char **response,
		    const char **err);

#endif

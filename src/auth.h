/*
 * auth: SMTP AUTH (RFC 4954) for the upstream session, through Cyrus libsasl2's
 * client. Whatever mechanism the server offers and SASL can do with a user name and
 * password is used (PLAIN, LOGIN, SCRAM, CRAM-MD5, ...); no security layer is
 * negotiated, since TLS protects the session. Strings crossing this API are the
 * base64 text of the SMTP dialogue.
 */
#ifndef RELAYD_AUTH_H
#define RELAYD_AUTH_H

struct auth;

/* auth_init: load the SASL client plugins once at start-up. Returns 0 or -1. */
int		 auth_init(void);

/* auth_new: a SASL client for one login to host. Passwords are copied, never logged. */
struct auth	*auth_new(const char *host, const char *user, const char *password);
void		 auth_free(struct auth *);

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

/*
 * smtp_auth: inbound SMTP AUTH (RFC 4954) through Cyrus libsasl2's server side,
 * PLAIN and LOGIN only, offered only over TLS. Passwords are checked against a
 * passwd-style file (auth_users: "name:crypt-hash" lines, e.g. from
 * `openssl passwd -6` or mkpasswd), read again when it changes.
 */
#ifndef RELAYD_SMTP_AUTH_H
#define RELAYD_SMTP_AUTH_H

struct smtp_auth;

/* smtp_auth_init: set up the SASL server once, for the users in users_file. 0 or -1. */
int		 smtp_auth_init(const char *users_file, const char *hostname);

/* smtp_auth_new: a SASL server exchange for one session, or NULL after logging. */
struct smtp_auth *smtp_auth_new(void);
void		 smtp_auth_free(struct smtp_auth *);

enum smtp_auth_status {
	SMTP_AUTH_OK,		/* authenticated: 235 */
	SMTP_AUTH_CONTINUE,	/* send "334 " + *challenge (base64) and read a line */
	SMTP_AUTH_FAIL,		/* 535: bad name or password */
	SMTP_AUTH_BADARG,	/* 501: not base64, cancelled, unknown mechanism */
};

/*
 * smtp_auth_start: AUTH mech [initial] (initial in base64, "=" for empty, or NULL).
 * *challenge points into the exchange's storage until the next call.
 */
enum smtp_auth_status smtp_auth_start(struct smtp_auth *, const char *mech,
		    const char *initial, const char **challenge);

/* smtp_auth_step: the client's answer line to a 334 challenge. */
enum smtp_auth_status smtp_auth_step(struct smtp_auth *, const char *line,
		    const char **challenge);

/* smtp_auth_user: who authenticated (after SMTP_AUTH_OK). */
const char	*smtp_auth_user(struct smtp_auth *);

#endif

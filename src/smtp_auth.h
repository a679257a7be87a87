/*
 * smtp_auth: inbound SMTP AUTH (RFC 4954), PLAIN (RFC 4616) and LOGIN only, offered
 * only over TLS. Passwords are checked against a passwd-style file (auth_users:
 * "name:crypt-hash" lines, e.g. from `openssl passwd -6` or mkpasswd), read again on
 * every check, so edits take effect at once.
 *
 * Guessing is made slow and uninformative: the check runs in a thread of its own (the
 * checker), so a costly hash never stalls the event loop; an unknown user costs the
 * same hash as a known one; and after failures, per exchange owner (session) and per
 * client address, each new check starts only after a growing delay
 * (smtp_auth_delay), attempts from one address one after another.
 */
#ifndef RELAYD_SMTP_AUTH_H
#define RELAYD_SMTP_AUTH_H

#include <stddef.h>

struct event_base;
struct smtp_auth;

enum smtp_auth_status {
	SMTP_AUTH_OK,		/* authenticated: 235 */
	SMTP_AUTH_CONTINUE,	/* send "334 " + *challenge (base64) and read a line */
	SMTP_AUTH_FAIL,		/* 535: bad name or password */
	SMTP_AUTH_BADARG,	/* 501: not base64, cancelled, unknown mechanism */
	SMTP_AUTH_PENDING,	/* the password is being checked: the callback answers */
	SMTP_AUTH_TEMPFAIL,	/* 454: the users file could not be read */
};

/* The verdict of a check (OK, FAIL or TEMPFAIL), from the event loop. */
typedef void	(*smtp_auth_cb)(enum smtp_auth_status, void *arg);

/*
 * smtp_auth_init: check passwords against users_file, starting the checker thread
 * on base. Returns 0, or -1 after logging.
 */
int		 smtp_auth_init(struct event_base *base, const char *users_file);

/*
 * smtp_auth_stop: at exit, after every exchange is freed: end the checker (a check
 * under way finishes) and drop what is still queued, without callbacks.
 */
void		 smtp_auth_stop(void);

/*
 * smtp_auth_new: the AUTH state of one session from client address addr, for any
 * number of exchanges; cb(status, arg) gives each check's verdict. Never NULL.
 */
struct smtp_auth *smtp_auth_new(const char *addr, smtp_auth_cb cb, void *arg);

/* smtp_auth_free: a check under way still counts for its address, but calls nobody. */
void		 smtp_auth_free(struct smtp_auth *);

/*
 * smtp_auth_start: AUTH mech [initial] (initial in base64, "=" for empty, or NULL).
 * Returns CONTINUE (*challenge points into the exchange until the next call),
 * BADARG, or PENDING (the callback follows; nothing more is read until then).
 */
enum smtp_auth_status smtp_auth_start(struct smtp_auth *, const char *mech,
		    const char *initial, const char **challenge);

/* smtp_auth_step: the client's answer line to a 334 challenge; as smtp_auth_start. */
enum smtp_auth_status smtp_auth_step(struct smtp_auth *, const char *line,
		    const char **challenge);

/* smtp_auth_user: who authenticated (after SMTP_AUTH_OK). */
const char	*smtp_auth_user(struct smtp_auth *);

/* smtp_auth_delay: seconds before a check after this many failures: 0, 0.5, 1, ... 30. */
double		 smtp_auth_delay(int failures);

/*
 * smtp_auth_plain_parse: a decoded PLAIN message "authzid NUL authcid NUL passwd"
 * (RFC 4616) of len octets into its three parts (pointers into msg, not terminated).
 * Returns 0, or -1 when it is not three parts or authcid is empty.
 */
int		 smtp_auth_plain_parse(const char *msg, size_t len, const char **authz,
		    size_t *authzlen, const char **user, size_t *userlen, const char **pass,
		    size_t *passlen);

#endif

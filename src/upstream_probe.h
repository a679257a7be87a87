/*
 * upstream_probe: what relayctl test ACCOUNT found, collected while an upstream
 * session runs in probe mode (upstream_probe_start in upstream.h): the server's
 * greeting, TLS version, cipher and certificate, the EHLO extensions, the AUTH
 * mechanism and the result. The session tells it what it sees; nothing here does I/O.
 */
#ifndef RELAYD_UPSTREAM_PROBE_H
#define RELAYD_UPSTREAM_PROBE_H

#include <jansson.h>
#include <openssl/ssl.h>

struct upstream_probe;

/*
 * The end of a probe: info (borrowed; valid during the call) is {"account", "server",
 * "relay", "greeting", "tls": {"version", "cipher", "subject", "issuer", "not_after"}
 * or null, "ehlo": [...], "auth_mechanism", "ok", "error", "result"}.
 */
typedef void (*upstream_probe_fn)(json_t *info, void *arg);

/* upstream_probe_new: a probe of account (host:port) that ends with done(info, arg). */
struct upstream_probe *upstream_probe_new(const char *account, const char *host, int port,
		    upstream_probe_fn done, void *arg);

/* What the session saw, as it goes. */
void	upstream_probe_relay(struct upstream_probe *, const char *relay);
void	upstream_probe_greeting(struct upstream_probe *, const char *text);
void	upstream_probe_tls(struct upstream_probe *, SSL *ssl);	/* verified, up */
void	upstream_probe_ehlo(struct upstream_probe *, const char *keyword); /* NULL: forget */
void	upstream_probe_auth(struct upstream_probe *, const char *mechanism);
void	upstream_probe_ok(struct upstream_probe *, const char *result);
void	upstream_probe_failed(struct upstream_probe *, const char *why);

/* upstream_probe_end: the session is over: done is called, and p freed. */
void	upstream_probe_end(struct upstream_probe *p);

#endif

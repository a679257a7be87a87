/*
 * conn: one outbound TCP connection for a client session (upstream's SMTP, the
 * bounce watcher's IMAP): resolve the host (evdns: /etc/hosts and literals answer
 * without a DNS query), try each address in turn, set the socket options, put TLS on
 * it (at once, or when the session asks after its STARTTLS) with the certificate and
 * host name checked by tls.c, and hand the session its input and output buffers.
 * OpenSMTPD's ioev.c is the model: the session keeps its protocol and its states;
 * this keeps the socket, and says in plain words what went wrong with it.
 *
 * The session is told through one callback. It may call conn_close from it (the
 * connection is dropped, the conn stays for conn_open or conn_free); after
 * conn_close nothing more is reported until the next conn_open.
 */
#ifndef RELAYD_CONN_H
#define RELAYD_CONN_H

#include <stddef.h>

#include <openssl/ssl.h>
#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>

struct conn;

/*
 * What the session is told, through its one callback (ioev's io_callback). The first
 * three say where the connection is; the session enters its own state of that name
 * and sets its timeout. The errors come with a text for the log: the connection
 * cannot go on, the session ends it (conn_close) or tries again later (conn_open).
 */
enum conn_event {
	CONN_RESOLVING,		/* looking up the host */
	CONN_CONNECTING,	/* TCP connect to one of its addresses */
	CONN_HANDSHAKE,		/* TLS handshake (implicit, or after STARTTLS) */
	CONN_UP,		/* connected, in clear; reads and writes enabled */
	CONN_TLS_UP,		/* the handshake verified the server (and is logged) */
	CONN_DATA_IN,		/* there is input (conn_input) */
	CONN_DRAINED,		/* all output was written */
	CONN_E_RESOLVE,		/* "cannot resolve HOST: ..." */
	CONN_E_CONNECT,		/* "cannot connect to HOST port N: ..." (every address) */
	CONN_E_TLS_SETUP,	/* "cannot create a TLS session", "cannot set up TLS ..." */
	CONN_E_TLS,		/* the handshake failed: tls_failure's text; nothing sent */
	CONN_E_TIMEOUT,		/* no traffic within the timeout (conn_set_timeout) */
	CONN_E_EOF,		/* "connection closed by the server" */
	CONN_E_IO,		/* the socket's error */
};

/* The session's callback: why is NULL but for the errors. */
typedef void	 conn_cb(void *arg, enum conn_event, const char *why);

/*
 * conn_new: a connection to host:port, not yet opened. implicit_tls: TLS right after
 * the TCP connect. ctx (NULL without TLS) is referenced, not taken. label starts the
 * conn's own log lines, up to the peer's key ("imap: account=main server"). arg
 * must outlive the conn.
 */
struct conn	*conn_new(struct event_base *, struct evdns_base *, const char *host, int port,
		    int implicit_tls, SSL_CTX *ctx, const char *label, conn_cb *,
		    void *arg);

/* conn_free: drop the connection and free; NULL is a no-op. Not from its callbacks. */
void		 conn_free(struct conn *);

/*
 * conn_open: resolve and connect (again, after conn_close). Callbacks may come
 * before this returns (an address from /etc/hosts that refuses at once).
 */
void		 conn_open(struct conn *);

/* conn_close: drop the connection (cancel the lookup, close the socket). */
void		 conn_close(struct conn *);

/*
 * conn_starttls: put TLS on the connected socket now (after the server's go-ahead to
 * STARTTLS); what was in the input is discarded. CONN_HANDSHAKE, then CONN_TLS_UP or
 * an error.
 */
void		 conn_starttls(struct conn *);

/* conn_set_timeout: read and write timeouts of secs from now on (0: none). */
void		 conn_set_timeout(struct conn *, int secs);

/* conn_enable, conn_disable: resume or stop reading and writing. */
void		 conn_enable(struct conn *);
void		 conn_disable(struct conn *);

/* conn_active: is there a socket (connecting or connected)? */
int		 conn_active(const struct conn *);

/* conn_tls_up: is TLS established on it (the handshake verified)? */
int		 conn_tls_up(const struct conn *);

/* conn_ssl: the TLS session (NULL before the handshake or without TLS), to read. */
SSL		*conn_ssl(const struct conn *);

/* conn_peer: "host[address]:port" once an address is tried, "host:port" before. */
const char	*conn_peer(const struct conn *);

/* conn_input, conn_output: the buffers (only while conn_active). */
struct evbuffer	*conn_input(struct conn *);
struct evbuffer	*conn_output(struct conn *);

/* conn_printf: append to the output. */
void		 conn_printf(struct conn *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

#endif

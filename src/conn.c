/*
 * conn: the outbound connection shared by the client sessions (upstream.c for SMTP,
 * imap_session.c for IMAP); conn.h has the contract. It owns the socket, the
 * bufferevent and the SSL; the sessions own their protocol and their states.
 *
 * A plain bufferevent does not own its socket (c->fd does), so that TLS can take the
 * socket over, after the connect (implicit TLS) or after STARTTLS; the TLS
 * bufferevent then owns both the socket and the SSL.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/time.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>

#include "conn.h"
#include "log.h"
#include "tls.h"
#include "xmalloc.h"

enum conn_where {
	CONN_W_CLOSED,
	CONN_W_RESOLVE,
	CONN_W_CONNECT,
	CONN_W_TLS,
	CONN_W_OPEN,
};

struct conn {
	struct event_base	*base;
	struct evdns_base	*dns;
	char			*host;
	int			 port;
	int			 implicit_tls;
	SSL_CTX			*ctx;
	char			*label;		/* of the log lines */
	conn_cb			*cb;
	void			*arg;

	enum conn_where		 where;
	struct evdns_getaddrinfo_request *dnsreq;
	struct evutil_addrinfo	*ai, *ai_cur;
	char			 peer[300];	/* host[address]:port */
	char			 lasterr[512];	/* why the last address failed */
	struct bufferevent	*bev;
	evutil_socket_t		 fd;
	SSL			*ssl;		/* owned by bev once TLS is up */
	int			 tls_up;
};

static void conn_read_cb(struct bufferevent *, void *);
static void conn_write_cb(struct bufferevent *, void *);
static void conn_event_cb(struct bufferevent *, short, void *);
static void conn_connect_next(struct conn *);

struct conn *
conn_new(struct event_base *base, struct evdns_base *dns, const char *host, int port,
    int implicit_tls, SSL_CTX *ctx, const char *label, conn_cb *cb, void *arg)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->base = base;
	c->dns = dns;
	c->host = xstrdup(host);
	c->port = port;
	c->implicit_tls = implicit_tls;
	if (ctx != NULL && SSL_CTX_up_ref(ctx) == 1)
		c->ctx = ctx;
	c->label = xstrdup(label);
	c->cb = cb;
	c->arg = arg;
	c->fd = -1;
	snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
	return c;
}

/* conn_drop: free the bufferevent, the SSL and the socket, whichever exist. */
static void
conn_drop(struct conn *c)
{
	if (c->bev != NULL) {
		/* Its events go now, while the socket is open (the free may wait
		 * until the callback that called this returns). */
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		bufferevent_free(c->bev);
		c->bev = NULL;
	} else if (c->ssl != NULL)
		SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->tls_up = 0;
}

void
conn_close(struct conn *c)
{
	if (c->dnsreq != NULL) {
		evdns_getaddrinfo_cancel(c->dnsreq);
		c->dnsreq = NULL;
	}
	conn_drop(c);
	if (c->ai != NULL) {
		evutil_freeaddrinfo(c->ai);
		c->ai = c->ai_cur = NULL;
	}
	c->where = CONN_W_CLOSED;
}

void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	conn_close(c);
	SSL_CTX_free(c->ctx);
	free(c->host);
	free(c->label);
	free(c);
}

/* conn_fail: tell the session the connection cannot go on. */
static void __attribute__((format(printf, 3, 4)))
conn_fail(struct conn *c, enum conn_event e, const char *fmt, ...)
{
	char why[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	c->cb(c->arg, e, why);
}

/* conn_resolved: the host's addresses are known; try them in turn. */
static void
conn_resolved(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct conn *c = arg;

	c->dnsreq = NULL;
	if (err == EVUTIL_EAI_CANCEL)
		return;
	if (err != 0) {
		conn_fail(c, CONN_E_RESOLVE, "cannot resolve %s: %s", c->host,
		    evutil_gai_strerror(err));
		return;
	}
	c->ai = ai;
	c->ai_cur = NULL;
	conn_connect_next(c);
}

void
conn_open(struct conn *c)
{
	struct evutil_addrinfo hints = { 0 };
	struct evdns_getaddrinfo_request *req;
	char port[8];

	conn_close(c);
	snprintf(c->peer, sizeof(c->peer), "%s:%d", c->host, c->port);
	c->lasterr[0] = '\0';
	c->where = CONN_W_RESOLVE;
	c->cb(c->arg, CONN_RESOLVING, NULL);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(port, sizeof(port), "%d", c->port);
	/* Answers from /etc/hosts or for literals come back before this returns. */
	req = evdns_getaddrinfo(c->dns, c->host, port, &hints, conn_resolved, c);
	if (c->where == CONN_W_RESOLVE && c->ai == NULL)
		c->dnsreq = req;
}

/* conn_connect_next: try the next address of the host, or give up. */
static void
conn_connect_next(struct conn *c)
{
	char addr[INET6_ADDRSTRLEN];
	const struct sockaddr *sa;

	conn_drop(c);
	c->ai_cur = c->ai_cur == NULL ? c->ai : c->ai_cur->ai_next;
	if (c->ai_cur == NULL) {
		c->where = CONN_W_CLOSED;
		conn_fail(c, CONN_E_CONNECT, "cannot connect to %s port %d: %s", c->host,
		    c->port, c->lasterr[0] ? c->lasterr : "no address");
		return;
	}
	sa = c->ai_cur->ai_addr;
	evutil_inet_ntop(sa->sa_family, sa->sa_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)sa)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr, addr, sizeof(addr));
	snprintf(c->peer, sizeof(c->peer), "%s[%s]:%d", c->host, addr, c->port);

	/* The plain bufferevent does not own the socket: TLS may take it over. */
	c->bev = bufferevent_socket_new(c->base, -1, 0);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	c->where = CONN_W_CONNECT;
	c->cb(c->arg, CONN_CONNECTING, NULL);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)sa,
	    (int)c->ai_cur->ai_addrlen) == -1) {
		snprintf(c->lasterr, sizeof(c->lasterr), "%s: %s", c->peer, strerror(errno));
		conn_connect_next(c);
		return;
	}
	c->fd = bufferevent_getfd(c->bev);
}

void
conn_starttls(struct conn *c)
{
	bufferevent_free(c->bev);
	c->bev = NULL;
	c->where = CONN_W_TLS;
	if ((c->ssl = tls_client_ssl(c->ctx, c->host)) == NULL) {
		conn_fail(c, CONN_E_TLS_SETUP, "cannot create a TLS session");
		return;
	}
	c->bev = bufferevent_openssl_socket_new(c->base, c->fd, c->ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		conn_fail(c, CONN_E_TLS_SETUP, "cannot set up TLS on the connection");
		return;
	}
	c->fd = -1;	/* the TLS bufferevent owns the socket and the SSL now */
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->cb(c->arg, CONN_HANDSHAKE, NULL);
}

/* conn_connected: the TCP connect finished: TLS now, or the session's turn. */
static void
conn_connected(struct conn *c)
{
	int one = 1;

	/*
	 * Our writes are whole (commands, a pipelined group, a message body in large
	 * pieces); under TLS each piece is a record of its own, and Nagle would hold back
	 * the last one until the server's delayed ACK: 40 ms per message.
	 */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (c->implicit_tls) {
		conn_starttls(c);
		return;
	}
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->where = CONN_W_OPEN;
	c->cb(c->arg, CONN_UP, NULL);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	char why[400];

	if (bev != c->bev || c->where == CONN_W_CLOSED)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->where == CONN_W_CONNECT)
			conn_connected(c);
		else if (c->where == CONN_W_TLS) {
			log_debug("%s=%s TLS %s", c->label, c->peer, tls_describe(c->ssl, why,
			    sizeof(why)));
			c->tls_up = 1;
			c->where = CONN_W_OPEN;
			c->cb(c->arg, CONN_TLS_UP, NULL);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		conn_fail(c, CONN_E_TIMEOUT, "timeout");
		return;
	}
	if (c->where == CONN_W_CONNECT) {
		snprintf(c->lasterr, sizeof(c->lasterr), "%s: %s", c->peer,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		conn_connect_next(c);
		return;
	}
	if (c->where == CONN_W_TLS) {
		conn_fail(c, CONN_E_TLS, "%s", tls_failure(c->ssl,
		    bufferevent_get_openssl_error(bev), why, sizeof(why)));
		return;
	}
	if (c->ssl != NULL)	/* (in clear, calling OpenSSL would set all of it up) */
		ERR_clear_error();
	if (what & BEV_EVENT_EOF)
		conn_fail(c, CONN_E_EOF, "connection closed by the server");
	else
		conn_fail(c, CONN_E_IO, "%s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (bev == c->bev && c->where == CONN_W_OPEN)
		c->cb(c->arg, CONN_DATA_IN, NULL);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (bev == c->bev && c->where == CONN_W_OPEN)
		c->cb(c->arg, CONN_DRAINED, NULL);
}

void
conn_set_timeout(struct conn *c, int secs)
{
	struct timeval tv = { .tv_sec = secs };

	if (c->bev != NULL)
		bufferevent_set_timeouts(c->bev, secs ? &tv : NULL, secs ? &tv : NULL);
}

void
conn_enable(struct conn *c)
{
	if (c->bev != NULL)
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

void
conn_disable(struct conn *c)
{
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
}

int
conn_active(const struct conn *c)
{
	return c->bev != NULL;
}

int
conn_tls_up(const struct conn *c)
{
	return c->tls_up;
}

SSL *
conn_ssl(const struct conn *c)
{
	return c->ssl;
}

const char *
conn_peer(const struct conn *c)
{
	return c->peer;
}

struct evbuffer *
conn_input(struct conn *c)
{
	return bufferevent_get_input(c->bev);
}

struct evbuffer *
conn_output(struct conn *c)
{
	return bufferevent_get_output(c->bev);
}

void
conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
}

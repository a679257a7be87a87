/*
 * test_conn: the connection layer on loopback: the events a session hears, in order,
 * and the words of a failure (the sessions' log lines and the tests read them). The
 * evdns base has no name server: "localhost" must come from the hosts file, literals
 * from no lookup at all (a query would wait here until the loop gives up).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "conn.h"
#include "t.h"

struct probe {
	struct conn	*conn;
	char		 events[256];	/* letters, one an event */
	char		 why[600];
	int		 done;
};

/* probe_cb: record the event; stop at the first that ends the test. */
static void
probe_cb(void *arg, enum conn_event e, const char *why)
{
	static const char letters[] = "RCHUTDWrcsteoi";
	struct probe *p = arg;
	size_t n = strlen(p->events);

	_Static_assert(sizeof(letters) - 1 == CONN_E_IO + 1, "a letter for every event");
	if (n + 1 < sizeof(p->events))
		p->events[n] = letters[e];
	if (why != NULL)
		snprintf(p->why, sizeof(p->why), "%s", why);
	if (e == CONN_UP)
		conn_printf(p->conn, "EHLO test\r\n");
	if (e >= CONN_E_RESOLVE || e == CONN_DRAINED) {
		p->done = 1;
		conn_close(p->conn);
	}
}

/* listener: a loopback TCP socket; its port in *port. listening 0: bound, closed. */
static int
listener(int listening, int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		return -1;
	*port = ntohs(sin.sin_port);
	if (!listening) {
		close(fd);
		return -1;
	}
	listen(fd, 4);
	return fd;
}

/* run: open a conn to host:port and run the loop until it ends (bounded). */
static void
run(struct event_base *base, struct evdns_base *dns, const char *host, int port,
    struct probe *p)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = 20000 };

	memset(p, 0, sizeof(*p));
	p->conn = conn_new(base, dns, host, port, 0, NULL, "test: peer", probe_cb, p);
	conn_open(p->conn);
	for (int i = 0; i < 250 && !p->done; i++) {	/* 5 s at most */
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

int
main(void)
{
	struct event_base *base = event_base_new();
	struct evdns_base *dns = evdns_base_new(base, 0);
	struct probe p;
	char want[600], got[64];
	int port, fd;
	ssize_t n;

	evdns_base_load_hosts(dns, NULL);

	/* Refused: both words, the host's and the address's, as the logs show them. */
	listener(0, &port);
	run(base, dns, "127.0.0.1", port, &p);
	CHECK_STR(p.events, "RCc", "refused");
	snprintf(want, sizeof(want), "cannot connect to 127.0.0.1 port %d: "
	    "127.0.0.1[127.0.0.1]:%d: Connection refused", port, port);
	CHECK_STR(p.why, want, "refused");
	snprintf(want, sizeof(want), "127.0.0.1[127.0.0.1]:%d", port);
	CHECK_STR(conn_peer(p.conn), want, "the peer's name stays after the close");
	conn_free(p.conn);

	/* Accepted: up in clear, the output reaches the server. */
	fd = listener(1, &port);
	CHECK(fd != -1, "listen");
	run(base, dns, "127.0.0.1", port, &p);
	CHECK_STR(p.events, "RCUW", "connected, written");
	conn_free(p.conn);
	{
		int c = accept(fd, NULL, NULL);

		n = c == -1 ? -1 : read(c, got, sizeof(got) - 1);
		got[n > 0 ? n : 0] = '\0';
		CHECK_STR(got, "EHLO test\r\n", "written");
		if (c != -1)
			close(c);
	}

	/* "localhost" from the hosts file, with no name server to ask. */
	run(base, dns, "localhost", port, &p);
	CHECK(p.events[0] == 'R' && strchr(p.events, 'C') != NULL,
	    "localhost resolved without DNS: events %s (%s)", p.events, p.why);
	conn_free(p.conn);
	close(fd);

	conn_free(NULL);
	evdns_base_free(dns, 0);
	event_base_free(base);
	T_DONE();
}

/*
 * http: HTTPS POSTs to OAuth token endpoints and to the events webhook, through libcurl. relayd drives curl's
 * multi-socket interface from its libevent loop (no thread, no blocking); relayctl
 * uses the blocking form. Certificates are always verified against the system's trust
 * store, plus ca_file when given. Only https:// URLs, and http:// to loopback
 * (config_url_allowed). Redirects are not followed. Request and answer bodies may hold
 * secrets: nothing here logs them.
 */
#ifndef RELAYD_HTTP_H
#define RELAYD_HTTP_H

#include <stddef.h>

#include <event2/event.h>

#define HTTP_BODY_MAX	(256 * 1024)	/* a larger answer is an error */
#define HTTP_TIMEOUT	30		/* seconds for a whole request */

struct http;
struct http_req;

/*
 * The end of a request, called once from the event loop (never from within
 * http_post): status is the HTTP status and body the answer (NUL-terminated, len
 * octets, freed after the call), or status 0 and err says why (connect, TLS, ...).
 */
typedef void (*http_done_fn)(long status, const char *body, size_t len, const char *err,
    void *arg);

/* http_new: a client on base; http_free cancels whatever is in flight (no callback). */
struct http	*http_new(struct event_base *);
void		 http_free(struct http *);

/*
 * http_post: POST form (application/x-www-form-urlencoded; copied) to url. Returns the
 * request, which can be cancelled until done runs, or NULL when it cannot start (done
 * is then never called).
 */
struct http_req	*http_post(struct http *, const char *url, const char *form,
		    const char *ca_file, http_done_fn done, void *arg);

/*
 * http_post_json: POST json (a NUL-terminated JSON text; copied) to url as
 * application/json with the extra headers ("Name: value", NULL-terminated list, may
 * be NULL), giving up after timeout seconds. As http_post otherwise: same checks, same
 * done, no redirect followed (a 3xx is just its status).
 */
struct http_req	*http_post_json(struct http *, const char *url, const char *json,
		    const char *const *headers, const char *ca_file, long timeout,
		    http_done_fn done, void *arg);

/* http_cancel: forget req; its done is never called. */
void		 http_cancel(struct http_req *);

/*
 * http_post_sync: the same, blocking (relayctl). Returns 0 with *status and *body (a
 * new NUL-terminated string), or -1 with err filled.
 */
int		 http_post_sync(const char *url, const char *form, const char *ca_file,
		    long *status, char **body, char *err, size_t errlen);

#endif

/*
 * http: libcurl behind relayd's event loop. Why libcurl and not our own HTTP/1.1
 * client: a token endpoint is a third-party web server (chunked encoding, keep-alive,
 * HTTP/2, proxies) and parsing it by hand is exactly the kind of code this project
 * keeps out; curl's multi-socket API lets libevent wait on curl's sockets and timer,
 * so nothing blocks the relay (see CURLMOPT_SOCKETFUNCTION in curl's documentation).
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "xmalloc.h"

struct http_req {
	struct http	*h;
	CURL		*easy;
	char		*form;		/* the body: a form, or JSON (http_post_json) */
	char		*ca_file;
	struct curl_slist *hdrs;	/* extra request headers, or NULL */
	char		*body;
	size_t		 len, cap;
	int		 toobig;
	char		 err[CURL_ERROR_SIZE];
	http_done_fn	 done;
	void		*arg;
	struct http_req	*next;
};

struct http {
	struct event_base *base;
	CURLM		*multi;
	struct event	*timer;
	struct http_req	*reqs;
};

/* One socket curl asked us to watch. */
struct http_sock {
	struct event	*ev;
};

/* http_global: curl_global_init once per process. */
static void
http_global(void)
{
	static int done;

	if (!done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		done = 1;
	}
}

/* http_write: collect the answer body, up to HTTP_BODY_MAX. */
static size_t
http_write(char *p, size_t size, size_t n, void *arg)
{
	struct http_req *r = arg;
	size_t len = size * n;

	if (r->len + len > HTTP_BODY_MAX) {
		r->toobig = 1;
		return 0;	/* curl ends the transfer */
	}
	if (r->len + len + 1 > r->cap) {
		r->cap = (r->len + len + 1) * 2;
		r->body = xrealloc(r->body, r->cap);
	}
	memcpy(r->body + r->len, p, len);
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

/* http_ssl_ctx: add ca_file to the trust store curl set up (the system's, kept). */
static CURLcode
http_ssl_ctx(CURL *easy, void *ctx, void *arg)
{
	const char *ca_file = arg;

	if (ca_file != NULL && SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
		return CURLE_SSL_CACERT_BADFILE;
	return CURLE_OK;
}

/* http_easy: a configured handle for one POST of r->form to url. */
static CURL *
http_easy(struct http_req *r, const char *url)
{
	CURL *e = curl_easy_init();

	if (e == NULL)
		return NULL;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->form);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)HTTP_TIMEOUT);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "relayd");
	/* A cached store would carry one account's ca_file into another's requests. */
	curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, 0L);
	if (r->ca_file != NULL) {
		curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, http_ssl_ctx);
		curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, r->ca_file);
	}
	return e;
}

/* http_req_new: a request for url, or NULL (URL not allowed). */
static struct http_req *
http_req_new(const char *url, const char *form, const char *ca_file, char *err,
    size_t errlen)
{
	struct http_req *r;

	if (!config_url_allowed(url)) {
		snprintf(err, errlen, "%s is not https:// (http:// only to loopback)", url);
		return NULL;
	}
	http_global();
	r = xcalloc(1, sizeof(*r));
	r->form = xstrdup(form);
	r->ca_file = ca_file ? xstrdup(ca_file) : NULL;
	if ((r->easy = http_easy(r, url)) == NULL) {
		snprintf(err, errlen, "cannot start a curl handle");
		free(r->form);
		free(r->ca_file);
		free(r);
		return NULL;
	}
	return r;
}

/* http_req_free: the request's memory (the form holds secrets). */
static void
http_req_free(struct http_req *r)
{
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	explicit_bzero(r->form, strlen(r->form));
	free(r->form);
	if (r->body != NULL)
		explicit_bzero(r->body, r->len);
	free(r->body);
	free(r->ca_file);
	curl_slist_free_all(r->hdrs);
	free(r);
}

/* http_error: why a transfer failed, without the URL's query or any body. */
static void
http_error(struct http_req *r, CURLcode rc, char *out, size_t len)
{
	if (r->toobig)
		snprintf(out, len, "answer larger than %d octets", HTTP_BODY_MAX);
	else
		snprintf(out, len, "%s", r->err[0] ? r->err : curl_easy_strerror(rc));
}

/* http_check: hand every finished transfer to its caller. */
static void
http_check(struct http *h)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		struct http_req *r = NULL, **pp;
		long status = 0;
		char err[CURL_ERROR_SIZE + 64] = "";

		if (m->msg != CURLMSG_DONE)
			continue;
		for (pp = &h->reqs; *pp != NULL; pp = &(*pp)->next)
			if ((*pp)->easy == m->easy_handle) {
				r = *pp;
				*pp = r->next;
				break;
			}
		if (r == NULL)
			continue;
		if (m->data.result == CURLE_OK)
			curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		else
			http_error(r, m->data.result, err, sizeof(err));
		curl_multi_remove_handle(h->multi, r->easy);
		r->done(status, r->body ? r->body : "", r->len, status ? NULL : err, r->arg);
		http_req_free(r);
	}
}

/* http_event_cb: one of curl's sockets is ready. */
static void
http_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	int running, flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, fd, flags, &running);
	http_check(h);
}

/* http_timer_cb: curl's timeout ran out. */
static void
http_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	int running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	http_check(h);
}

/* http_sock_cb: curl says which events a socket needs (CURLMOPT_SOCKETFUNCTION). */
static int
http_sock_cb(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct http *h = arg;
	struct http_sock *s = sockp;
	short ev = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			event_free(s->ev);
			free(s);
			curl_multi_assign(h->multi, fd, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EV_READ;
	if (what & CURL_POLL_OUT)
		ev |= EV_WRITE;
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		curl_multi_assign(h->multi, fd, s);
	} else
		event_free(s->ev);
	s->ev = event_new(h->base, fd, ev, http_event_cb, h);
	event_add(s->ev, NULL);
	return 0;
}

/* http_timer_set: curl wants to be called after ms (CURLMOPT_TIMERFUNCTION). */
static int
http_timer_set(CURLM *multi, long ms, void *arg)
{
	struct http *h = arg;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (ms < 0)
		evtimer_del(h->timer);
	else
		evtimer_add(h->timer, &tv);
	return 0;
}

struct http *
http_new(struct event_base *base)
{
	struct http *h = xcalloc(1, sizeof(*h));

	http_global();
	h->base = base;
	h->multi = curl_multi_init();
	h->timer = evtimer_new(base, http_timer_cb, h);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, http_sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, http_timer_set);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	while (h->reqs != NULL)
		http_cancel(h->reqs);
	curl_multi_cleanup(h->multi);
	event_free(h->timer);
	free(h);
}

/* http_start: hand r to curl's multi handle; done(arg) is called when it ends. */
static struct http_req *
http_start(struct http *h, struct http_req *r, http_done_fn done, void *arg)
{
	r->h = h;
	r->done = done;
	r->arg = arg;
	r->next = h->reqs;
	h->reqs = r;
	curl_multi_add_handle(h->multi, r->easy);
	return r;
}

struct http_req *
http_post(struct http *h, const char *url, const char *form, const char *ca_file,
    http_done_fn done, void *arg)
{
	char err[300];
	struct http_req *r = http_req_new(url, form, ca_file, err, sizeof(err));

	if (r == NULL) {
		log_err("http: %s", err);
		return NULL;
	}
	return http_start(h, r, done, arg);
}

struct http_req *
http_post_json(struct http *h, const char *url, const char *json, const char *const *headers,
    const char *ca_file, long timeout, http_done_fn done, void *arg)
{
	char err[300];
	struct http_req *r = http_req_new(url, json, ca_file, err, sizeof(err));

	if (r == NULL) {
		log_err("http: %s", err);
		return NULL;
	}
	r->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	r->hdrs = curl_slist_append(r->hdrs, "Expect:");	/* no 100-continue wait */
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
		r->hdrs = curl_slist_append(r->hdrs, headers[i]);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT, timeout);
	return http_start(h, r, done, arg);
}

void
http_cancel(struct http_req *r)
{
	struct http_req **pp;

	if (r == NULL)
		return;
	for (pp = &r->h->reqs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	curl_multi_remove_handle(r->h->multi, r->easy);
	http_req_free(r);
}

int
http_post_sync(const char *url, const char *form, const char *ca_file, long *status,
    char **body, char *err, size_t errlen)
{
	struct http_req *r = http_req_new(url, form, ca_file, err, errlen);
	CURLcode rc;

	if (r == NULL)
		return -1;
	if ((rc = curl_easy_perform(r->easy)) != CURLE_OK) {
		http_error(r, rc, err, errlen);
		http_req_free(r);
		return -1;
	}
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, status);
	*body = xstrdup(r->body ? r->body : "");
	http_req_free(r);
	return 0;
}

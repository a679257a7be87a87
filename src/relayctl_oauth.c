/*
 * relayctl_oauth: relayctl's OAuth commands (see relayctl_oauth.h). The flows are
 * RFC 8628 (device authorization) and RFC 6749 4.1 with RFC 7636 PKCE (S256) and a
 * loopback redirect (RFC 8252 7.3); the HTTP goes through http.c (blocking here).
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "config.h"
#include "http.h"
#include "oauth_file.h"
#include "oauth_proto.h"
#include "relayctl_client.h"
#include "relayctl_oauth.h"
#include "xmalloc.h"

#define RELAYCTL_OAUTH_WAIT	600	/* seconds the code flow waits for the redirect */

static const char *relayctl_oauth_path = "/etc/relayd/relay.conf";

void
relayctl_oauth_config(const char *path)
{
	relayctl_oauth_path = path;
}

/* relayctl_oauth_fetch: POST kv to url; the answer body (new), or NULL (printed). */
static char *
relayctl_oauth_fetch(const struct config_oauth *o, const char *url, const char *const *kv,
    long *status)
{
	char *form = oauth_proto_form(kv), *body = NULL, err[512];
	int rc;

	rc = http_post_sync(url, form, o->ca_file, status, &body, err, sizeof(err));
	explicit_bzero(form, strlen(form));
	free(form);
	if (rc == -1) {
		fprintf(stderr, "relayctl: %s: %s\n", url, err);
		return NULL;
	}
	return body;
}

/* relayctl_oauth_post: POST kv to url; 0 with the parsed token answer, or -1 (printed). */
static int
relayctl_oauth_post(const struct config_oauth *o, const char *url, const char *const *kv,
    struct oauth_proto_token *t)
{
	long status = 0;
	char *body = relayctl_oauth_fetch(o, url, kv, &status);
	int rc;

	memset(t, 0, sizeof(*t));
	if (body == NULL)
		return -1;
	rc = oauth_proto_parse_token(body, strlen(body), t);
	oauth_proto_zfree(body);
	if (rc == -1) {
		fprintf(stderr, "relayctl: %s answered HTTP %ld without a token or an error\n",
		    url, status);
		oauth_proto_token_clear(t);
		return -1;
	}
	return 0;
}

/* relayctl_oauth_random: n random octets as base64url (PKCE verifier, state). */
static void
relayctl_oauth_random(char *out, size_t n)
{
	unsigned char raw[48];

	if (n > sizeof(raw) || RAND_bytes(raw, (int)n) != 1)
		abort();
	oauth_proto_b64url(raw, n, out);
}

/* relayctl_oauth_device: the device flow; 0 with the token in *t, or -1 (printed). */
static int
relayctl_oauth_device(const struct config_oauth *o, struct oauth_proto_token *t)
{
	struct oauth_proto_device d;
	const char *kv[] = { "client_id", o->client_id, "scope", o->scope, NULL, NULL };
	time_t deadline;
	long status = 0;
	int interval;
	char *body;

	if ((body = relayctl_oauth_fetch(o, o->device_url, kv, &status)) == NULL)
		return -1;
	if (oauth_proto_parse_device(body, strlen(body), &d) == -1) {
		fprintf(stderr, "relayctl: %s did not answer with a device code (HTTP %ld): "
		    "%.300s\n", o->device_url, status, body);
		free(body);
		oauth_proto_device_clear(&d);
		return -1;
	}
	free(body);
	printf("To sign in, open %s\nand enter the code %s\n", d.verification_uri, d.user_code);
	if (d.verification_uri_complete != NULL)
		printf("(or open %s)\n", d.verification_uri_complete);
	printf("Waiting for the sign-in (%d minutes at most)...\n", d.expires_in / 60);
	fflush(stdout);
	deadline = time(NULL) + d.expires_in;
	interval = d.interval;
	while (time(NULL) < deadline) {
		const char *poll_kv[] = { "grant_type",
		    "urn:ietf:params:oauth:grant-type:device_code", "device_code", d.device_code,
		    "client_id", o->client_id, "client_secret", o->client_secret, NULL, NULL };

		sleep((unsigned)interval);
		if (relayctl_oauth_post(o, o->token_url, poll_kv, t) == -1)
			continue;	/* the network: try again until the code expires */
		if (t->access_token != NULL) {
			oauth_proto_device_clear(&d);
			return 0;
		}
		/* RFC 8628 3.5 */
		if (strcmp(t->error, "authorization_pending") == 0) {
			oauth_proto_token_clear(t);
			continue;
		}
		if (strcmp(t->error, "slow_down") == 0) {
			interval += 5;
			oauth_proto_token_clear(t);
			continue;
		}
		fprintf(stderr, "relayctl: sign-in failed: %s%s%s\n", t->error,
		    t->error_description ? ": " : "",
		    t->error_description ? t->error_description : "");
		oauth_proto_token_clear(t);
		oauth_proto_device_clear(&d);
		return -1;
	}
	fprintf(stderr, "relayctl: the code expired before the sign-in\n");
	oauth_proto_device_clear(&d);
	return -1;
}

/* relayctl_oauth_listen: a loopback TCP socket on an ephemeral port; fd or -1. */
static int
relayctl_oauth_listen(int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 4) == -1 || getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

/* relayctl_oauth_redirect: read one browser request; the request target, or NULL. */
static char *
relayctl_oauth_redirect(int lfd)
{
	static const char page[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Connection: close\r\n\r\nrelayd: sign-in received; you can close this window.\n";
	char buf[8192], *target = NULL, *sp;
	struct pollfd p;
	size_t n = 0;
	int fd = accept(lfd, NULL, NULL);

	if (fd == -1)
		return NULL;
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	while (n < sizeof(buf) - 1 && poll(&p, 1, 10000) == 1) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL)
			break;
	}
	buf[n] = '\0';
	if (strncmp(buf, "GET ", 4) == 0 && (sp = strchr(buf + 4, ' ')) != NULL) {
		target = xstrndup(buf + 4, (size_t)(sp - buf - 4));
		/* If the browser left, the code came all the same. */
		(void)!write(fd, page, sizeof(page) - 1);
	}
	close(fd);
	explicit_bzero(buf, sizeof(buf));
	return target;
}

/* relayctl_oauth_code: the authorization code flow; 0 with the token in *t, or -1. */
static int
relayctl_oauth_code(const struct config_oauth *o, struct oauth_proto_token *t)
{
	char verifier[64], challenge[64], state[32], port_s[16], *redirect, *url, *form;
	char *got = NULL, *code = NULL, *gstate = NULL, *gerr = NULL;
	int lfd, port = 0, rc = -1;
	time_t deadline = time(NULL) + RELAYCTL_OAUTH_WAIT;

	if ((lfd = relayctl_oauth_listen(&port)) == -1) {
		fprintf(stderr, "relayctl: cannot listen on a loopback port: %s\n",
		    strerror(errno));
		return -1;
	}
	relayctl_oauth_random(verifier, 32);
	relayctl_oauth_random(state, 16);
	oauth_proto_pkce_challenge(verifier, challenge, sizeof(challenge));
	snprintf(port_s, sizeof(port_s), "%d", port);
	redirect = xasprintf("http://127.0.0.1:%d/", port);
	{
		/* Google gives a refresh token only when asked for offline access. */
		int google = strstr(o->auth_url, "accounts.google.com") != NULL;
		const char *kv[] = { "response_type", "code", "client_id", o->client_id,
		    "redirect_uri", redirect, "scope", o->scope, "state", state,
		    "code_challenge", challenge, "code_challenge_method", "S256",
		    "access_type", google ? "offline" : NULL,
		    "prompt", google ? "consent" : NULL, NULL, NULL };

		form = oauth_proto_form(kv);
	}
	url = xasprintf("%s%c%s", o->auth_url, strchr(o->auth_url, '?') ? '&' : '?', form);
	free(form);
	printf("To sign in, open this URL in a browser:\n\n%s\n\n"
	    "After the sign-in the browser is sent to %s (this program listens there).\n"
	    "On another machine, paste the address the browser ended on (or the code):\n",
	    url, redirect);
	fflush(stdout);
	free(url);
	while (got == NULL && time(NULL) < deadline) {
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN },
		    { .fd = 0, .events = POLLIN } };
		char line[4096];

		if (poll(p, 2, 1000) <= 0)
			continue;
		if (p[0].revents & POLLIN)
			got = relayctl_oauth_redirect(lfd);
		else if (p[1].revents & (POLLIN | POLLHUP)) {
			if (fgets(line, sizeof(line), stdin) == NULL) {
				p[1].fd = -1;	/* stdin closed: keep listening */
				close(0);
				continue;
			}
			line[strcspn(line, "\r\n")] = '\0';
			if (*line == '\0')
				continue;
			got = strchr(line, '=') ? xstrdup(line) : xasprintf("code=%s", line);
			explicit_bzero(line, sizeof(line));
		}
	}
	close(lfd);
	if (got == NULL) {
		fprintf(stderr, "relayctl: no sign-in within %d minutes\n",
		    RELAYCTL_OAUTH_WAIT / 60);
		goto out;
	}
	code = oauth_proto_query_param(got, "code");
	gstate = oauth_proto_query_param(got, "state");
	gerr = oauth_proto_query_param(got, "error");
	if (code == NULL) {
		fprintf(stderr, "relayctl: the sign-in was refused: %s\n", gerr ? gerr :
		    "no code in the redirect");
		goto out;
	}
	if (gstate != NULL && strcmp(gstate, state) != 0) {
		fprintf(stderr, "relayctl: the redirect's state does not match this sign-in "
		    "(an old or forged redirect); try again\n");
		goto out;
	}
	{
		const char *kv[] = { "grant_type", "authorization_code", "code", code,
		    "redirect_uri", redirect, "client_id", o->client_id,
		    "client_secret", o->client_secret, "code_verifier", verifier, NULL, NULL };

		if (relayctl_oauth_post(o, o->token_url, kv, t) == -1)
			goto out;
	}
	if (t->access_token == NULL) {
		fprintf(stderr, "relayctl: the token endpoint refused the code: %s%s%s\n",
		    t->error, t->error_description ? ": " : "",
		    t->error_description ? t->error_description : "");
		oauth_proto_token_clear(t);
		goto out;
	}
	rc = 0;
out:
	oauth_proto_zfree(got);
	oauth_proto_zfree(code);
	free(gstate);
	free(gerr);
	free(redirect);
	explicit_bzero(verifier, sizeof(verifier));
	return rc;
}

/* relayctl_oauth_login: oauth login ACCOUNT. */
static int
relayctl_oauth_login(const char *name)
{
	struct config *c = config_load(relayctl_oauth_path);
	struct config_account *a = NULL;
	struct oauth_proto_token t;
	struct oauth_file f;
	json_t *args, *r;
	char err[512];
	int rc;

	if (c == NULL)
		return 78;	/* EX_CONFIG: config_load printed why */
	for (size_t i = 0; i < c->naccounts; i++)
		if (strcmp(c->accounts[i].name, name) == 0)
			a = &c->accounts[i];
	if (a == NULL || a->auth == CONFIG_AUTH_PASSWORD || a->oauth.token_command != NULL) {
		fprintf(stderr, "relayctl: %s: %s\n", name, a == NULL ? "no such account" :
		    a->auth == CONFIG_AUTH_PASSWORD ? "not an OAuth account (auth = "
		    "\"xoauth2\" or \"oauthbearer\")" : "its token comes from token_command");
		config_free(c);
		return 64;
	}
	if (a->oauth.device_url != NULL)
		rc = relayctl_oauth_device(&a->oauth, &t);
	else if (a->oauth.auth_url != NULL)
		rc = relayctl_oauth_code(&a->oauth, &t);
	else {
		fprintf(stderr, "relayctl: %s: the oauth group has neither device_url nor "
		    "auth_url\n", name);
		rc = -1;
	}
	if (rc == -1) {
		config_free(c);
		return 70;
	}
	if (t.refresh_token == NULL) {
		fprintf(stderr, "relayctl: %s: the provider gave no refresh token (does the "
		    "scope ask for offline access?)\n", name);
		oauth_proto_token_clear(&t);
		config_free(c);
		return 70;
	}
	f = (struct oauth_file){ t.refresh_token, t.access_token,
	    t.expires_in > 0 ? time(NULL) + (time_t)t.expires_in : 0 };
	rc = oauth_file_write(a->oauth.token_file, &f, err, sizeof(err));
	oauth_proto_token_clear(&t);
	if (rc == -1) {
		fprintf(stderr, "relayctl: %s\n", err);
		config_free(c);
		return 73;	/* EX_CANTCREAT */
	}
	printf("%s: signed in; the refresh token is in %s\n", name, a->oauth.token_file);
	config_free(c);
	args = json_pack("{s:s}", "account", name);
	rc = relayctl_client_call("oauth-reload", args, &r);
	json_decref(args);
	if (rc == 69) {
		printf("%s: relayd is not running; it reads the token when it starts\n", name);
		return 0;
	}
	if (rc != 0)
		return rc;
	printf("%s: relayd uses the new token now\n", name);
	json_decref(r);
	return 0;
}

/* relayctl_oauth_status: oauth status [--json]. */
static int
relayctl_oauth_status(int json)
{
	json_t *r, *a;
	size_t i;
	int rc;

	if ((rc = relayctl_client_call("oauth-status", NULL, &r)) != 0)
		return rc;
	if (json) {
		relayctl_client_print_json(r);
		json_decref(r);
		return 0;
	}
	printf("%-12s %-12s %-14s %-13s %-10s %s\n", "ACCOUNT", "AUTH", "SOURCE", "STATE",
	    "EXPIRES", "WHY");
	json_array_foreach(json_object_get(r, "accounts"), i, a) {
		char exp[32];

		snprintf(exp, sizeof(exp), "%llds",
		    (long long)json_integer_value(json_object_get(a, "expires_in")));
		printf("%-12s %-12s %-14s %-13s %-10s %s\n",
		    json_string_value(json_object_get(a, "account")),
		    json_string_value(json_object_get(a, "auth")),
		    json_string_value(json_object_get(a, "source")),
		    json_string_value(json_object_get(a, "state")), exp,
		    json_string_value(json_object_get(a, "why")));
	}
	json_decref(r);
	return 0;
}

int
relayctl_oauth(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "login") == 0)
		return relayctl_oauth_login(argv[2]);
	if (argc >= 2 && strcmp(argv[1], "status") == 0 &&
	    (argc == 2 || (argc == 3 && strcmp(argv[2], "--json") == 0)))
		return relayctl_oauth_status(argc == 3);
	fprintf(stderr, "usage: relayctl oauth login ACCOUNT | oauth status [--json]\n");
	return 64;
}

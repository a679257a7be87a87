/*
 * oauth: the token manager (see oauth.h). One struct oauth_acct per OAuth account,
 * each with a timer that fires when its access token needs refreshing: a POST to the
 * token endpoint (http.c) or a run of its token_command. Module state, like log.c:
 * the AUTH paths of both sessions ask by account name.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "control.h"
#include "http.h"
#include "log.h"
#include "oauth.h"
#include "oauth_file.h"
#include "oauth_proto.h"
#include "xmalloc.h"

#define OAUTH_DEFAULT_LIFE	3600	/* expires_in when the endpoint gives none */
#define OAUTH_COMMAND_LIFE	600	/* a token_command's token, unless it says */
#define OAUTH_MARGIN_MAX	300	/* refresh at most this long before expiry */
#define OAUTH_BACKOFF_MIN	2	/* after a failed refresh, doubling ... */
#define OAUTH_BACKOFF_MAX	300	/* ... up to this */
#define OAUTH_COMMAND_TIMEOUT	30	/* seconds a token_command may take */
#define OAUTH_COMMAND_OUT	8192

struct oauth_acct {
	struct config_account	*cfg;
	char			*refresh_token;
	char			*access_token;
	double			 expires_at;
	double			 life;		/* the access token's lifetime */
	int			 login;		/* refused or no token: relayctl oauth login */
	int			 failures;	/* consecutive failed refreshes */
	int			 for_rejection;	/* the refresh under way follows a refusal */
	int			 from_rejection; /* the current token came from one */
	char			 why[300];	/* the last problem, for logs and status */
	struct event		*timer;
	struct http_req		*req;
	pid_t			 pid;		/* token_command running */
	int			 fd;
	struct event		*cmd_ev;
	char			 out[OAUTH_COMMAND_OUT];
	size_t			 outlen;
	double			 cmd_deadline;
};

static struct {
	struct event_base	*base;
	struct http		*http;
	struct oauth_acct	**accts;
	size_t			 n;
	void			(*on_login)(const char *, void *);
	void			*arg;
} oauth;

static void oauth_refresh(struct oauth_acct *);

/* oauth_zfree: wipe and free a secret, and forget it. */
static void
oauth_zfree(char **s)
{
	oauth_proto_zfree(*s);
	*s = NULL;
}

/* oauth_find: the managed account called name, or NULL. */
static struct oauth_acct *
oauth_find(const char *name)
{
	for (size_t i = 0; i < oauth.n; i++)
		if (strcmp(oauth.accts[i]->cfg->name, name) == 0)
			return oauth.accts[i];
	return NULL;
}

/* oauth_schedule: run the refresh of a in secs seconds. */
static void
oauth_schedule(struct oauth_acct *a, double secs)
{
	struct timeval tv;

	if (secs < 0)
		secs = 0;
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	evtimer_add(a->timer, &tv);
}

/* oauth_margin: how long before expiry a token of this lifetime is refreshed. */
static double
oauth_margin(double life)
{
	double m = life / 3;

	return m > OAUTH_MARGIN_MAX ? OAUTH_MARGIN_MAX : m;
}

/*
 * oauth_usable: is a token with left seconds of its life seconds still worth sending?
 * Not in its last moments (the login may take that long); the refresh (oauth_margin)
 * comes before this, so a current token is always there when the endpoint answers.
 */
static int
oauth_usable(double left, double life)
{
	double keep = life / 6;

	return left > (keep > 30 ? 30 : keep);
}

/* oauth_set_login: the account needs relayctl oauth login; it sends nothing until. */
static void
oauth_set_login(struct oauth_acct *a, const char *detail)
{
	a->login = 1;
	oauth_zfree(&a->access_token);
	snprintf(a->why, sizeof(a->why), "oauth: log in again with relayctl oauth login %s",
	    a->cfg->name);
	log_err("account=%s oauth=login-needed (%s): %s", a->cfg->name, detail, a->why);
}

/* oauth_failed: a refresh failed for a passing reason: back off and try again. */
static void
oauth_failed(struct oauth_acct *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
oauth_failed(struct oauth_acct *a, const char *fmt, ...)
{
	va_list ap;
	int d = OAUTH_BACKOFF_MIN << (a->failures < 8 ? a->failures : 8);

	if (d > OAUTH_BACKOFF_MAX)
		d = OAUTH_BACKOFF_MAX;
	a->failures++;
	va_start(ap, fmt);
	vsnprintf(a->why, sizeof(a->why), fmt, ap);
	va_end(ap);
	log_warn("account=%s oauth=refresh-failed retry_in=%ds (%s)", a->cfg->name, d, a->why);
	oauth_schedule(a, d);
}

/* oauth_use: a new access token, valid for life seconds: hand it out from now on. */
static void
oauth_use(struct oauth_acct *a, char *token, double life)
{
	oauth_zfree(&a->access_token);
	a->access_token = token;
	a->expires_at = clock_now() + life;
	a->life = life;
	a->failures = 0;
	a->login = 0;
	a->from_rejection = a->for_rejection;
	a->for_rejection = 0;
	a->why[0] = '\0';
	log_info("account=%s oauth=refreshed expires_in=%.0fs", a->cfg->name, life);
	oauth_schedule(a, life - oauth_margin(life));
}

/* oauth_token_done: the token endpoint answered a refresh. */
static void
oauth_token_done(long status, const char *body, size_t len, const char *err, void *arg)
{
	struct oauth_acct *a = arg;
	struct oauth_proto_token t;
	struct oauth_file f = { 0 };
	char ferr[300];
	double life;

	a->req = NULL;
	if (status == 0) {
		oauth_failed(a, "token endpoint: %s", err);
		return;
	}
	if (oauth_proto_parse_token(body, len, &t) == -1) {
		oauth_proto_token_clear(&t);
		oauth_failed(a, "token endpoint answered HTTP %ld without a token or an error",
		    status);
		return;
	}
	if (t.error != NULL) {
		/* RFC 6749 5.2: the refresh token is revoked, expired or not this client's. */
		if (strcmp(t.error, "invalid_grant") == 0) {
			char detail[300];

			snprintf(detail, sizeof(detail), "token endpoint: invalid_grant%s%s",
			    t.error_description ? ": " : "",
			    t.error_description ? t.error_description : "");
			oauth_set_login(a, detail);
		} else
			oauth_failed(a, "token endpoint: HTTP %ld %s%s%s", status, t.error,
			    t.error_description ? ": " : "",
			    t.error_description ? t.error_description : "");
		oauth_proto_token_clear(&t);
		return;
	}
	life = t.expires_in > 0 ? (double)t.expires_in : OAUTH_DEFAULT_LIFE;
	/* The rotated refresh token is on disk before the new access token is used. */
	f.refresh_token = t.refresh_token ? t.refresh_token : a->refresh_token;
	f.access_token = t.access_token;
	f.expires_at = time(NULL) + (time_t)life;
	if (oauth_file_write(a->cfg->oauth.token_file, &f, ferr, sizeof(ferr)) == -1) {
		oauth_proto_token_clear(&t);
		oauth_failed(a, "cannot store the refreshed token: %s", ferr);
		return;
	}
	if (t.refresh_token != NULL) {
		oauth_zfree(&a->refresh_token);
		a->refresh_token = t.refresh_token;
		t.refresh_token = NULL;
	}
	oauth_use(a, t.access_token, life);
	t.access_token = NULL;
	oauth_proto_token_clear(&t);
}

/* oauth_cmd_end: the token_command is over (or given up); reap it. */
static void
oauth_cmd_end(struct oauth_acct *a)
{
	int st;

	if (a->cmd_ev != NULL)
		event_free(a->cmd_ev);
	a->cmd_ev = NULL;
	if (a->fd != -1)
		close(a->fd);
	a->fd = -1;
	if (a->pid > 0) {
		if (waitpid(a->pid, &st, WNOHANG) == 0) {
			kill(a->pid, SIGKILL);
			waitpid(a->pid, &st, 0);
		}
	}
	a->pid = 0;
}

/* oauth_cmd_read: output of the token_command; at EOF, its token. */
static void
oauth_cmd_read(evutil_socket_t fd, short what, void *arg)
{
	struct oauth_acct *a = arg;
	ssize_t n;
	int st = 0;
	pid_t pid = a->pid;
	char *nl, *token;
	long life = OAUTH_COMMAND_LIFE;

	if (what & EV_TIMEOUT) {
		if (clock_now() < a->cmd_deadline)
			return;
		oauth_cmd_end(a);
		oauth_failed(a, "token_command took longer than %ds", OAUTH_COMMAND_TIMEOUT);
		return;
	}
	n = read(fd, a->out + a->outlen, sizeof(a->out) - 1 - a->outlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		a->outlen += (size_t)n;
		if (a->outlen < sizeof(a->out) - 1)
			return;
	}
	/* EOF (or a full buffer): the program has said what it has to say. */
	event_free(a->cmd_ev);
	a->cmd_ev = NULL;
	close(a->fd);
	a->fd = -1;
	if (waitpid(pid, &st, 0) == pid)
		a->pid = 0;
	else
		oauth_cmd_end(a);
	a->out[a->outlen] = '\0';
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		explicit_bzero(a->out, sizeof(a->out));
		oauth_failed(a, "token_command failed (%s %d)", WIFEXITED(st) ? "exit status" :
		    "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		return;
	}
	/* The first line is the token; a second one, if any, its lifetime in seconds. */
	a->out[strcspn(a->out, "\r\n")] = '\0';
	nl = a->out + strlen(a->out) + 1;
	if (nl < a->out + a->outlen) {
		long v = strtol(nl, NULL, 10);

		if (v > 0)
			life = v;
	}
	token = xstrdup(a->out);
	explicit_bzero(a->out, sizeof(a->out));
	if (*token == '\0') {
		free(token);
		oauth_failed(a, "token_command printed no token");
		return;
	}
	oauth_use(a, token, (double)life);
}

/* oauth_cmd_start: run the account's token_command (sh -c), output to a pipe. */
static void
oauth_cmd_start(struct oauth_acct *a)
{
	int p[2];
	pid_t pid;
	struct timeval tv = { 1, 0 };

	if (pipe2(p, O_CLOEXEC) == -1) {
		oauth_failed(a, "token_command: pipe: %s", strerror(errno));
		return;
	}
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		oauth_failed(a, "token_command: fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		if (devnull != -1)
			dup2(devnull, 0);
		dup2(p[1], 1);
		execl("/bin/sh", "sh", "-c", a->cfg->oauth.token_command, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	a->pid = pid;
	a->fd = p[0];
	a->outlen = 0;
	a->cmd_deadline = clock_now() + OAUTH_COMMAND_TIMEOUT;
	a->cmd_ev = event_new(oauth.base, p[0], EV_READ | EV_PERSIST, oauth_cmd_read, a);
	event_add(a->cmd_ev, &tv);
}

/* oauth_refresh: get a new access token now (unless one is being fetched). */
static void
oauth_refresh(struct oauth_acct *a)
{
	const struct config_oauth *o = &a->cfg->oauth;
	char *form;

	if (a->req != NULL || a->pid > 0)
		return;
	evtimer_del(a->timer);
	if (o->token_command != NULL) {
		oauth_cmd_start(a);
		return;
	}
	if (a->refresh_token == NULL)
		return;		/* nothing to refresh with: login needed */
	const char *kv[] = {
		"grant_type", "refresh_token", "refresh_token", a->refresh_token,
		"client_id", o->client_id, "client_secret", o->client_secret, NULL, NULL,
	};
	form = oauth_proto_form(kv);
	a->req = http_post(oauth.http, o->token_url, form, o->ca_file, oauth_token_done, a);
	explicit_bzero(form, strlen(form));
	free(form);
	if (a->req == NULL)
		oauth_failed(a, "cannot start a request to %s", o->token_url);
}

/* oauth_timer_cb: an account's refresh is due. */
static void
oauth_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	oauth_refresh(arg);
}

/* oauth_load: read the account's token file; use its access token if still good. */
static void
oauth_load(struct oauth_acct *a)
{
	struct oauth_file f;
	char err[300];
	double left;
	int r;

	if (a->cfg->oauth.token_command != NULL) {
		oauth_refresh(a);
		return;
	}
	r = oauth_file_read(a->cfg->oauth.token_file, &f, err, sizeof(err));
	if (r != 0) {
		oauth_set_login(a, r == 1 ? "no token file yet" : err);
		return;
	}
	oauth_zfree(&a->refresh_token);
	a->refresh_token = f.refresh_token;
	f.refresh_token = NULL;
	a->login = 0;
	left = (double)(f.expires_at - time(NULL));
	if (f.access_token != NULL && oauth_usable(left, left)) {
		oauth_zfree(&a->access_token);
		a->access_token = f.access_token;
		f.access_token = NULL;
		a->expires_at = clock_now() + left;
		a->life = left;	/* at least what is left: the real life is not stored */
		oauth_schedule(a, left - oauth_margin(left));
	} else
		oauth_refresh(a);
	oauth_file_clear(&f);
}

/* oauth_acct_free: stop whatever the account has under way. */
static void
oauth_acct_free(struct oauth_acct *a)
{
	http_cancel(a->req);
	oauth_cmd_end(a);
	event_free(a->timer);
	oauth_zfree(&a->access_token);
	oauth_zfree(&a->refresh_token);
	free(a);
}

/* oauth_state_of: the state relayctl oauth status shows; *left: seconds valid. */
static const char *
oauth_state_of(struct oauth_acct *a, double *left)
{
	*left = a->access_token ? a->expires_at - clock_now() : 0;
	if (a->login)
		return "login-needed";
	if (a->access_token != NULL && oauth_usable(*left, a->life))
		return "ready";
	return "refreshing";
}

/* oauth_cmd_status: relayctl oauth status: no secret, only states and times. */
static json_t *
oauth_cmd_status(json_t *args, char **err, void *arg)
{
	json_t *list = json_array();

	for (size_t i = 0; i < oauth.n; i++) {
		struct oauth_acct *a = oauth.accts[i];
		double left;
		const char *st = oauth_state_of(a, &left);

		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}",
		    "account", a->cfg->name, "auth", config_auth_name(a->cfg->auth),
		    "source", a->cfg->oauth.token_command ? "token_command" : "token_file",
		    "state", st, "expires_in", (json_int_t)(left > 0 ? left : 0),
		    "why", a->why));
	}
	return json_pack("{s:o}", "accounts", list);
}

/* oauth_cmd_reload: relayctl oauth login stored a new token for an account. */
static json_t *
oauth_cmd_reload(json_t *args, char **err, void *arg)
{
	const char *name = json_string_value(json_object_get(args, "account"));
	struct oauth_acct *a = name ? oauth_find(name) : NULL;

	if (a == NULL) {
		*err = xasprintf("there is no OAuth account called \"%s\"", name ? name : "");
		return NULL;
	}
	http_cancel(a->req);
	a->req = NULL;
	oauth_cmd_end(a);
	evtimer_del(a->timer);
	a->failures = a->for_rejection = a->from_rejection = 0;
	a->why[0] = '\0';
	oauth_load(a);
	log_info("account=%s oauth=reloaded (relayctl oauth login)", name);
	if (!a->login && oauth.on_login != NULL)
		oauth.on_login(name, oauth.arg);
	return json_pack("{s:s, s:s}", "account", name, "state", a->login ? "login-needed" :
	    "loaded");
}

/* oauth_open: manage the OAuth accounts of cfg. */
static void
oauth_open(struct config *cfg)
{
	for (size_t i = 0; i < cfg->naccounts; i++) {
		struct config_account *c = &cfg->accounts[i];
		struct oauth_acct *a;

		if (c->auth == CONFIG_AUTH_PASSWORD)
			continue;
		if (c->oauth.token_command == NULL) {	/* the token file's directory */
			char *copy = xstrdup(c->oauth.token_file);

			if (oauth_file_mkdir(dirname(copy)) == -1)
				log_err("account=%s oauth: cannot create the directory of %s: %s",
				    c->name, c->oauth.token_file, strerror(errno));
			free(copy);
		}
		a = xcalloc(1, sizeof(*a));
		a->cfg = c;
		a->fd = -1;
		a->timer = evtimer_new(oauth.base, oauth_timer_cb, a);
		oauth.accts = xreallocarray(oauth.accts, oauth.n + 1, sizeof(*oauth.accts));
		oauth.accts[oauth.n++] = a;
		oauth_load(a);
	}
}

void
oauth_start(struct event_base *base, struct config *cfg,
    void (*on_login)(const char *, void *), void *arg)
{
	oauth.base = base;
	oauth.http = http_new(base);
	oauth.on_login = on_login;
	oauth.arg = arg;
	oauth_open(cfg);
}

void
oauth_ctl_register(struct control *c)
{
	control_register(c, "oauth-status", oauth_cmd_status, NULL);
	control_register(c, "oauth-reload", oauth_cmd_reload, NULL);
}

/* oauth_close: forget every account. */
static void
oauth_close(void)
{
	for (size_t i = 0; i < oauth.n; i++)
		oauth_acct_free(oauth.accts[i]);
	free(oauth.accts);
	oauth.accts = NULL;
	oauth.n = 0;
}

void
oauth_reconfigure(struct config *cfg)
{
	oauth_close();
	oauth_open(cfg);
}

void
oauth_stop(void)
{
	oauth_close();
	http_free(oauth.http);
	oauth.http = NULL;
}

enum oauth_state
oauth_token(const char *account, const char **token, char *why, size_t whylen)
{
	struct oauth_acct *a = oauth_find(account);

	*token = NULL;
	if (a == NULL) {
		snprintf(why, whylen, "oauth: account %s is not managed (relayd starting?)",
		    account);
		return OAUTH_WAIT;
	}
	if (a->login) {
		snprintf(why, whylen, "%s", a->why);
		return OAUTH_LOGIN;
	}
	if (a->access_token == NULL || !oauth_usable(a->expires_at - clock_now(), a->life)) {
		snprintf(why, whylen, "oauth: no current access token yet%s%s",
		    a->why[0] ? ": " : " (refreshing)", a->why);
		if (a->failures == 0)	/* else the backoff timer asks again */
			oauth_refresh(a);
		return OAUTH_WAIT;
	}
	*token = a->access_token;
	return OAUTH_READY;
}

int
oauth_rejected(const char *account)
{
	struct oauth_acct *a = oauth_find(account);

	if (a == NULL || a->from_rejection)
		return 0;
	log_warn("account=%s oauth=token-refused: refreshing once and trying again", account);
	oauth_zfree(&a->access_token);
	a->for_rejection = 1;
	oauth_refresh(a);
	return 1;
}

void
oauth_accepted(const char *account)
{
	struct oauth_acct *a = oauth_find(account);

	if (a != NULL)
		a->from_rejection = 0;
}

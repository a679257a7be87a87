/*
 * relayd: the daemon. Reads the config, opens the spool and recovers it, starts the
 * scheduler on what is queued, listens, and runs the event loop until SIGTERM.
 * It stays in the foreground and logs to stderr (systemd and journald style).
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "auth.h"
#include "bounce_store.h"
#include "bounce_store_ctl.h"
#include "clock.h"
#include "config.h"
#include "control.h"
#include "events.h"
#include "events_dsn.h"
#include "imap_watch.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "oauth.h"
#include "outcome.h"
#include "queue.h"
#include "probe_ctl.h"
#include "queue_ctl.h"
#include "scheduler.h"
#include "sdnotify.h"
#include "shared.h"
#include "version.h"
#include "smtp_auth.h"
#include "smtp_session.h"
#include "tls.h"
#include "webhook.h"
#include "xmalloc.h"

#define RELAYD_DEFAULT_CONFIG	"/etc/relayd/relay.conf"

static struct event_base *relayd_base;
static struct evdns_base *relayd_dns;
static struct listener *relayd_listener;
static struct smtp_server relayd_srv;
static const char *relayd_path;
static struct config *relayd_cfg;
static struct config **relayd_oldcfg;	/* replaced by reloads; freed at exit */
static size_t relayd_noldcfg;
static struct scheduler *relayd_sched;
static struct bounce_store *relayd_bounces;
static struct imap_watch *relayd_imap;
static struct events *relayd_events;	/* the event journal, if configured */
static struct webhook *relayd_webhook;
static struct events_dsn *relayd_dsn;	/* the dsn_to reports, if events are on */
static struct metrics *relayd_metrics;
static struct control *relayd_ctl;
static struct queue *relayd_queue;
static struct shared *relayd_shared;	/* Redis, for shared accounts; or NULL */
static struct event *relayd_sigs[3], *relayd_watchdog;
static double relayd_load_start;


static int relayd_reload(char **);

/* relayd_cmd_status: relayctl status. */
static json_t *
relayd_cmd_status(json_t *args, char **err, void *arg)
{
	json_t *st = scheduler_status(arg);

	if (st != NULL) {
		json_object_set_new(st, "events", webhook_status(relayd_webhook, relayd_events));
		json_object_set_new(st, "bounce_watch", imap_watch_status(relayd_imap));
	}
	return st;
}

/* relayd_cmd_enable: relayctl enable ACCOUNT [--reset-learned]. */
static json_t *
relayd_cmd_enable(json_t *args, char **err, void *arg)
{
	const char *name = json_string_value(json_object_get(args, "account"));

	if (name == NULL)
		return control_fail(err, CONTROL_ERR_DATAERR, "enable needs an account name");
	if (scheduler_enable(arg, name) == -1)
		return control_fail(err, CONTROL_ERR_NOUSER, "there is no account called "
		    "\"%s\"", name);
	if (json_is_true(json_object_get(args, "reset_learned")))
		scheduler_reset_learned(arg, name);
	return json_pack("{s:s, s:s}", "account", name, "state", "enabled");
}

/* relayd_oauth_login: relayctl oauth login stored a token: the account may send. */
static void
relayd_oauth_login(const char *name, void *sched)
{
	scheduler_enable(sched, name);
}

static void
relayd_usage(FILE *fp)
{
	fprintf(fp, "usage: relayd [-t] [-c CONFIG]\n"
	    "  -c CONFIG   configuration file (default %s)\n"
	    "  -t          check the configuration and exit (0: valid)\n"
	    "  -V, --version  print the version and exit\n"
	    "  -h, --help     this help\n", RELAYD_DEFAULT_CONFIG);
}

/* relayd_cmd_reload: relayctl reload: the problems come back to relayctl. */
static json_t *
relayd_cmd_reload(json_t *args, char **err, void *arg)
{
	if (relayd_reload(err) == -1)
		return NULL;
	return json_pack("{s:s, s:i}", "config", relayd_path, "accounts",
	    (int)relayd_cfg->naccounts);
}

/*
 * relayd_ctl_register: the daemon's own commands, which no one module owns: status
 * (the scheduler's report with the journal's), enable and reload.
 */
static void
relayd_ctl_register(struct control *c, struct scheduler *sched)
{
	control_register(c, "status", relayd_cmd_status, sched);
	control_register(c, "enable", relayd_cmd_enable, sched);
	control_register(c, "reload", relayd_cmd_reload, NULL);
}

/* relayd_same_list: are two listen lists the same? */
static int
relayd_same_list(const struct config *a, const struct config *b)
{
	if (a->nlisten != b->nlisten)
		return 0;
	for (size_t i = 0; i < a->nlisten; i++)
		if (strcmp(a->listen[i], b->listen[i]) != 0)
			return 0;
	return 1;
}

/* relayd_keep: a setting that takes a restart keeps its running value. */
static void
relayd_keep(const char *key, char **newv, const char *oldv)
{
	if ((*newv == NULL) == (oldv == NULL) && (oldv == NULL || strcmp(*newv, oldv) == 0))
		return;
	log_warn("reload: %s changed; that takes effect when relayd is restarted", key);
	free(*newv);
	*newv = oldv ? xstrdup(oldv) : NULL;
}

/*
 * relayd_reload: read the config again and switch to it without dropping the queue
 * or connections. A bad file changes nothing: its problems are logged (and given
 * to *err for relayctl when err is not NULL). Returns 0 or -1.
 */
/* relayd_log_report: log each line of config_load_report's report (an error or a warning). */
static void
relayd_log_report(char *report, const char *prefix)
{
	char *save = NULL;

	for (char *line = report ? strtok_r(report, "\n", &save) : NULL; line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		if (strstr(line, ": warning: ") != NULL)
			log_warn("%s%s", prefix, line);
		else
			log_err("%s%s", prefix, line);
}

static int
relayd_reload(char **err)
{
	struct config *n;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	sdnotify("RELOADING=1");
	n = config_load_report(relayd_path, fp ? fp : stderr);
	if (fp != NULL)
		fclose(fp);
	if (n == NULL) {
		if (err != NULL)	/* before the log cuts buf into lines */
			*err = xasprintf("%s has errors; the running configuration stays:\n%s",
			    relayd_path, buf ? buf : "");
		relayd_log_report(buf, "reload: ");
		log_err("reload: %s refused; the running configuration stays", relayd_path);
		free(buf);
		sdnotify("READY=1");
		return -1;
	}
	relayd_log_report(buf, "reload: ");	/* warnings */
	free(buf);
	relayd_keep("spool_dir", &n->spool_dir, relayd_cfg->spool_dir);
	relayd_keep("control_socket", &n->control_socket, relayd_cfg->control_socket);
	relayd_keep("user", &n->user, relayd_cfg->user);
	relayd_keep("control_group", &n->control_group, relayd_cfg->control_group);
	relayd_keep("metrics_listen", &n->metrics_listen, relayd_cfg->metrics_listen);
	relayd_keep("tls_cert", &n->tls_cert, relayd_cfg->tls_cert);
	relayd_keep("tls_key", &n->tls_key, relayd_cfg->tls_key);
	relayd_keep("auth_users", &n->auth_users, relayd_cfg->auth_users);
	if (n->shared.enabled != (relayd_shared != NULL))
		log_warn("reload: shared turned on or off; that takes effect when relayd is "
		    "restarted");
	else if (relayd_shared != NULL)
		shared_set_config(relayd_shared, &n->shared);
	if (scheduler_reconfigure(relayd_sched, n) == -1) {
		config_free(n);
		if (err != NULL)
			*err = xstrdup("the new accounts could not be set up (see the log); the "
			    "running configuration stays");
		sdnotify("READY=1");
		return -1;
	}
	relayd_srv.cfg = n;
	if (!relayd_same_list(relayd_cfg, n)) {
		struct listener *l = listener_new(&relayd_srv);

		if (l == NULL)
			log_err("reload: the new listen addresses cannot be bound; still "
			    "listening on the old ones");
		else {
			listener_free(relayd_listener);
			relayd_listener = l;
			listener_start(l);
		}
	}
	log_init(n->log_syslog, n->log_level);
	bounce_store_reconfigure(relayd_bounces, n);
	if (relayd_events != NULL)
		events_reconfigure(relayd_events, n->events.types, n->events.keep);
	webhook_reconfigure(relayd_webhook, &n->events);
	events_dsn_reconfigure(relayd_dsn, n);
	if (n->events.enabled != (relayd_events != NULL) ||
	    (n->events.webhook != NULL) != (relayd_webhook != NULL))
		log_warn("reload: events (or its webhook) turned on or off; that takes "
		    "effect when relayd is restarted");
	oauth_reconfigure(n);
	imap_watch_stop(relayd_imap);
	relayd_imap = imap_watch_start(relayd_base, relayd_dns, n, relayd_bounces);
	/* Sessions in progress may still read the old one: keep it until exit. */
	relayd_oldcfg = xreallocarray(relayd_oldcfg, relayd_noldcfg + 1,
	    sizeof(*relayd_oldcfg));
	relayd_oldcfg[relayd_noldcfg++] = relayd_cfg;
	relayd_cfg = n;
	log_info("reload: %s loaded (%zu account%s)", relayd_path, n->naccounts,
	    n->naccounts == 1 ? "" : "s");
	sdnotify("READY=1");
	return 0;
}

/* relayd_signal: SIGTERM/SIGINT stop the daemon; SIGHUP reloads the config. */
static void
relayd_signal(evutil_socket_t sig, short ev, void *arg)
{
	switch (sig) {
	case SIGHUP:
		log_info("SIGHUP: reloading %s", relayd_path);
		relayd_reload(NULL);
		break;
	default:
		log_info("%s: shutting down; queued mail stays in the spool",
		    sig == SIGTERM ? "SIGTERM" : "SIGINT");
		listener_free(relayd_listener);
		relayd_listener = NULL;
		smtp_session_shutdown(&relayd_srv);
		/* A moment for messages being committed to be answered, then stop. */
		event_base_loopexit(relayd_base, &(struct timeval){ .tv_sec = 1 });
		break;
	}
}

/* relayd_harden: no core dumps (they would hold passwords and mail), private files. */
static void
relayd_harden(void)
{
	struct rlimit rl = { 0, 0 };

	umask(077);
	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * relayd_drop_privileges: started as root with "user" set, become that user (after
 * the sockets are bound, before the spool opens); give the control socket to the
 * user and control_group, mode 0660. Returns 0, or -1 after logging.
 */
static int
relayd_drop_privileges(const struct config *cfg)
{
	struct passwd *pw = NULL;
	struct group *gr = NULL;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	if (cfg->user != NULL && geteuid() == 0) {
		if ((pw = getpwnam(cfg->user)) == NULL) {
			log_err("user %s: no such user", cfg->user);
			return -1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (cfg->control_group != NULL) {
		if ((gr = getgrnam(cfg->control_group)) == NULL) {
			log_err("control_group %s: no such group", cfg->control_group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    chown(cfg->control_socket, uid, gid) == -1) {
		log_err("control socket %s: cannot give it to %s:%s: %s", cfg->control_socket,
		    cfg->user ? cfg->user : "-", cfg->control_group ? cfg->control_group : "-",
		    strerror(errno));
		return -1;
	}
	chmod(cfg->control_socket, 0660);
	if (pw == NULL) {
		if (geteuid() == 0)
			log_warn("running as root: set user = \"relayd\" (or run it from the "
			    "systemd unit) so that it drops privileges after binding");
		return 0;
	}
	/* The spool's top directory, if relayd creates it now, belongs to the user. */
	if (mkdir(cfg->spool_dir, 0700) == 0 || errno == EEXIST) {
		struct stat st;

		if (stat(cfg->spool_dir, &st) == 0 && st.st_uid == 0 &&
		    chown(cfg->spool_dir, pw->pw_uid, pw->pw_gid) == -1)
			log_warn("spool %s: cannot give it to %s: %s", cfg->spool_dir, cfg->user,
			    strerror(errno));
	}
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1) {
		log_err("cannot become user %s: %s", cfg->user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		log_err("privileges could be regained after dropping them: refusing to run");
		return -1;
	}
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);	/* setuid resets it */
	log_info("running as user %s", cfg->user);
	return 0;
}

/* relayd_loaded: a batch of the queue was loaded (end: the last); attempt it. */
static void
relayd_loaded(int end, void *arg)
{
	(void)arg;
	scheduler_run(relayd_sched);
	if (!end)
		return;
	scheduler_set_loading(relayd_sched, 0);
	log_info("queue loaded: %zu message(s) in %.2fs", scheduler_count(relayd_sched),
	    clock_now() - relayd_load_start);
}

/*
 * relayd_setup: everything from the event base to accepting mail, in the order that
 * keeps privileges short-lived. Returns 0, or -1 after logging.
 */
static int
relayd_setup(void)
{
	struct config *cfg = relayd_cfg;
	struct event_config *ecfg = event_config_new();

	/*
	 * Batch epoll_ctl changes per loop turn: a session turns reading and writing on
	 * and off several times a message. (The flag is unsafe only for dup()ed sockets;
	 * relayd has none.)
	 */
	if (ecfg != NULL) {
		event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
		relayd_base = event_base_new_with_config(ecfg);
		event_config_free(ecfg);
	}
	if (relayd_base == NULL) {
		log_err("cannot create the event loop");
		return -1;
	}
	/* Signals first: once a socket listens, a client or systemd may act on it. */
	relayd_sigs[0] = evsignal_new(relayd_base, SIGTERM, relayd_signal, NULL);
	relayd_sigs[1] = evsignal_new(relayd_base, SIGINT, relayd_signal, NULL);
	relayd_sigs[2] = evsignal_new(relayd_base, SIGHUP, relayd_signal, NULL);
	for (int i = 0; i < 3; i++)
		evsignal_add(relayd_sigs[i], NULL);
	/* Resolver: /etc/hosts first, then the nameservers of /etc/resolv.conf. */
	relayd_dns = evdns_base_new(relayd_base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (relayd_dns == NULL)		/* no resolv.conf: hosts only */
		relayd_dns = evdns_base_new(relayd_base, 0);
	if (relayd_dns != NULL)
		evdns_base_load_hosts(relayd_dns, NULL);

	/* What may need root: the sockets. Then the privileges go, then the spool. */
	relayd_srv = (struct smtp_server){ .base = relayd_base, .cfg = cfg };
	TAILQ_INIT(&relayd_srv.sessions);
	if (cfg->tls_cert != NULL &&
	    (relayd_srv.tls_ctx = tls_server_ctx(cfg->tls_cert, cfg->tls_key)) == NULL)
		return -1;
	if (cfg->auth_users != NULL && smtp_auth_init(relayd_base, cfg->auth_users) == -1)
		return -1;
	if ((relayd_ctl = control_new(relayd_base, cfg->control_socket)) == NULL ||
	    (relayd_listener = listener_new(&relayd_srv)) == NULL ||
	    relayd_drop_privileges(cfg) == -1)
		return -1;
	/* The journal once the spool is ours, before anything it reports can happen. */
	if ((relayd_queue = queue_open(relayd_base, cfg->spool_dir)) == NULL ||
	    (cfg->events.enabled && (relayd_events = events_open(relayd_base,
	    cfg->spool_dir, cfg->events.types, cfg->events.keep)) == NULL) ||
	    (relayd_sched = scheduler_new(relayd_base, relayd_dns, cfg,
	    relayd_queue)) == NULL)
		return -1;
	if (cfg->shared.enabled) {	/* Redis, for the shared accounts: in the background */
		relayd_shared = shared_new(relayd_base, &cfg->shared, cfg->hostname,
		    cfg->spool_dir);
		scheduler_set_shared(relayd_sched, relayd_shared);
	}
	/* The queue loads beside the loop: a large one does not delay accepting. */
	relayd_load_start = clock_now();
	scheduler_set_loading(relayd_sched, 1);
	if (queue_load_begin(relayd_queue, scheduler_msg_loaded, relayd_loaded,
	    relayd_sched) == -1)
		return -1;
	relayd_srv.q = relayd_queue;
	relayd_srv.sched = relayd_sched;
	oauth_start(relayd_base, cfg, relayd_oauth_login, relayd_sched);
	if ((relayd_bounces = bounce_store_open(relayd_base, cfg)) == NULL)
		return -1;
	/* relayctl's commands, each group by the module that owns its data. */
	relayd_ctl_register(relayd_ctl, relayd_sched);
	oauth_ctl_register(relayd_ctl);
	queue_ctl_register(relayd_ctl, relayd_sched);
	bounce_store_ctl_register(relayd_ctl, relayd_bounces);
	probe_ctl_register(relayd_ctl, relayd_sched, relayd_base, relayd_dns, cfg->hostname);
	scheduler_set_bounces(relayd_sched, relayd_bounces);
	relayd_srv.bounces = relayd_bounces;
	if (cfg->metrics_listen != NULL && (relayd_metrics = metrics_new(relayd_base,
	    cfg->metrics_listen, relayd_sched, relayd_bounces)) == NULL)
		return -1;
	relayd_dsn = events_dsn_new(relayd_events, relayd_queue, relayd_sched, relayd_bounces,
	    cfg);
	relayd_webhook = webhook_new(relayd_base, relayd_events, &cfg->events);
	metrics_set_events(relayd_metrics, relayd_events, relayd_webhook);
	metrics_set_control(relayd_metrics, relayd_ctl);
	metrics_set_watch(relayd_metrics, &relayd_imap);

	listener_start(relayd_listener);
	log_info("relayd %s started: config=%s spool=%s accounts=%zu", RELAYD_VERSION,
	    relayd_path, cfg->spool_dir, cfg->naccounts);
	relayd_imap = imap_watch_start(relayd_base, relayd_dns, cfg, relayd_bounces);
	sdnotify("READY=1\nSTATUS=accepting mail");
	relayd_watchdog = sdnotify_watchdog(relayd_base);
	return 0;
}

/* relayd_teardown: free everything, in the reverse order (valgrind-clean exit). */
static void
relayd_teardown(void)
{
	sdnotify("STOPPING=1");
	if (relayd_watchdog != NULL)
		event_free(relayd_watchdog);
	imap_watch_stop(relayd_imap);
	metrics_free(relayd_metrics);
	webhook_free(relayd_webhook);	/* a POST in flight goes again next time */
	control_free(relayd_ctl);
	/* A commit under way still answers its client (commits finish in the loop). */
	while (relayd_queue != NULL && queue_busy(relayd_queue))
		event_base_loop(relayd_base, EVLOOP_ONCE);
	/* Let the last replies (a 250, then 421) reach their clients, for a moment. */
	event_base_loopexit(relayd_base, &(struct timeval){ .tv_sec = 2 });
	while (relayd_srv.nclients > 0) {
		event_base_loop(relayd_base, EVLOOP_ONCE);
		if (event_base_got_exit(relayd_base))
			break;
	}
	smtp_session_close_all(&relayd_srv);
	/* No report after this; those being committed still reach the scheduler. */
	events_dsn_free(relayd_dsn);
	while (relayd_queue != NULL && queue_busy(relayd_queue))
		event_base_loop(relayd_base, EVLOOP_ONCE);
	smtp_auth_stop();
	scheduler_free(relayd_sched);
	shared_free(relayd_shared);
	oauth_stop();
	event_base_loop(relayd_base, EVLOOP_NONBLOCK);	/* deferred frees */
	bounce_store_close(relayd_bounces);
	queue_close(relayd_queue);
	events_close(relayd_events);
	listener_free(relayd_listener);
	SSL_CTX_free(relayd_srv.tls_ctx);
	for (int i = 0; i < 3; i++)
		event_free(relayd_sigs[i]);
	if (relayd_dns != NULL)
		evdns_base_free(relayd_dns, 0);
	event_base_free(relayd_base);
	config_free(relayd_cfg);
	for (size_t i = 0; i < relayd_noldcfg; i++)
		config_free(relayd_oldcfg[i]);
	free(relayd_oldcfg);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, check = 0;
	char *report = NULL;
	size_t reportlen = 0;
	FILE *fp;

	relayd_path = RELAYD_DEFAULT_CONFIG;
	while ((ch = getopt_long(argc, argv, "c:thV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			relayd_path = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'V':
			printf("relayd %s\n", RELAYD_VERSION);
			return 0;
		case 'h':
			relayd_usage(stdout);
			return 0;
		default:
			relayd_usage(stderr);
			return 64;
		}
	}
	if (optind != argc) {
		relayd_usage(stderr);
		return 64;
	}
	fp = open_memstream(&report, &reportlen);
	relayd_cfg = config_load_report(relayd_path, fp ? fp : stderr);
	if (fp != NULL)
		fclose(fp);
	if (relayd_cfg == NULL || check) {	/* FILE:LINE: lines, as they are */
		if (report != NULL)
			fputs(report, stderr);
		free(report);
		if (relayd_cfg == NULL)
			return 1;
		fprintf(stderr, "%s: configuration is valid (%zu account%s)\n", relayd_path,
		    relayd_cfg->naccounts, relayd_cfg->naccounts == 1 ? "" : "s");
		config_free(relayd_cfg);
		return 0;
	}
	relayd_harden();
	log_init(relayd_cfg->log_syslog, relayd_cfg->log_level);
	log_libevent();
	relayd_log_report(report, "");		/* the warnings, through the log */
	free(report);
	if (outcome_init() == -1 || auth_init() == -1 || relayd_setup() == -1)
		return 1;

	event_base_dispatch(relayd_base);

	relayd_teardown();
	log_info("stopped");
	return 0;
}

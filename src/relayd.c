/*
 * relayd: the daemon. Reads the config, opens the spool and recovers it, starts the
 * scheduler on what is queued, listens, and runs the event loop until SIGTERM.
 * It stays in the foreground and logs to stderr (systemd and journald style).
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

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
#include "config.h"
#include "control.h"
#include "imap_watch.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "outcome.h"
#include "queue.h"
#include "queue_ctl.h"
#include "scheduler.h"
#include "sdnotify.h"
#include "smtp_session.h"
#include "xmalloc.h"

#define RELAYD_VERSION		"0.1"
#define RELAYD_DEFAULT_CONFIG	"/etc/relayd/relay.conf"

static struct event_base *relayd_base;
static struct listener *relayd_listener;
static struct smtp_server relayd_srv;

/* relayd_cmd_status: relayctl status. */
static json_t *
relayd_cmd_status(json_t *args, char **err, void *arg)
{
	return scheduler_status(arg);
}

/* relayd_cmd_enable: relayctl enable ACCOUNT. */
static json_t *
relayd_cmd_enable(json_t *args, char **err, void *arg)
{
	const char *name = json_string_value(json_object_get(args, "account"));

	if (name == NULL) {
		*err = xstrdup("enable needs an account name");
		return NULL;
	}
	if (scheduler_enable(arg, name) == -1) {
		*err = xasprintf("there is no account called \"%s\"", name);
		return NULL;
	}
	return json_pack("{s:s, s:s}", "account", name, "state", "enabled");
}

static void
relayd_usage(FILE *fp)
{
	fprintf(fp, "usage: relayd [-t] [-c CONFIG]\n"
	    "  -c CONFIG   configuration file (default %s)\n"
	    "  -t          check the configuration and exit (0: valid)\n"
	    "  -V          print the version and exit\n"
	    "  -h          this help\n", RELAYD_DEFAULT_CONFIG);
}

/* relayd_signal: SIGTERM/SIGINT stop the daemon; SIGHUP is acknowledged. */
static void
relayd_signal(evutil_socket_t sig, short ev, void *arg)
{
	switch (sig) {
	case SIGHUP:
		log_warn("SIGHUP: configuration reload is not supported yet; restart relayd "
		    "to apply changes");
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

int
main(int argc, char **argv)
{
	const char *path = RELAYD_DEFAULT_CONFIG;
	int ch, check = 0;
	struct config *cfg;
	struct evdns_base *dns;
	struct queue *q;
	struct scheduler *sched;
	struct control *ctl;
	struct bounce_store *bounces;
	struct imap_watch *imap;
	struct event *sigs[3], *watchdog;
	struct metrics *metrics = NULL;
	long n;

	while ((ch = getopt(argc, argv, "c:thV")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
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
	if ((cfg = config_load(path)) == NULL)
		return 1;
	if (check) {
		fprintf(stderr, "%s: configuration is valid (%zu account%s)\n", path,
		    cfg->naccounts, cfg->naccounts == 1 ? "" : "s");
		config_free(cfg);
		return 0;
	}
	relayd_harden();
	log_init(cfg->log_syslog, cfg->log_level);
	log_libevent();
	if (outcome_init() == -1 || auth_init() == -1)
		return 1;

	relayd_base = event_base_new();
	/* Signals first: once a socket listens, a client or systemd may act on it. */
	sigs[0] = evsignal_new(relayd_base, SIGTERM, relayd_signal, NULL);
	sigs[1] = evsignal_new(relayd_base, SIGINT, relayd_signal, NULL);
	sigs[2] = evsignal_new(relayd_base, SIGHUP, relayd_signal, NULL);
	for (int i = 0; i < 3; i++)
		evsignal_add(sigs[i], NULL);
	/* Resolver: /etc/hosts first, then the nameservers of /etc/resolv.conf. */
	dns = evdns_base_new(relayd_base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (dns == NULL)
		dns = evdns_base_new(relayd_base, 0);	/* no resolv.conf: hosts only */
	if (dns != NULL)
		evdns_base_load_hosts(dns, NULL);
	/* What may need root: the sockets. Then the privileges go, then the spool opens. */
	relayd_srv = (struct smtp_server){ .base = relayd_base, .cfg = cfg };
	TAILQ_INIT(&relayd_srv.sessions);
	if ((ctl = control_new(relayd_base, cfg->control_socket)) == NULL)
		return 1;
	if ((relayd_listener = listener_new(&relayd_srv)) == NULL)
		return 1;
	if (relayd_drop_privileges(cfg) == -1)
		return 1;
	if ((q = queue_open(relayd_base, cfg->spool_dir)) == NULL)
		return 1;
	if ((sched = scheduler_new(relayd_base, dns, cfg, q)) == NULL)
		return 1;
	if ((n = queue_load(q, scheduler_msg_loaded, sched)) == -1)
		return 1;
	relayd_srv.q = q;
	relayd_srv.sched = sched;
	control_register(ctl, "status", relayd_cmd_status, sched);
	control_register(ctl, "enable", relayd_cmd_enable, sched);
	queue_ctl_register(ctl, sched);
	if ((bounces = bounce_store_open(relayd_base, cfg, ctl)) == NULL)
		return 1;
	scheduler_set_bounces(sched, bounces);
	relayd_srv.bounces = bounces;
	if (cfg->metrics_listen != NULL &&
	    (metrics = metrics_new(relayd_base, cfg->metrics_listen, sched)) == NULL)
		return 1;
	listener_start(relayd_listener);
	log_info("relayd %s started: config=%s spool=%s queued=%ld accounts=%zu",
	    RELAYD_VERSION, path, cfg->spool_dir, n, cfg->naccounts);
	scheduler_run(sched);
	imap = imap_watch_start(relayd_base, dns, cfg, bounces);
	sdnotify("READY=1\nSTATUS=accepting mail");
	watchdog = sdnotify_watchdog(relayd_base);

	event_base_dispatch(relayd_base);

	sdnotify("STOPPING=1");
	if (watchdog != NULL)
		event_free(watchdog);
	imap_watch_stop(imap);
	metrics_free(metrics);
	control_free(ctl);
	scheduler_free(sched);
	event_base_loop(relayd_base, EVLOOP_NONBLOCK);	/* deferred frees */
	bounce_store_close(bounces);
	queue_close(q);
	for (int i = 0; i < 3; i++)
		event_free(sigs[i]);
	if (dns != NULL)
		evdns_base_free(dns, 0);
	event_base_free(relayd_base);
	config_free(cfg);
	log_info("stopped");
	return 0;
}

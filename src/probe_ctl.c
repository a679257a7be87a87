/*
 * probe_ctl: relayctl test ACCOUNT, served over the control socket. The answer waits
 * for the probe (control_defer); a deadline ends a probe that hangs.
 */
#include <stdio.h>
#include <stdlib.h>

#include "control.h"
#include "jsonstr.h"
#include "log.h"
#include "probe_ctl.h"
#include "scheduler.h"
#include "upstream.h"
#include "upstream_probe.h"
#include "xmalloc.h"

struct probe_ctl {
	struct control		*ctl;
	struct scheduler	*sched;
	struct event_base	*base;
	struct evdns_base	*dns;
	char			 helo[256];
};

static struct probe_ctl probe_ctl;	/* one control socket, one relayd */

/* One probe in progress. */
struct probe_ctl_run {
	struct control_pending	*pending;
	struct upstream_probe	*probe;
	struct upstream		*u;
	struct event		*deadline;
};

/* probe_ctl_done: the probe ended: answer, and free the run (from the loop). */
static void
probe_ctl_done(json_t *info, void *arg)
{
	struct probe_ctl_run *r = arg;

	log_info("account=%s test by relayctl: %s", json_string_value(json_object_get(info,
	    "account")), json_is_true(json_object_get(info, "ok")) ? "ok" :
	    json_string_value(json_object_get(info, "error")));
	control_answer(r->pending, json_deep_copy(info), CONTROL_ERR_REFUSED, NULL);
	/* The session frees itself; the deadline's event goes with the run. */
	event_free(r->deadline);
	free(r);
}

/* probe_ctl_deadline: the probe took too long: end it (not from its own callbacks). */
static void
probe_ctl_deadline(evutil_socket_t fd, short ev, void *arg)
{
	struct probe_ctl_run *r = arg;

	upstream_probe_failed(r->probe, "no result within " PROBE_CTL_TIMEOUT_TEXT " seconds");
	upstream_stop(r->u);	/* ends the probe: probe_ctl_done frees r */
}

static json_t *
probe_ctl_test(json_t *args, char **err, void *arg)
{
	struct probe_ctl *pc = arg;
	const char *name = json_string_value(json_object_get(args, "account"));
	struct sched_account *a;
	struct probe_ctl_run *r;
	struct timeval tv = { .tv_sec = PROBE_CTL_TIMEOUT };

	if (name == NULL)
		return control_fail(err, CONTROL_ERR_DATAERR, "give an account name");
	if ((a = scheduler_account_named(pc->sched, name)) == NULL)
		return control_fail(err, CONTROL_ERR_NOUSER, "there is no account called \"%s\"",
		    name);
	r = xcalloc(1, sizeof(*r));
	if ((r->pending = control_defer(pc->ctl)) == NULL) {
		free(r);
		return control_fail(err, CONTROL_ERR_REFUSED, "a test needs a connection");
	}
	r->probe = upstream_probe_new(a->cfg->name, a->cfg->host, a->cfg->port,
	    probe_ctl_done, r);
	r->deadline = evtimer_new(pc->base, probe_ctl_deadline, r);
	evtimer_add(r->deadline, &tv);
	r->u = upstream_probe_start(a->cfg, a->ssl_ctx, pc->base, pc->dns, pc->helo, r->probe);
	return NULL;
}

void
probe_ctl_register(struct control *c, struct scheduler *s, struct event_base *base,
    struct evdns_base *dns, const char *helo)
{
	struct probe_ctl *pc = &probe_ctl;

	*pc = (struct probe_ctl){ c, s, base, dns, "" };
	snprintf(pc->helo, sizeof(pc->helo), "%s", helo);
	control_register(c, "account-test", probe_ctl_test, pc);
}

/*
 * probe_ctl: the control command behind relayctl test ACCOUNT ("account-test"): an
 * upstream session in probe mode (upstream_probe_start) for the account, answered
 * when it ends with what upstream_probe collected (server, TLS, certificate, EHLO,
 * AUTH mechanism, result or error). Errors: an unknown account is nouser.
 */
#ifndef RELAYD_PROBE_CTL_H
#define RELAYD_PROBE_CTL_H

#include <event2/dns.h>
#include <event2/event.h>

struct control;
struct scheduler;

/* A probe gives up after this many seconds, whatever the state. */
#define PROBE_CTL_TIMEOUT	60
#define PROBE_CTL_TIMEOUT_TEXT	"60"

/* probe_ctl_register: add "account-test" to c; sessions say EHLO helo. */
void	probe_ctl_register(struct control *c, struct scheduler *s, struct event_base *base,
	    struct evdns_base *dns, const char *helo);

#endif

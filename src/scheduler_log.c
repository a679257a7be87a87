/*
 * scheduler_log: the delivery log lines and the per-recipient events of the attempts
 * (scheduler.c decides, this writes down): one line per recipient, key=value,
 * starting with the queue id; deferrals that share their outcome joined.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "events.h"
#include "events_file.h"
#include "jsonstr.h"
#include "log.h"
#include "scheduler_int.h"
#include "xmalloc.h"

/*
 * Deferrals of the recipients of one attempt that share their outcome are one log
 * line, "to=<first> more=N": a 10,000-recipient message deferred by one reply is one
 * line per attempt, not 10,000. The line waits here, copied (the message may be gone
 * by the time it is written), until a different line comes or scheduler_log_flush.
 */
static struct {
	char	*id, *to, *account, *relay, *reply;
	double	 delay;
	size_t	 more;
} scheduler_log_pending;

/* scheduler_log_flush: write the pending deferral line, if any. */
void
scheduler_log_flush(void)
{
	if (scheduler_log_pending.id == NULL)
		return;
	if (scheduler_log_pending.more > 0)
		log_info("%s: to=<%s> more=%zu account=%s relay=%s delay=%.2f status=deferred "
		    "(%s)", scheduler_log_pending.id, scheduler_log_pending.to,
		    scheduler_log_pending.more, scheduler_log_pending.account,
		    scheduler_log_pending.relay, scheduler_log_pending.delay,
		    scheduler_log_pending.reply);
	else
		log_info("%s: to=<%s> account=%s relay=%s delay=%.2f status=deferred (%s)",
		    scheduler_log_pending.id, scheduler_log_pending.to, scheduler_log_pending.account,
		    scheduler_log_pending.relay, scheduler_log_pending.delay,
		    scheduler_log_pending.reply);
	free(scheduler_log_pending.id);
	free(scheduler_log_pending.to);
	free(scheduler_log_pending.account);
	free(scheduler_log_pending.relay);
	free(scheduler_log_pending.reply);
	memset(&scheduler_log_pending, 0, sizeof(scheduler_log_pending));
}

/* scheduler_log: the delivery log line of one recipient (deferrals may be joined). */
void
scheduler_log(const struct queue_msg *m, size_t idx, const struct sched_account *a,
    const char *relay, const char *status, const char *reply)
{
	const char *acct = a ? a->cfg->name : "none";

	relay = relay ? relay : "none";
	if (scheduler_log_pending.id != NULL && strcmp(status, "deferred") == 0 &&
	    strcmp(scheduler_log_pending.id, m->id) == 0 &&
	    strcmp(scheduler_log_pending.account, acct) == 0 &&
	    strcmp(scheduler_log_pending.relay, relay) == 0 &&
	    strcmp(scheduler_log_pending.reply, reply) == 0) {
		scheduler_log_pending.more++;
		return;
	}
	scheduler_log_flush();
	if (strcmp(status, "deferred") == 0) {
		scheduler_log_pending.id = xstrdup(m->id);
		scheduler_log_pending.to = xstrdup(m->rcpts[idx].addr);
		scheduler_log_pending.account = xstrdup(acct);
		scheduler_log_pending.relay = xstrdup(relay);
		scheduler_log_pending.reply = xstrdup(reply);
		scheduler_log_pending.delay = clock_now() - m->t_received;
		return;
	}
	log_info("%s: to=<%s> account=%s relay=%s delay=%.2f status=%s (%s)", m->id,
	    m->rcpts[idx].addr, acct, relay, clock_now() - m->t_received, status, reply);
}

/* scheduler_log_sent_event: the event for recipient idx of m, taken by the provider. */
void
scheduler_log_sent_event(const struct queue_msg *m, size_t idx, const char *account,
    const char *reply, const char *relay)
{
	char *pid = events_file_provider_id(reply);

	events_emit_rcpt(EVENTS_SENT, m, idx, account, json_pack("{s:o, s:o, s:o}", "reply",
	    jsonstr_new(reply), "provider_id", jsonstr_new(pid), "relay", jsonstr_new(relay)));
	free(pid);
}

/* scheduler_log_deferred_event: the event for recipient idx of m, just deferred. */
void
scheduler_log_deferred_event(const struct queue_msg *m, size_t idx, const char *account,
    const char *reply)
{
	events_emit_rcpt(EVENTS_DEFERRED, m, idx, account, json_pack("{s:o, s:i, s:I}",
	    "reply", jsonstr_new(reply), "attempts", m->attempts, "next_try",
	    (json_int_t)clock_to_wall((double)m->next_try)));
}

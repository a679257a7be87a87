/*
 * bounce_store_int: the bounce store's private parts, shared by its files:
 * bounce_store.c (the records and the life cycle), bounce_store_sent.c (the sent log
 * and matching), bounce_store_suppress.c (the suppression list), bounce_store_text.c
 * (the forms of addresses, Message-IDs and times) and bounce_store_ctl.c (relayctl's
 * commands). The file formats are described at the top of bounce_store.c. Nothing
 * else includes this.
 */
#ifndef RELAYD_BOUNCE_STORE_INT_H
#define RELAYD_BOUNCE_STORE_INT_H

#include <stddef.h>
#include <time.h>

#include <event2/event.h>
#include <event2/util.h>
#include <jansson.h>

#include "bounce_parse.h"
#include "bounce_store_file.h"
#include "bounce_store_map.h"
#include "queue.h"

#define BOUNCE_STORE_SENT_DAYS		30
#define BOUNCE_STORE_BOUNCE_DAYS	180
#define BOUNCE_STORE_PRUNE_EVERY	(24 * 3600)	/* seconds */
#define BOUNCE_STORE_SENT_SYNC		1	/* seconds from a sent record to its fdatasync */
#define BOUNCE_STORE_ADDR_MAX		512
#define BOUNCE_STORE_LINE_MAX		(64 * 1024)

#define BOUNCE_STORE_SENT_MAGIC		"relayd-sent 1"
#define BOUNCE_STORE_BOUNCES_MAGIC	"relayd-bounces 1"
#define BOUNCE_STORE_SUPPRESS_MAGIC	"relayd-suppress 1"

/* One sent recipient. */
struct bounce_sent {
	time_t	 t;
	char	 qid[QUEUE_ID_LEN + 1];
	char	*account, *mid, *rcpt;	/* mid without <>; rcpt lower-cased */
};

/* One bounce record. */
struct bounce_rec {
	time_t		 t;
	char		*key, *recipient, *diagnostic, *queue_id, *message_id, *account;
	const char	*matched;	/* static */
	enum bounce_kind kind;
	char		 status[BOUNCE_STATUS_MAX];
	enum bounce_reason reason;
	int		 permanent;
};

/* What is known about one address (lower-cased). */
struct bounce_addr {
	int	 suppressed;
	time_t	 since;		/* when it was suppressed */
	char	 reason[24];	/* "hard", "soft:N", "operator" */
	time_t	 cleared;	/* last removal by the operator, 0 if never */
	int	 nsoft;		/* soft bounces since then */
	char	 addr[];
};

struct bounce_store {
	struct event_base	*base;
	struct config		*cfg;
	char			*dir;		/* SPOOL/bounces */
	int			 dirfd;
	struct bounce_store_file	 f_sent, f_bounces, f_suppress;

	struct bounce_sent	**sent;
	size_t			 nsent, capsent;
	struct bounce_store_map	 by_mid_rcpt, by_mid, by_rcpt;	/* -> struct bounce_sent */

	struct bounce_rec	**recs;
	size_t			 nrecs, caprecs;
	unsigned long long	 nhard, nsoft;	/* recorded since start: only go up */
	struct bounce_store_map	 seen;		/* "key\trecipient" -> struct bounce_rec */

	struct bounce_store_map	 addrs;		/* address -> struct bounce_addr */
	size_t			 nsuppress_lines;

	struct event		*sync_ev;	/* group fdatasync of the sent file */
	int			 sent_dirty;
	struct event		*prune_ev;
};

/* bounce_store_text.c */

/* bounce_store_lower: s lower-cased (ASCII) in a new string. */
char *bounce_store_lower(const char *s);
/* bounce_store_mid: a Message-ID without blanks and <>, in a new string. */
char *bounce_store_mid(const char *s);
/* bounce_store_date: "2026-11-22" (UTC) for t. */
const char *bounce_store_date(time_t t, char *buf, size_t len);
/* bounce_store_iso: "2026-11-22T10:00:00Z" for t, as a JSON string. */
json_t *bounce_store_iso(time_t t);
/* bounce_store_addr_ok: a plausible address for the list: local@domain, no blanks. */
int bounce_store_addr_ok(const char *a);

/* bounce_store_sent.c */

/* bounce_store_free_sent: free one entry of the sent log. */
void bounce_store_free_sent(struct bounce_sent *s);
/* bounce_store_load_sent: one line of the sent file. */
void bounce_store_load_sent(char *line, size_t len, void *arg);
/* bounce_store_prune_sent: forget entries older than the retention. 1 if any went. */
int bounce_store_prune_sent(struct bounce_store *b, time_t now);
/* bounce_store_rewrite_sent: write the sent file from memory. */
void bounce_store_rewrite_sent(struct bounce_store *b);
/* bounce_store_sync_cb: the group sync of the sent file, a moment after a write. */
void bounce_store_sync_cb(evutil_socket_t fd, short ev, void *arg);
/* bounce_store_match: find the sent mail a failed recipient reports. */
const struct bounce_sent *bounce_store_match(struct bounce_store *b,
    const char *mid, const char *rcpt, const char **how);
/*
 * bounce_store_sent_to: of a report's addresses for one recipient (its pick, then
 * Original-Recipient, then Final-Recipient), the first the sent log says we sent to
 * (with that Message-ID when the report quotes one); else the report's pick.
 */
const char *bounce_store_sent_to(struct bounce_store *b, const char *mid,
    const struct bounce_rcpt *rc);

/* bounce_store_suppress.c */

/* bounce_store_addr: the entry for address a (lower-cased), created if asked. */
struct bounce_addr *bounce_store_addr(struct bounce_store *b, const char *a,
    int create);
/* bounce_store_why: the refusal text for a suppressed entry. */
void bounce_store_why(const struct bounce_addr *e, char *why, size_t len);
/* bounce_store_reason: the list's short reason for a suppressed entry. */
json_t *bounce_store_reason(const struct bounce_addr *e);
/* bounce_store_load_suppress: replay one line of the suppression log. */
void bounce_store_load_suppress(char *line, size_t len, void *arg);
/* bounce_store_apply: count bounce r against its address; suppress if the rules say. */
void bounce_store_apply(struct bounce_store *b, const struct bounce_rec *r);
/* bounce_store_compact_suppress: rewrite the log with one or two lines per address. */
void bounce_store_compact_suppress(struct bounce_store *b);

/* bounce_store.c */

/* bounce_store_rec_json: r as stored (file) or shown (relayctl, with ISO times). */
json_t *bounce_store_rec_json(const struct bounce_rec *r, int file);

#endif

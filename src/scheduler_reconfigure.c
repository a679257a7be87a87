/*
 * scheduler_reconfigure: a reload (SIGHUP, relayctl reload) carried over to the running
 * scheduler: accounts kept by name (or by mailbox when renamed) keep their ledger,
 * suspension and sessions; new ones start; removed ones retire when their sessions
 * end. Everything that can fail is done first, with nothing running changed.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "log.h"
#include "scheduler.h"
#include "scheduler_int.h"
#include "shared_ledger.h"
#include "tls.h"
#include "xmalloc.h"

/* What a reload prepares for one configured account before anything changes. */
struct scheduler_reconfigure_prep {
	struct sched_account	*a;	/* kept (found by name) or new */
	int			 is_new;
	SSL_CTX			*ctx;	/* kept accounts: the new TLS context */
	struct quota		*q;	/* kept accounts: a reopened ledger, or NULL */
};

/*
 * scheduler_reconfigure_find: the running account a reloaded one continues: the one
 * of the same name, or one renamed (its name is gone from cfg) with the same mailbox,
 * which keeps its ledger and suspension. s->naccounts if none: a new account.
 */
static size_t
scheduler_reconfigure_find(const struct scheduler *s, const struct config *cfg,
    const struct config_account *ca)
{
	size_t j, k;

	for (j = 0; j < s->naccounts; j++)
		if (strcmp(s->accounts[j]->cfg->name, ca->name) == 0)
			return j;
	for (j = 0; j < s->naccounts; j++) {
		const struct config_account *old = s->accounts[j]->cfg;

		if (strcasecmp(old->address, ca->address) != 0)
			continue;
		for (k = 0; k < cfg->naccounts && strcmp(cfg->accounts[k].name, old->name); k++)
			;
		if (k == cfg->naccounts)
			return j;
	}
	return s->naccounts;
}

int
scheduler_reconfigure(struct scheduler *s, struct config *cfg)
{
	time_t now = (time_t)clock_steady();
	struct scheduler_reconfigure_prep *p = xcalloc(cfg->naccounts + 1, sizeof(*p));
	size_t i, j, n = cfg->naccounts;
	struct sched_domains *domains;

	/* Phase 1: everything that can fail, with nothing running changed yet. */
	if ((domains = scheduler_domain_new(cfg, s->domains, now)) == NULL) {
		free(p);
		log_err("reload: the domain ledgers could not be opened; the running "
		    "configuration stays");
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct config_account *ca = &cfg->accounts[i];
		const struct config_limits *l = &ca->limits;
		int durable = l->per_hour > 0 || l->per_day > 0;

		if ((j = scheduler_reconfigure_find(s, cfg, ca)) == s->naccounts) {
			p[i].is_new = 1;
			if ((p[i].a = scheduler_account_new(ca, cfg, now)) == NULL)
				goto fail;
			continue;
		}
		p[i].a = s->accounts[j];
		if (ca->tls != CONFIG_TLS_NONE && (p[i].ctx = tls_client_ctx(ca->ca_file)) == NULL)
			goto fail;
		/* The ledger follows the mailbox: a new address is another ledger. */
		if ((durable != p[i].a->quota_durable ||
		    strcasecmp(p[i].a->cfg->address, ca->address) != 0) &&
		    (p[i].q = quota_open(cfg->spool_dir, ca->address, NULL, durable, now)) == NULL)
			goto fail;
	}

	/* Phase 2: apply; nothing here fails. */
	scheduler_domain_adopt(domains, s->domains);	/* changed limits hold now */
	s->domains = domains;
	/* Mail waiting for a domain's limit is looked at again: it may have changed. */
	for (i = 0; i < s->wait.n; i++)
		if (s->wait.v[i]->domain_wait) {
			s->wait.v[i]->next_try = 0;
			s->wait.v[i]->domain_wait = 0;
		}
	scheduler_heap_rebuild(&s->wait);	/* keys only went down */
	for (i = 0; i < n; i++) {
		struct sched_account *a = p[i].a;
		struct config_account *old = a->cfg;

		if (p[i].is_new)
			continue;
		a->cfg = &cfg->accounts[i];
		SSL_CTX_free(a->ssl_ctx);	/* sessions using it hold their own reference */
		a->ssl_ctx = p[i].ctx;
		if (p[i].q != NULL) {
			shared_ledger_free(a->shared);	/* another ledger: shared anew */
			a->shared = NULL;
			quota_free(a->quota);
			a->quota = p[i].q;
			a->quota_durable = a->cfg->limits.per_hour > 0 || a->cfg->limits.per_day > 0;
		}
		a->window_opens = 0;	/* the window may be another: asked anew */
		scheduler_account_plan(a);
		if (a->disabled && scheduler_account_changed(old, a->cfg)) {
			scheduler_account_enable(a);	/* "until its configuration changes" */
			log_info("account=%s status=enabled (its configuration changed)",
			    a->cfg->name);
		}
	}
	/* Accounts no longer configured send nothing more; they go when idle. */
	for (j = 0; j < s->naccounts; j++) {
		struct sched_account *a = s->accounts[j];

		for (i = 0; i < n && p[i].a != a; i++)
			;
		if (i < n)
			continue;
		log_info("account=%s removed from the configuration", a->cfg->name);
		if (a->nsessions == 0) {
			scheduler_account_free(a);
			continue;
		}
		a->retired = 1;
		s->retired = xreallocarray(s->retired, s->nretired + 1, sizeof(*s->retired));
		s->retired[s->nretired++] = a;
		for (int k = 0; k < a->nsessions; k++)	/* idle ones leave now */
			s->tr->wake(a->sess[k], s->tr_arg);
	}
	s->accounts = xreallocarray(s->accounts, n ? n : 1, sizeof(*s->accounts));
	for (i = 0; i < n; i++)
		s->accounts[i] = p[i].a;
	s->naccounts = n;
	for (i = 0; i < n; i++)
		scheduler_share(s, s->accounts[i]);
	s->cfg = cfg;
	free(p);
	scheduler_kick(s);
	return 0;
fail:
	scheduler_domain_free(domains);
	for (i = 0; i < n; i++) {
		if (p[i].is_new)
			scheduler_account_free(p[i].a);
		SSL_CTX_free(p[i].ctx);
		quota_free(p[i].q);
	}
	free(p);
	log_err("reload: the accounts could not be set up; the running configuration stays");
	return -1;
}

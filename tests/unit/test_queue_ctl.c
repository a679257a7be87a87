/*
 * test_queue_ctl: which messages relayctl queue hold|release|delete's filters
 * (--recipient, --domain, --sender) select, as a table.
 */
#include <string.h>

#include "queue.h"
#include "queue_ctl.h"
#include "t.h"

static const struct {
	const char	*sender;
	const char	*rcpt[3];	/* NULL-terminated */
	const char	*recipient, *domain, *from;	/* the filters (NULL: none) */
	int		 want;
} cases[] = {
	{ "crm@app.example", { "a@one.example" }, NULL, NULL, NULL, 1 },
	{ "crm@app.example", { "a@one.example" }, "a@one.example", NULL, NULL, 1 },
	{ "crm@app.example", { "a@one.example" }, "A@ONE.example", NULL, NULL, 1 },
	{ "crm@app.example", { "a@one.example" }, "b@one.example", NULL, NULL, 0 },
	{ "crm@app.example", { "a@one.example" }, "a@one.example.org", NULL, NULL, 0 },
	{ "crm@app.example", { "a@one.example", "b@two.example" }, "b@two.example", NULL,
	  NULL, 1 },
	{ "crm@app.example", { "a@one.example" }, NULL, "one.example", NULL, 1 },
	{ "crm@app.example", { "a@one.example" }, NULL, "ONE.EXAMPLE", NULL, 1 },
	/* the domain is the whole of what follows @, not a suffix of it */
	{ "crm@app.example", { "a@mx.one.example" }, NULL, "one.example", NULL, 0 },
	{ "crm@app.example", { "a@one.example" }, NULL, "e.example", NULL, 0 },
	{ "crm@app.example", { "postmaster" }, NULL, "postmaster", NULL, 0 },
	{ "crm@app.example", { "a@one.example", "b@two.example" }, NULL, "two.example",
	  NULL, 1 },
	{ "crm@app.example", { "a@one.example" }, NULL, NULL, "crm@app.example", 1 },
	{ "crm@app.example", { "a@one.example" }, NULL, NULL, "CRM@App.Example", 1 },
	{ "", { "a@one.example" }, NULL, NULL, "crm@app.example", 0 },
	{ "crm@app.example", { "a@one.example" }, NULL, NULL, "news@app.example", 0 },
	/* every filter given must match, each for some recipient */
	{ "crm@app.example", { "a@one.example", "b@two.example" }, "a@one.example",
	  "two.example", "crm@app.example", 1 },
	{ "crm@app.example", { "a@one.example", "b@two.example" }, "a@one.example",
	  "two.example", "news@app.example", 0 },
	{ "crm@app.example", { "a@one.example" }, "a@one.example", "two.example", NULL, 0 },
};

/* Why a due message waits, from the accounts' states (relayctl status's JSON). */
static const struct {
	const char	*accounts;	/* JSON array */
	int		 held, inflight, attempts;
	long long	 next;		/* wall time of the next attempt (0: due) */
	const char	*want;
} whys[] = {
	{ "[{\"name\":\"main\",\"state\":\"ready\"}]", 0, 0, 0, 0, "" },
	{ "[{\"name\":\"main\",\"state\":\"exhausted\",\"next_free\":4360},"
	  "{\"name\":\"spare\",\"state\":\"exhausted\",\"next_free\":1300}]", 0, 0, 0, 0,
	  "quota: main and spare exhausted, next free in 5m" },
	{ "[{\"name\":\"a\",\"state\":\"exhausted\",\"next_free\":4360},"
	  "{\"name\":\"b\",\"state\":\"exhausted\",\"next_free\":4400},"
	  "{\"name\":\"c\",\"state\":\"throttled\",\"until\":2200}]", 0, 0, 0, 0,
	  "quota: a and b exhausted, next free in 56m; c throttled by the provider, until "
	  "in 20m" },
	{ "[{\"name\":\"main\",\"state\":\"exhausted\",\"next_free\":4360},"
	  "{\"name\":\"spare\",\"state\":\"ready\"}]", 0, 0, 0, 0, "" },
	{ "[{\"name\":\"main\",\"state\":\"closed\",\"limits_why\":\"outside window "
	  "until 08:00 Europe/Berlin\"}]", 0, 0, 0, 0,
	  "main outside window until 08:00 Europe/Berlin" },
	{ "[{\"name\":\"main\",\"state\":\"closed\",\"limits_why\":\"learned after 553; "
	  "outside window until Mon 08:00 UTC\"},{\"name\":\"spare\",\"state\":\"closed\"}]",
	  0, 0, 0, 0, "main outside window until Mon 08:00 UTC; spare outside its send window" },
	{ "[{\"name\":\"main\",\"state\":\"disabled\"}]", 0, 0, 0, 0, "main disabled" },
	{ "[{\"name\":\"main\",\"state\":\"exhausted\",\"next_free\":4360},"
	  "{\"name\":\"spare\",\"state\":\"disabled\",\"why\":\"535 5.7.8 bad login\"}]",
	  0, 0, 0, 0, "quota: main exhausted, next free in 56m; spare disabled: 535 5.7.8 bad "
	  "login" },
	{ "[{\"name\":\"main\",\"state\":\"backoff\",\"until\":1100}]", 0, 0, 0, 0,
	  "main cannot connect, next try in 100s" },
	{ "[{\"name\":\"main\",\"state\":\"disabled\"}]", 1, 0, 0, 0,
	  "held (relayctl queue release lets it go)" },
	{ "[]", 0, 1, 0, 0, "being sent through main" },
	{ "[{\"name\":\"main\",\"state\":\"ready\"}]", 0, 0, 2, 1240,
	  "deferred: 451 4.3.0 later; retry in 4m" },
};

int
main(void)
{
	for (size_t i = 0; i < sizeof(whys) / sizeof(whys[0]); i++) {
		json_t *accts = json_loads(whys[i].accounts, 0, NULL);
		struct queue_msg m;
		char buf[600];

		memset(&m, 0, sizeof(m));
		m.held = whys[i].held;
		m.inflight = whys[i].inflight;
		m.account = "main";
		m.attempts = whys[i].attempts;
		m.last_reply = "451 4.3.0 later";
		queue_ctl_why(&m, accts, 1000, (time_t)whys[i].next, buf, sizeof(buf));
		CHECK_STR(buf, whys[i].want, whys[i].accounts);
		json_decref(accts);
	}

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct queue_rcpt r[3];
		struct queue_msg m;
		size_t n = 0;

		memset(&m, 0, sizeof(m));
		m.sender = (char *)cases[i].sender;
		for (; n < 3 && cases[i].rcpt[n] != NULL; n++)
			r[n] = (struct queue_rcpt){ .addr = (char *)cases[i].rcpt[n], .state = QUEUE_RCPT_PENDING };
		m.rcpts = r;
		m.nrcpt = n;
		CHECK(queue_ctl_matches(&m, cases[i].recipient, cases[i].domain, cases[i].from) ==
		    cases[i].want, "case %zu: want %d", i, cases[i].want);
	}
	T_DONE();
}

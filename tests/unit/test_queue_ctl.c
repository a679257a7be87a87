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

int
main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct queue_rcpt r[3];
		struct queue_msg m;
		size_t n = 0;

		memset(&m, 0, sizeof(m));
		m.sender = (char *)cases[i].sender;
		for (; n < 3 && cases[i].rcpt[n] != NULL; n++)
			r[n] = (struct queue_rcpt){ (char *)cases[i].rcpt[n], QUEUE_RCPT_PENDING };
		m.rcpts = r;
		m.nrcpt = n;
		CHECK(queue_ctl_matches(&m, cases[i].recipient, cases[i].domain, cases[i].from) ==
		    cases[i].want, "case %zu: want %d", i, cases[i].want);
	}
	T_DONE();
}

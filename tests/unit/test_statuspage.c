/*
 * test_statuspage: the status page drawn from a fixed status object (what relayctl
 * status --json prints) and its extras, at a fixed now: what must be on the page,
 * what must never be (markup from account names or provider text, script), and
 * that missing members are tolerated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "statuspage.h"
#include "t.h"

#define NOW	1796400000LL	/* 2026-12-04 16:00:00 UTC */

/* Two accounts (one throttled with hostile text, one exhausted), the queue, the
 * journal, a bounce watcher as h17b's status may show it, and a member nobody knows. */
static const char fixture_status[] =
	"{\"accounts\":["
	"{\"name\":\"main<script>x</script>\",\"state\":\"throttled\","
	" \"hour\":{\"used\":3,\"limit\":50,\"remaining\":47},"
	" \"day\":{\"used\":7,\"limit\":200,\"remaining\":193},"
	" \"count\":\"messages\",\"sessions\":0,\"busy\":0,\"provider\":\"mailru\","
	" \"next_free\":null,\"until\":1796400600,"
	" \"why\":\"421 4.7.0 <b>\xd0\xa1\xd0\xbb\xd0\xb8\xd1\x88\xd0\xba\xd0\xbe\xd0\xbc</b> & "
	"\\\\xCF\\\\xF0 'q'\",\"last_reply\":\"421 4.7.0 <b>x</b>\","
	" \"configured\":{\"per_hour\":100,\"per_day\":200},"
	" \"limits_why\":\"learned per_hour 50 after a throttle\",\"spread\":false,"
	" \"disabled_since\":null},"
	"{\"name\":\"spare\",\"state\":\"exhausted\","
	" \"hour\":{\"used\":2,\"limit\":2,\"remaining\":0},"
	" \"day\":{\"used\":9,\"limit\":100,\"remaining\":91},"
	" \"next_free\":1796403360,\"until\":0,\"why\":null,\"last_reply\":\"250 OK\","
	" \"configured\":{\"per_hour\":2,\"per_day\":100},\"limits_why\":null},"
	"{\"name\":\"old\",\"state\":\"disabled\",\"hour\":{\"used\":0,\"limit\":null,"
	" \"remaining\":null},\"day\":{\"used\":0,\"limit\":null,\"remaining\":null},"
	" \"why\":\"535 5.7.8 authentication failed\",\"disabled_since\":1796396400},"
	"{\"name\":\"night\",\"state\":\"closed\",\"hour\":{\"used\":1,\"limit\":10,"
	" \"remaining\":9},\"day\":{\"used\":1,\"limit\":50,\"remaining\":49},"
	" \"limits_why\":\"outside window until 08:00 Europe/Moscow\"}],"
	"\"queue\":{\"total\":161,\"waiting\":150,\"inflight\":1,\"held\":10,\"deferred\":4,"
	" \"recipients\":170,\"drain_estimate\":1796485380,\"loading\":false,"
	" \"stalled_since\":null,\"stalled_why\":null,\"quarantined\":0,"
	" \"oldest_age\":7260},"
	"\"events\":{\"journal\":true,\"last_id\":42,\"state\":\"off\"},"
	"\"bounce_watcher\":{\"main\":{\"connected\":true,\"last_success\":1796399940,"
	" \"last_error\":\"<i>none</i>\"}},"
	"\"novelty\":{\"answer\":42}}";

static const char fixture_extra[] =
	"{\"history\":{\"end\":1796400000,\"hours\":24,\"accounts\":["
	" {\"name\":\"main<script>x</script>\",\"sends\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
	"0,0,0,0,4,0,3]},"
	" {\"name\":\"spare\",\"sends\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,7,0,2]}]},"
	"\"bounces\":[{\"time\":\"2026-12-04T15:40:00Z\",\"recipient\":\"dead@example.org\","
	" \"kind\":\"hard\",\"status\":\"5.1.1\",\"reason\":\"user_unknown\","
	" \"diagnostic\":\"550 <dead@example.org> no such user\",\"account\":\"main\"}],"
	"\"failures\":[{\"id\":40,\"time\":1796399700,\"type\":\"failed\",\"queue_id\":"
	" \"6B135117881CF56A\",\"recipient\":\"gone@example.org\",\"account\":\"spare\","
	" \"reason\":\"rejected\",\"reply\":\"550 5.1.1 <gone@example.org>: no such user\"}]}";

/* What the page must hold (each a substring of it). */
static const char *const must[] = {
	"<meta http-equiv=\"refresh\" content=\"10\">",
	/* the hostile name and text, escaped, as text and in attributes */
	"data-account=\"main&lt;script&gt;x&lt;/script&gt;\" data-state=\"throttled\"",
	"<span class=\"name\">main&lt;script&gt;x&lt;/script&gt;</span>",
	"421 4.7.0 &lt;b&gt;\xd0\xa1\xd0\xbb\xd0\xb8\xd1\x88\xd0\xba\xd0\xbe\xd0\xbc&lt;/b&gt; "
	"&amp; \\xCF\\xF0 &#39;q&#39;",
	/* throttled: until when (10 minutes after now) and why */
	"Resumes <time datetime=\"2026-12-04T16:10:00Z\" data-unix=\"1796400600\">"
	"2026-12-04 16:10:00 UTC (in 10m)</time>",
	"Limits: learned per_hour 50 after a throttle.",
	/* the windows' numbers, learned limit against the configured */
	"data-window=\"hour\" data-used=\"3\" data-limit=\"50\" data-remaining=\"47\"",
	"<span class=\"used\">3</span> of <span class=\"limit\">50</span> used, "
	"<span class=\"remaining\">47</span> left (configured 100)",
	"data-window=\"day\" data-used=\"7\" data-limit=\"200\" data-remaining=\"193\"",
	/* exhausted: the full bar and when the next unit frees (56 minutes) */
	"data-account=\"spare\" data-state=\"exhausted\"",
	"class=\"fill full\" style=\"width:100.0%\"",
	"Quota used up; the next unit is free <time datetime=\"2026-12-04T16:56:00Z\"",
	"(in 56m)",
	/* disabled: since when, why, no limit */
	"Disabled since <time datetime=\"2026-12-04T15:00:00Z\"",
	"535 5.7.8 authentication failed",
	"<span class=\"used\">0</span> sent, no limit",
	/* outside its send window: the state and until when */
	"data-account=\"night\" data-state=\"closed\"",
	"<span class=\"badge\">outside its send window</span>",
	"Waiting for its send window</span>. <span class=\"limits-why\">Limits: outside window "
	"until 08:00 Europe/Moscow.</span>",
	/* the charts: 24 hours, the totals, the limit line */
	"data-hours=\"24\" data-total=\"7\"",
	"data-hours=\"24\" data-total=\"9\"",
	"<title>per_hour limit 50</title>",
	"<title>configured per_hour 100</title>",
	"<rect class=\"over\"",		/* spare's 7 in an hour, over its 2 */
	"<title>15:00 UTC + 1 h: 3 sent</title>",
	/* the queue */
	"<dd data-key=\"total\">161</dd>", "<dd data-key=\"waiting\">150</dd>",
	"<dd data-key=\"held\">10</dd>", "<dd data-key=\"deferred\">4</dd>",
	"<dd data-key=\"oldest_age\">2h01m</dd>",
	"<dd data-key=\"drain_estimate\"><time datetime=\"2026-12-05T15:43:00Z\"",
	"(in 23h43m)",
	/* bounces, failures, the journal, the watcher, the unknown member */
	"<td>dead@example.org</td>", "550 &lt;dead@example.org&gt; no such user",
	"<td>6B135117881CF56A</td>", "550 5.1.1 &lt;gone@example.org&gt;: no such user",
	"<h2>Event journal and webhook</h2>", "<dd data-key=\"last_id\">42</dd>",
	"<h2>Bounce watcher</h2>", "<dd data-key=\"connected\">yes</dd>",
	"<dd data-key=\"last_success\"><time datetime=\"2026-12-04T15:59:00Z\"",
	"&lt;i&gt;none&lt;/i&gt;",
	"<h2>novelty</h2>",
};

/* What it must never hold. */
static const char *const never[] = {
	"<script", "<b>", "<i>", "javascript:", "src=\"http", "href=\"http", "(null)",
};

/* Elements that must be closed as often as opened. */
static const char *const pairs[][2] = {
	{ "<article", "</article>" }, { "<section", "</section>" }, { "<svg", "</svg>" },
	{ "<dl", "</dl>" }, { "<table", "</table>" }, { "<tr>", "</tr>" },
	{ "<figure>", "</figure>" }, { "<div", "</div>" }, { "<dd", "</dd>" },
	{ "<time", "</time>" }, { "<span", "</span>" }, { "<ul>", "</ul>" },
};

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* check_balanced: every pair above is balanced in page. */
static void
check_balanced(const char *page, const char *ctx)
{
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		CHECK(count(page, pairs[i][0]) == count(page, pairs[i][1]), "%s: %zu %s, %zu %s",
		    ctx, count(page, pairs[i][0]), pairs[i][0], count(page, pairs[i][1]),
		    pairs[i][1]);
}

static const struct { const char *in, *out; } escapes[] = {
	{ "", "" }, { "plain", "plain" }, { "a&b", "a&amp;b" }, { "<x>", "&lt;x&gt;" },
	{ "\"'", "&quot;&#39;" }, { "\xd0\xaf&", "\xd0\xaf&amp;" },
	{ "&amp;", "&amp;amp;" },
};

/* render: statuspage_render of the JSON texts (extra may be NULL). */
static char *
render(const char *status, const char *extra)
{
	json_error_t e;
	json_t *st = json_loads(status, 0, &e), *ex = extra ? json_loads(extra, 0, &e) : NULL;
	size_t len = 0;
	char *page;

	CHECK(st != NULL, "fixture: %s (line %d)", e.text, e.line);
	page = statuspage_render(st, ex, (time_t)NOW, &len);
	CHECK(page != NULL && strlen(page) == len, "length %zu", len);
	json_decref(st);
	json_decref(ex);
	return page;
}

int
main(void)
{
	char *page, *s;

	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		s = statuspage_escape(escapes[i].in);
		CHECK_STR(s, escapes[i].out, escapes[i].in);
		free(s);
	}

	page = render(fixture_status, fixture_extra);
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		CHECK(strstr(page, must[i]) != NULL, "page lacks: %s", must[i]);
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		CHECK(strstr(page, never[i]) == NULL, "page holds: %s", never[i]);
	CHECK(count(page, "<article") == 4, "%zu accounts", count(page, "<article"));
	CHECK(count(page, "<rect") == 48, "%zu bars", count(page, "<rect"));
	check_balanced(page, "full");
	if (t_fail)
		fprintf(stderr, "---- page ----\n%s\n", page);
	free(page);

	/* Missing members are tolerated: no history, no journal, empty or odd status. */
	page = render(fixture_status, NULL);
	CHECK(strstr(page, "The event journal is off") != NULL, "no journal said");
	CHECK(strstr(page, "No bounce found") != NULL, "no bounces said");
	CHECK(strstr(page, "<svg") == NULL, "a chart without history");
	check_balanced(page, "no extra");
	free(page);
	static const char *const odd[] = {
		"{}", "{\"accounts\":[{}]}", "{\"accounts\":[1,\"x\",null]}",
		"{\"accounts\":[{\"name\":\"a\",\"state\":\"new\\\"state\",\"hour\":5}],"
		"\"queue\":{\"recipients\":3}}",
	};
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		page = render(odd[i], "{\"history\":{\"accounts\":[{\"name\":\"a\","
		    "\"sends\":[1,2]}]},\"failures\":[],\"bounces\":{}}");
		CHECK(strstr(page, "</html>") != NULL, "%s: page ends", odd[i]);
		CHECK(strstr(page, "state\"state") == NULL, "%s: quote unescaped", odd[i]);
		check_balanced(page, odd[i]);
		free(page);
	}
	page = render("{\"accounts\":[],\"queue\":{\"recipients\":3,\"drain_estimate\":null}}",
	    NULL);
	CHECK(strstr(page, "no estimate: no account can send") != NULL, "no drain estimate");
	CHECK(strstr(page, "No account is configured") != NULL, "no account said");
	free(page);
	T_DONE();
}

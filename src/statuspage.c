/*
 * statuspage: the HTML status page (see statuspage.h). Written with stdio into a
 * memory stream: one function per section, each reading only the JSON it is given
 * and tolerating members that are missing (an older or newer relayd's status).
 * Numbers and states are also in data-* attributes so a test (or a scraper) can read
 * them from the DOM without parsing the prose.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "statuspage.h"

/* The stylesheet: one light palette, states by colour, no external font. */
static const char statuspage_css[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1160px;"
	"padding:12px 20px;color:#1d232a;background:#f4f6f8}"
	"h1{font-size:22px;margin:4px 0}h2{font-size:17px;margin:22px 0 8px}"
	"h3{font-size:16px;margin:0 0 6px}.meta,.note{color:#5a6570;font-size:13px}"
	"a{color:#1f5fa8}"
	".account{background:#fff;border:1px solid #d7dde3;border-left:6px solid #8a96a3;"
	"border-radius:6px;padding:10px 14px;margin:0 0 12px}"
	".state-ready{border-left-color:#2e9d5b}.state-throttled,.state-backoff"
	"{border-left-color:#e08a00}.state-exhausted{border-left-color:#d0392b}"
	".state-disabled{border-left-color:#6b2f8f}.state-closed{border-left-color:#3b7dd8}"
	".badge{display:inline-block;font-size:12px;font-weight:600;padding:1px 8px;"
	"border-radius:10px;color:#fff;background:#8a96a3;vertical-align:middle}"
	".state-ready .badge{background:#2e9d5b}.state-throttled .badge,.state-backoff "
	".badge{background:#e08a00}.state-exhausted .badge{background:#d0392b}"
	".state-disabled .badge{background:#6b2f8f}.state-closed .badge{background:#3b7dd8}"
	".provider{color:#5a6570;font-weight:400;font-size:13px}"
	".why{margin:2px 0 8px}.reply{font-family:monospace;font-size:12px;color:#5a6570;"
	"overflow-wrap:anywhere}"
	".cols{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}"
	".info{flex:1 1 380px;min-width:0}.window{margin:0 0 8px}"
	".track{height:14px;background:#e6eaee;border-radius:7px;overflow:hidden}"
	".fill{height:100%;background:#2e9d5b}.fill.high{background:#e08a00}"
	".fill.full{background:#d0392b}.nums{font-size:13px;margin-top:2px}"
	"figure{margin:0;flex:1 1 560px}figure svg{width:100%;height:auto;display:block}"
	"figcaption{font-size:12px;color:#5a6570}"
	"svg text{font:11px system-ui,sans-serif;fill:#5a6570}"
	"svg .sent{fill:#3b7dd8}svg .over{fill:#d0392b}svg .limit{stroke:#d0392b;"
	"stroke-width:1.5;stroke-dasharray:6 4}svg .conf{stroke:#8a96a3;stroke-width:1;"
	"stroke-dasharray:2 3}svg .axis{stroke:#b8c1ca;stroke-width:1}"
	"table{border-collapse:collapse;background:#fff;width:100%;font-size:13px}"
	"th,td{border:1px solid #d7dde3;padding:3px 8px;text-align:left;vertical-align:top}"
	"th{background:#eef1f4}td.text{max-width:480px;overflow-wrap:anywhere}"
	"dl.kv{display:grid;grid-template-columns:max-content auto;gap:2px 16px;"
	"background:#fff;border:1px solid #d7dde3;border-radius:6px;padding:8px 14px;"
	"margin:0}dl.kv dt{color:#5a6570}dl.kv dd{margin:0}";

/* statuspage_esc: s to fp escaped for HTML text and quoted attributes. */
static void
statuspage_esc(FILE *fp, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&':	fputs("&amp;", fp); break;
		case '<':	fputs("&lt;", fp); break;
		case '>':	fputs("&gt;", fp); break;
		case '"':	fputs("&quot;", fp); break;
		case '\'':	fputs("&#39;", fp); break;
		default:	fputc(*s, fp); break;
		}
	}
}

/* statuspage_stream: a memory stream into *buf; like the x* wrappers, never NULL. */
static FILE *
statuspage_stream(char **buf, size_t *len)
{
	FILE *fp = open_memstream(buf, len);

	if (fp == NULL) {
		fprintf(stderr, "relayd: fatal: open_memstream failed\n");
		abort();
	}
	return fp;
}

char *
statuspage_escape(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = statuspage_stream(&buf, &len);

	statuspage_esc(fp, s);
	fclose(fp);
	return buf;
}

/* statuspage_str: member k of o if it is a non-empty string, else NULL. */
static const char *
statuspage_str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* statuspage_int: member k of o if it is an integer (*v), else 0 returned. */
static int
statuspage_int(const json_t *o, const char *k, long long *v)
{
	const json_t *j = json_object_get(o, k);

	if (!json_is_integer(j))
		return 0;
	*v = json_integer_value(j);
	return 1;
}

/* statuspage_span: a duration for people: "45s", "12m", "3h05m", "2d04h". */
static void
statuspage_span(long long d, char *buf, size_t len)
{
	if (d < 0)
		d = -d;
	if (d < 60)
		snprintf(buf, len, "%llds", d);
	else if (d < 3600)
		snprintf(buf, len, "%lldm", (d + 30) / 60 > 59 ? 59 : (d + 30) / 60);
	else if (d < 86400)
		snprintf(buf, len, "%lldh%02lldm", d / 3600, d % 3600 / 60);
	else
		snprintf(buf, len, "%lldd%02lldh", d / 86400, d % 86400 / 3600);
}

/*
 * statuspage_when: wall time t as a <time> element: "2026-12-05 00:12:04 UTC (in
 * 56m)" or "(3m ago)".
 */
static void
statuspage_when(FILE *fp, long long t, time_t now)
{
	time_t tt = (time_t)t;
	char iso[32], human[32], span[32];
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	strftime(human, sizeof(human), "%Y-%m-%d %H:%M:%S UTC", &tm);
	statuspage_span(t - (long long)now, span, sizeof(span));
	fprintf(fp, "<time datetime=\"%s\" data-unix=\"%lld\">%s (%s%s%s)</time>", iso, t,
	    human, t >= (long long)now ? "in " : "", span, t >= (long long)now ? "" : " ago");
}

/* statuspage_is_time_key: does a member of this name hold a wall time (UNIX seconds)? */
static int
statuspage_is_time_key(const char *k)
{
	static const char *const words[] = { "time", "since", "until", "_at", "last_success",
	    "last_ok", "last_seen", "estimate", "next_free", "started" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(k, words[i]) != NULL)
			return 1;
	return 0;
}

/* statuspage_dd: <dt>label</dt><dd data-key="k"> */
static void
statuspage_dd(FILE *fp, const char *label, const char *k)
{
	fputs("<dt>", fp);
	statuspage_esc(fp, label);
	fputs("</dt><dd data-key=\"", fp);
	statuspage_esc(fp, k);
	fputs("\">", fp);
}

static void statuspage_value(FILE *, const char *, const json_t *, time_t, int);

/* statuspage_kv: an object as a definition list (member name, value), in its order. */
static void
statuspage_kv(FILE *fp, const json_t *o, time_t now, int depth)
{
	const char *k;
	json_t *v;

	fputs("<dl class=\"kv\">", fp);
	json_object_foreach((json_t *)o, k, v) {
		statuspage_dd(fp, k, k);
		statuspage_value(fp, k, v, now, depth + 1);
		fputs("</dd>", fp);
	}
	fputs("</dl>", fp);
}

/*
 * statuspage_value: any JSON value for people (the sections this page does not know
 * by name: the journal's, the bounce watcher's, ...): a UNIX time under a time-like
 * name as a time, "age" in seconds as a span, objects as nested lists.
 */
static void
statuspage_value(FILE *fp, const char *key, const json_t *v, time_t now, int depth)
{
	char span[32];
	size_t i;
	json_t *e;

	switch (json_typeof(v)) {
	case JSON_NULL:
		fputs("&ndash;", fp);
		break;
	case JSON_TRUE:
		fputs("yes", fp);
		break;
	case JSON_FALSE:
		fputs("no", fp);
		break;
	case JSON_INTEGER:
		if (key != NULL && json_integer_value(v) > 1000000000LL &&
		    statuspage_is_time_key(key))
			statuspage_when(fp, json_integer_value(v), now);
		else if (key != NULL && strstr(key, "age") != NULL) {
			statuspage_span(json_integer_value(v), span, sizeof(span));
			fprintf(fp, "%s", span);
		} else
			fprintf(fp, "%lld", (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		fprintf(fp, "%g", json_real_value(v));
		break;
	case JSON_STRING:
		statuspage_esc(fp, json_string_value(v));
		break;
	case JSON_ARRAY:
		if (json_array_size(v) == 0) {
			fputs("none", fp);
			break;
		}
		fputs(depth > 3 ? "[&hellip;]" : "<ul>", fp);
		json_array_foreach((json_t *)v, i, e) {
			if (depth > 3)
				break;
			fputs("<li>", fp);
			statuspage_value(fp, key, e, now, depth + 1);
			fputs("</li>", fp);
		}
		if (depth <= 3)
			fputs("</ul>", fp);
		break;
	case JSON_OBJECT:
		if (depth > 3)
			fputs("{&hellip;}", fp);
		else
			statuspage_kv(fp, v, now, depth);
		break;
	}
}

/* statuspage_state_text: what an account's state says, in words. */
static const char *
statuspage_state_text(const char *state)
{
	static const struct { const char *state, *text; } t[] = {
		{ "ready", "ready" }, { "throttled", "throttled by the provider" },
		{ "backoff", "backing off after an error" },
		{ "exhausted", "quota used up" }, { "disabled", "disabled" },
		{ "closed", "outside its send window" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].state, state) == 0)
			return t[i].text;
	return state;
}

/*
 * statuspage_why: the sentence under an account's name: until when and why it does
 * not send, and the limits' story (learned limits, outside its window).
 */
static void
statuspage_why(FILE *fp, const json_t *a, const char *state, time_t now)
{
	const char *why = statuspage_str(a, "why"), *lim = statuspage_str(a, "limits_why");
	long long t;

	fputs("<p class=\"why\">", fp);
	if ((strcmp(state, "throttled") == 0 || strcmp(state, "backoff") == 0) &&
	    statuspage_int(a, "until", &t) && t > 0) {
		fputs("<span class=\"until\">Resumes ", fp);
		statuspage_when(fp, t, now);
		fputs("</span>", fp);
	} else if (strcmp(state, "exhausted") == 0 && statuspage_int(a, "next_free", &t)) {
		fputs("<span class=\"until\">Quota used up; the next unit is free ", fp);
		statuspage_when(fp, t, now);
		fputs("</span>", fp);
	} else if (strcmp(state, "disabled") == 0) {
		fputs("<span class=\"until\">Disabled", fp);
		if (statuspage_int(a, "disabled_since", &t) && t > 0) {
			fputs(" since ", fp);
			statuspage_when(fp, t, now);
		}
		fputs("; <code>relayctl enable</code> once it is fixed</span>", fp);
	} else if (strcmp(state, "closed") == 0)
		fputs("<span class=\"until\">Waiting for its send window</span>", fp);
	else
		fputs("<span class=\"until\">Ready to send</span>", fp);
	if (why != NULL) {
		fputs(": <span class=\"reason\">", fp);
		statuspage_esc(fp, why);
		fputs("</span>", fp);
	}
	fputs(".", fp);
	if (lim != NULL) {
		fputs(" <span class=\"limits-why\">Limits: ", fp);
		statuspage_esc(fp, lim);
		fputs(".</span>", fp);
	}
	fputs("</p>", fp);
}

/*
 * statuspage_window: one quota window's bar: used of limit, what is left, and when
 * the next unit frees when it is full (next_free: the account's, or -1).
 */
static void
statuspage_window(FILE *fp, const char *name, const json_t *w, long long conf,
    long long next_free, time_t now)
{
	long long used = 0, limit = 0, left = 0;
	int has_limit = statuspage_int(w, "limit", &limit) && limit > 0;
	double pct;

	statuspage_int(w, "used", &used);
	if (has_limit && !statuspage_int(w, "remaining", &left))
		left = used < limit ? limit - used : 0;
	pct = has_limit ? (used >= limit ? 100.0 : 100.0 * (double)used / (double)limit) : 0;
	fprintf(fp, "<div class=\"window\" data-window=\"%s\" data-used=\"%lld\"", name, used);
	if (has_limit)
		fprintf(fp, " data-limit=\"%lld\" data-remaining=\"%lld\"", limit, left);
	fprintf(fp, "><strong>%s</strong><div class=\"track\"><div class=\"fill%s\" "
	    "style=\"width:%.1f%%\"></div></div><div class=\"nums\">", strcmp(name, "hour") ==
	    0 ? "Last hour" : "Last 24 hours", pct >= 100 ? " full" : pct >= 75 ? " high" :
	    "", pct);
	if (!has_limit) {
		fprintf(fp, "<span class=\"used\">%lld</span> sent, no limit</div></div>", used);
		return;
	}
	fprintf(fp, "<span class=\"used\">%lld</span> of <span class=\"limit\">%lld</span> "
	    "used, <span class=\"remaining\">%lld</span> left", used, limit, left);
	if (conf > 0 && conf != limit)
		fprintf(fp, " (configured %lld)", conf);
	if (left == 0 && next_free > 0) {
		fputs("; next unit free ", fp);
		statuspage_when(fp, next_free, now);
	}
	fputs("</div></div>", fp);
}

/* statuspage_history_of: the "sends" array of account name in history, or NULL. */
static const json_t *
statuspage_history_of(const json_t *history, const char *name)
{
	size_t i;
	json_t *h;

	json_array_foreach(json_object_get(history, "accounts"), i, h) {
		const char *n = json_string_value(json_object_get(h, "name"));

		if (n != NULL && strcmp(n, name) == 0)
			return json_object_get(h, "sends");
	}
	return NULL;
}

/*
 * statuspage_chart: an account's sends per hour over the last hours (an inline SVG
 * bar chart) against its hourly limit (the effective one, dashed red; the configured
 * one dotted grey when the planner has learned a lower one). Each bar has a <title>.
 */
static void
statuspage_chart(FILE *fp, const json_t *sends, long long end, long long limit,
    long long conf, const json_t *day)
{
	const double W = 600, H = 120, L = 34, R = 8, T = 8, B = 20;
	const double pw = W - L - R, ph = H - T - B;
	size_t n = json_array_size(sends), i;
	long long top = 1, total = 0, dlimit = 0;
	double bw;
	json_t *v;

	if (n == 0)
		return;
	bw = pw / (double)n;
	json_array_foreach((json_t *)sends, i, v) {
		if (json_integer_value(v) > top)
			top = json_integer_value(v);
		total += json_integer_value(v);
	}
	if (limit > top)
		top = limit;
	if (conf > top)
		top = conf;
	top += (top + 9) / 10;		/* headroom above the highest line */
	fprintf(fp, "<figure><svg class=\"chart\" role=\"img\" viewBox=\"0 0 %.0f %.0f\" "
	    "xmlns=\"http://www.w3.org/2000/svg\" data-hours=\"%zu\" data-total=\"%lld\">",
	    W, H, n, total);
	fprintf(fp, "<line class=\"axis\" x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\"/>",
	    L, T + ph, W - R, T + ph);
	fprintf(fp, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">0</text>"
	    "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%lld</text>", L - 4, T + ph + 4,
	    L - 4, T + 8, top);
	json_array_foreach((json_t *)sends, i, v) {
		long long c = json_integer_value(v);
		double h = ph * (double)c / (double)top;
		/* bucket i covers the hour ending (n - 1 - i) hours before end */
		time_t from = (time_t)(end - (long long)(n - i) * 3600);
		char at[16];
		struct tm tm;

		gmtime_r(&from, &tm);
		strftime(at, sizeof(at), "%H:%M", &tm);
		fprintf(fp, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
		    "height=\"%.1f\" data-count=\"%lld\"><title>%s UTC + 1 h: %lld sent</title>"
		    "</rect>", limit > 0 && c > limit ? "over" : "sent", L + bw * (double)i + 1,
		    T + ph - h, bw - 2, h, c, at, c);
		if (i % 6 == 0)
			fprintf(fp, "<text x=\"%.1f\" y=\"%.0f\">%s</text>", L + bw * (double)i,
			    H - 6, at);
	}
	fprintf(fp, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">now</text>", W - R,
	    H - 6);
	if (conf > 0 && conf != limit)
		fprintf(fp, "<line class=\"conf\" x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\">"
		    "<title>configured per_hour %lld</title></line>", L, T + ph - ph *
		    (double)conf / (double)top, W - R, T + ph - ph * (double)conf / (double)top,
		    conf);
	if (limit > 0) {
		double y = T + ph - ph * (double)limit / (double)top;

		fprintf(fp, "<line class=\"limit\" x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" "
		    "y2=\"%.1f\"><title>per_hour limit %lld</title></line><text x=\"%.0f\" "
		    "y=\"%.1f\">limit %lld/h</text>", L, y, W - R, y, limit, L + 4, y - 3, limit);
	}
	fprintf(fp, "</svg><figcaption>Sent per hour, last %zu hours (UTC): %lld in all",
	    n, total);
	if (statuspage_int(day, "limit", &dlimit) && dlimit > 0)
		fprintf(fp, "; day limit %lld", dlimit);
	if (limit > 0)
		fprintf(fp, "; dashed line: hour limit %lld", limit);
	fputs(".</figcaption></figure>", fp);
}

/* statuspage_account: one account's card: name, state and why, bars, chart. */
static void
statuspage_account(FILE *fp, const json_t *a, const json_t *history, time_t now)
{
	const char *name = statuspage_str(a, "name"), *state = statuspage_str(a, "state");
	const char *prov = statuspage_str(a, "provider"), *reply = statuspage_str(a,
	    "last_reply");
	const json_t *conf = json_object_get(a, "configured"), *sends;
	long long next_free = -1, ch = 0, cd = 0, lim = 0;

	if (name == NULL)
		name = "?";
	if (state == NULL)
		state = "unknown";
	statuspage_int(a, "next_free", &next_free);
	statuspage_int(conf, "per_hour", &ch);
	statuspage_int(conf, "per_day", &cd);
	fprintf(fp, "<article class=\"account state-%s\" data-account=\"", strcmp(state,
	    "unknown") == 0 || strspn(state, "abcdefghijklmnopqrstuvwxyz") != strlen(state) ?
	    "unknown" : state);
	statuspage_esc(fp, name);
	fputs("\" data-state=\"", fp);
	statuspage_esc(fp, state);
	fputs("\"><h3><span class=\"name\">", fp);
	statuspage_esc(fp, name);
	fputs("</span> ", fp);
	if (prov != NULL) {
		fputs("<span class=\"provider\">", fp);
		statuspage_esc(fp, prov);
		fputs("</span> ", fp);
	}
	fputs("<span class=\"badge\">", fp);
	statuspage_esc(fp, statuspage_state_text(state));
	fputs("</span></h3>", fp);
	fputs("<div class=\"cols\"><div class=\"info\">", fp);
	statuspage_why(fp, a, state, now);
	statuspage_window(fp, "hour", json_object_get(a, "hour"), ch, next_free, now);
	statuspage_window(fp, "day", json_object_get(a, "day"), cd, next_free, now);
	if (reply != NULL) {
		fputs("<p class=\"reply\">Last reply: ", fp);
		statuspage_esc(fp, reply);
		fputs("</p>", fp);
	}
	fputs("</div>", fp);
	if ((sends = statuspage_history_of(history, name)) != NULL) {
		long long end = (long long)now;

		statuspage_int(history, "end", &end);
		statuspage_int(json_object_get(a, "hour"), "limit", &lim);
		statuspage_chart(fp, sends, end, lim, ch, json_object_get(a, "day"));
	}
	fputs("</div></article>", fp);
}

/* The queue's members this page names, in this order; any other is shown as it comes. */
static const struct { const char *key, *label; } statuspage_queue_fields[] = {
	{ "total", "Messages queued" }, { "waiting", "Waiting" },
	{ "deferred", "Deferred (retrying after a failure)" }, { "held", "Held" },
	{ "inflight", "Being sent" }, { "recipients", "Recipients to send" },
	{ "oldest", "Oldest message" }, { "oldest_age", "Oldest message's age" },
	{ "drain_estimate", "Drained by" }, { "stalled_since", "Stalled since" },
	{ "stalled_why", "Stalled because" }, { "quarantined", "Quarantined files" },
	{ "loading", "Loading the spool" },
};

/* statuspage_queue_label: the label of queue member k, or NULL. */
static const char *
statuspage_queue_label(const char *k)
{
	for (size_t i = 0; i < sizeof(statuspage_queue_fields) /
	    sizeof(statuspage_queue_fields[0]); i++)
		if (strcmp(k, statuspage_queue_fields[i].key) == 0)
			return statuspage_queue_fields[i].label;
	return NULL;
}

/* statuspage_queue: the queue's counts, its oldest message, the drain estimate. */
static void
statuspage_queue(FILE *fp, const json_t *q, time_t now)
{
	const char *k;
	long long rcpts = 0;
	json_t *val;

	statuspage_int(q, "recipients", &rcpts);
	fputs("<section id=\"queue\"><h2>Queue</h2><dl class=\"kv\">", fp);
	for (size_t i = 0; i < sizeof(statuspage_queue_fields) /
	    sizeof(statuspage_queue_fields[0]); i++) {
		k = statuspage_queue_fields[i].key;
		val = json_object_get(q, k);
		if (strcmp(k, "drain_estimate") == 0) {
			statuspage_dd(fp, statuspage_queue_fields[i].label, k);
			if (json_is_integer(val))
				statuspage_when(fp, json_integer_value(val), now);
			else
				fputs(rcpts > 0 ? "no estimate: no account can send what is "
				    "waiting" : "nothing to send", fp);
			fputs("</dd>", fp);
		} else if (val != NULL && !json_is_null(val)) {
			statuspage_dd(fp, statuspage_queue_fields[i].label, k);
			statuspage_value(fp, k, val, now, 1);
			fputs("</dd>", fp);
		}
	}
	json_object_foreach((json_t *)q, k, val) {
		if (statuspage_queue_label(k) != NULL || json_is_null(val))
			continue;
		statuspage_dd(fp, k, k);
		statuspage_value(fp, k, val, now, 1);
		fputs("</dd>", fp);
	}
	fputs("</dl></section>", fp);
}

/* statuspage_cell: member k of o as a table cell (class text: free text, wraps). */
static void
statuspage_cell(FILE *fp, const json_t *o, const char *k, time_t now)
{
	const json_t *v = json_object_get(o, k);

	fputs(json_is_string(v) && json_string_length(v) > 40 ? "<td class=\"text\">" :
	    "<td>", fp);
	if (json_is_string(v) && strcmp(k, "time") == 0) {	/* ISO already */
		statuspage_esc(fp, json_string_value(v));
	} else
		statuspage_value(fp, k, v != NULL ? v : json_null(), now, 2);
	fputs("</td>", fp);
}

/*
 * statuspage_table: the first STATUSPAGE_ROWS objects of list as a table of the
 * columns cols (member names; heads their headings), or empty, when list is empty.
 */
static void
statuspage_table(FILE *fp, const char *id, const json_t *list, const char *const *cols,
    const char *const *heads, const char *empty, time_t now)
{
	size_t i;
	json_t *o;

	if (json_array_size(list) == 0) {
		fprintf(fp, "<p class=\"note\" id=\"%s\">%s</p>", id, empty);
		return;
	}
	fprintf(fp, "<table id=\"%s\"><tr>", id);
	for (size_t c = 0; cols[c] != NULL; c++)
		fprintf(fp, "<th>%s</th>", heads[c]);
	fputs("</tr>", fp);
	json_array_foreach((json_t *)list, i, o) {
		if (i == STATUSPAGE_ROWS)
			break;
		fputs("<tr>", fp);
		for (size_t c = 0; cols[c] != NULL; c++)
			statuspage_cell(fp, o, cols[c], now);
		fputs("</tr>", fp);
	}
	fputs("</table>", fp);
}

/* statuspage_recent: the last bounces (bounce store) and failures (journal). */
static void
statuspage_recent(FILE *fp, const json_t *extra, time_t now)
{
	static const char *const bcols[] = { "time", "recipient", "kind", "status", "reason",
	    "account", "diagnostic", NULL };
	static const char *const bheads[] = { "Found", "Recipient", "Kind", "Status",
	    "Reason", "Account", "Diagnostic", NULL };
	static const char *const fcols[] = { "time", "queue_id", "recipient", "account",
	    "reason", "reply", NULL };
	static const char *const fheads[] = { "When", "Queue id", "Recipient", "Account",
	    "Why", "Reply", NULL };
	const json_t *failures = json_object_get(extra, "failures");

	fputs("<section id=\"recent\"><h2>Last bounces</h2>", fp);
	statuspage_table(fp, "bounces", json_object_get(extra, "bounces"), bcols, bheads,
	    "No bounce found in the watched mailboxes.", now);
	fputs("<h2>Last failures</h2>", fp);
	if (failures == NULL)
		fputs("<p class=\"note\" id=\"failures\">The event journal is off (events = { "
		    "... } in relay.conf), so failures are not listed here; the log has them "
		    "(status=failed).</p>", fp);
	else
		statuspage_table(fp, "failures", failures, fcols, fheads,
		    "No recipient failed in the journal's time.", now);
	fputs("</section>", fp);
}

/* statuspage_section_title: the heading of a status member shown as it comes. */
static const char *
statuspage_section_title(const char *k)
{
	if (strcmp(k, "events") == 0)
		return "Event journal and webhook";
	if (strstr(k, "watch") != NULL || strstr(k, "imap") != NULL ||
	    strstr(k, "bounce") != NULL)
		return "Bounce watcher";
	return NULL;
}

char *
statuspage_render(const json_t *status, const json_t *extra, time_t now, size_t *len)
{
	const json_t *accts = json_object_get(status, "accounts");
	const json_t *history = json_object_get(extra, "history");
	char *buf = NULL, iso[32];
	FILE *fp = statuspage_stream(&buf, len);
	struct tm tm;
	const char *k;
	json_t *v;
	size_t i;

	gmtime_r(&now, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fprintf(fp, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta http-equiv=\"refresh\" content=\"%d\"><meta name=\"viewport\" content=\""
	    "width=device-width, initial-scale=1\"><title>relayd status</title><style>%s"
	    "</style></head>\n<body><header><h1>relayd status</h1><p class=\"meta\">As of "
	    "<time id=\"now\" data-unix=\"%lld\">%s</time>; this page reloads every %d s. "
	    "The same as JSON: <a href=\"/status.json\">/status.json</a>; metrics: "
	    "<a href=\"/metrics\">/metrics</a>.</p></header>\n", STATUSPAGE_REFRESH,
	    statuspage_css, (long long)now, iso, STATUSPAGE_REFRESH);
	fputs("<section id=\"accounts\"><h2>Accounts</h2>", fp);
	if (json_array_size(accts) == 0)
		fputs("<p class=\"note\">No account is configured.</p>", fp);
	json_array_foreach((json_t *)accts, i, v)
		statuspage_account(fp, v, history, now);
	fputs("</section>\n", fp);
	statuspage_queue(fp, json_object_get(status, "queue"), now);
	fputs("\n", fp);
	statuspage_recent(fp, extra, now);
	fputs("\n", fp);
	/* The rest of status as it comes: the journal's, the watcher's, newer members. */
	json_object_foreach((json_t *)status, k, v) {
		const char *title = statuspage_section_title(k);

		if (strcmp(k, "accounts") == 0 || strcmp(k, "queue") == 0)
			continue;
		fputs("<section class=\"other\" data-key=\"", fp);
		statuspage_esc(fp, k);
		fputs("\"><h2>", fp);
		statuspage_esc(fp, title != NULL ? title : k);
		fputs("</h2>", fp);
		statuspage_value(fp, k, v, now, 1);
		fputs("</section>\n", fp);
	}
	fputs("</body></html>\n", fp);
	fclose(fp);
	return buf;
}

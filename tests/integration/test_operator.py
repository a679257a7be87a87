"""The operator's view (issue 17): the drain estimate, the log lines of an account's state
changes (quota used up, all accounts used up, a throttle ending) with times a person
reads, and the metrics an alert can be written on, checked against relayctl status. Real
relayd processes and the provider stand-in (tests/provider.py)."""

import re
import time
import urllib.request

import pytest

from conftest import free_port, wait_until
from test_quota import (FIRST, LOG_TIME, SECOND, account, log_time, quota_relay, submit_all,
                        two_accounts, wait_state)


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        assert r.status == 200
        return r.read().decode()


def samples(text):
    """{'name{labels}': 'value'} of a scrape."""
    return dict(re.findall(r"^(relayd_\S+) (\S+)$", text, re.M))


def families(text):
    """{name: (help, type)} of a scrape; every sample's family must have both."""
    helps = dict(re.findall(r"^# HELP (\S+) (.+)$", text, re.M))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    fams = {n: (helps.get(n), types.get(n)) for n in set(helps) | set(types)}
    for name in samples(text):
        base = name.split("{")[0]
        assert base in fams and all(fams[base]), "%s: no HELP or TYPE in\n%s" % (name, text)
    return fams


@pytest.mark.deadline(90)
def test_quota_used_up_is_logged_and_the_drain_waits_for_the_window(make_provider,
                                                                   make_relay):
    """first: 2 an hour, second: 1 an hour, 5 messages. 3 go at once; the log says when
    each account used its hour up and that all are used up, with the ISO 8601 time the
    next unit frees and "in 60m"; status, its text and the metric say the other 2 go in
    an hour (by the windows, not spread), and the account state gauge says exhausted."""
    p1 = make_provider(user=FIRST)
    p2 = make_provider(user=SECOND)
    port = free_port()
    r = quota_relay(make_relay, lambda r: two_accounts(
        r, p1, p2, {"per_hour": 2, "count": "messages"},
        second_limits={"per_hour": 1, "count": "messages"}),
        metrics_listen="127.0.0.1:%d" % port)
    submit_all(r, range(1, 6))
    wait_until(lambda: len(p1.messages) + len(p2.messages) >= 3, 20, "3 messages")
    m = r.wait_log(r"account=first status=exhausted window=hour used=2/2 next_free=" + LOG_TIME)
    assert abs(log_time(m.group(1)) - (time.time() + 3600)) < 30, m.group(0)
    assert re.search(r" in=(59|60)m$", m.group(0)), m.group(0)
    m = r.wait_log(r"account=second status=exhausted window=hour used=1/1 next_free=")
    m = r.wait_log(r"quota: all accounts used up \(first hour 2/2, second hour 1/1\): mail "
                   r"waits; next_free=" + LOG_TIME)
    assert abs(log_time(m.group(1)) - (time.time() + 3600)) < 30, m.group(0)
    assert len(r.log_lines(r"quota: all accounts used up")) == 1

    st = r.status()
    q = st["queue"]
    assert q["drain"] == "at" and q["drain_note"] is None, q
    assert abs(q["drain_estimate"] - (time.time() + 3600)) < 30, q
    assert q["oldest"] is not None and q["oldest"] <= time.time(), q
    txt = r.ctl("status").stdout
    assert re.search(r"drains in (59|60)m", txt), txt
    v = samples(scrape(port))
    assert 3500 < float(v["relayd_queue_drain_seconds"]) <= 3602, v
    for name in ("first", "second"):
        assert v['relayd_account_state{account="%s",state="exhausted"}' % name] == "1", v
        assert v['relayd_account_state{account="%s",state="ready"}' % name] == "0", v
    assert v['relayd_quota_remaining{account="first",window="hour"}'] == "0"
    assert v['relayd_quota_limit{account="first",window="hour",kind="configured"}'] == "2"
    assert v['relayd_quota_limit{account="first",window="hour",kind="effective"}'] == "2"
    assert float(v["relayd_queue_oldest_seconds"]) >= 0


@pytest.mark.deadline(60)
def test_held_mail_never_drains(make_provider, make_relay):
    """per_hour 1, three messages: one goes, the other two are held. The estimate is not
    a time: null in JSON with why, "never" in the text, +Inf in the metric (before: a
    drain time for mail that will not move)."""
    p = make_provider()
    port = free_port()
    r = quota_relay(make_relay, lambda r: [account(
        r, p, limits={"per_hour": 1, "count": "messages"})],
        metrics_listen="127.0.0.1:%d" % port)
    submit_all(r, range(1, 4))
    p.wait_for(1)
    wait_until(lambda: r.status()["queue"]["waiting"] == 2, 10, "two waiting")
    assert r.status()["queue"]["drain"] == "at"
    held = r.ctl("queue", "hold", "--all")
    assert held.returncode == 0, held
    q = r.status()["queue"]
    assert q["drain_estimate"] is None and q["drain"] == "never", q
    assert q["drain_note"] == "all queued mail is held", q
    txt = r.ctl("status").stdout
    assert "drains never as things are (all queued mail is held)" in txt, txt
    assert samples(scrape(port))["relayd_queue_drain_seconds"] == "+Inf"


@pytest.mark.deadline(60)
def test_throttle_and_its_end_are_logged_with_readable_times(make_provider, make_relay):
    """A 553 throttles the account for 4 s: the log gives until= as ISO 8601 with "in=4s"
    (before: until=1796411059.708 on relayd's own clock), status shows the until in the
    text (UNTIL column) and the state gauge says throttled; when it is over the log says
    the throttle ended and the account is ready again."""
    p = make_provider()
    port = free_port()
    p.add_rule("mail", "553 5.7.1 Slow down", times=1)
    r = quota_relay(make_relay, lambda r: [account(
        r, p, backoff={"initial": 4, "max": 4}, limits={"per_hour": 100})],
        metrics_listen="127.0.0.1:%d" % port)
    t0 = time.time()
    submit_all(r, [1])
    a = wait_state(r, "main", "throttled")
    m = r.wait_log(r"account=main status=throttled until=" + LOG_TIME + r" \(553 5\.7\.1")
    until = log_time(m.group(1))
    assert t0 + 2 < until < time.time() + 5, (m.group(0), t0)
    assert abs(a["until"] - until) <= 1, (a, m.group(0))
    assert re.search(r" in=[1-5]s ", m.group(0)), m.group(0)
    v = samples(scrape(port))
    assert v['relayd_account_state{account="main",state="throttled"}'] == "1", v
    line = [l for l in r.ctl("status").stdout.splitlines() if l.startswith("main ")]
    assert len(line) == 1 and re.search(r"\bthrottled\b.* in \ds ", line[0]), line
    p.wait_for(1, timeout=20)
    m = r.wait_log(r"account=main status=ready \(the throttle ended at=" + LOG_TIME)
    assert abs(log_time(m.group(1)) - until) < 0.01, m.group(0)
    r.wait_queue(0)
    v = samples(scrape(port))
    assert v['relayd_account_state{account="main",state="ready"}'] == "1", v


def by_name(st, name):
    return [a for a in st["accounts"] if a["name"] == name][0]


@pytest.mark.deadline(60)
def test_metric_families_units_and_values_against_status(make_relay, provider):
    """Every family has HELP and TYPE; counters end in _total; one message to two
    recipients, one refused: messages and recipients counted apart and in agreement
    (before: sent counted messages, failed and deferred recipients); the account's
    state, used and limits as relayctl status --json says; the build's version."""
    port = free_port()
    relay = make_relay(provider, start=False, metrics_listen="127.0.0.1:%d" % port)
    relay.settings["accounts"][0]["limits"] = {"per_hour": 50, "per_day": 500,
                                               "count": "recipients"}
    relay.write_config()
    relay.start()
    provider.refuse_rcpt("dead@example.org")
    relay.submit(b"From: a@crm.example\r\nSubject: x\r\n\r\nhi\r\n", "app@crm.example",
                 ["b@example.org", "dead@example.org"])
    provider.wait_for(1)
    relay.wait_queue(0)
    text = scrape(port)
    fams = families(text)
    for name, (help_, type_) in fams.items():
        assert (type_ == "counter") == name.endswith("_total"), (name, type_)
        assert help_.strip(), name
    for name in ("relayd_account_state", "relayd_quota_limit", "relayd_quota_used",
                 "relayd_queue_oldest_seconds", "relayd_queue_drain_seconds",
                 "relayd_build_info", "relayd_bounce_watch_connected",
                 "relayd_bounce_watch_last_success_timestamp_seconds",
                 "relayd_recipients_sent_total", "relayd_recipients_failed_total",
                 "relayd_recipients_deferred_total", "relayd_bounces_stored"):
        assert name in fams, name
    for name in ("relayd_messages_sent_total", "relayd_messages_failed_total",
                 "relayd_messages_deferred_total"):
        assert "Messages" in fams[name][0], fams[name]
    for name in ("relayd_recipients_sent_total", "relayd_recipients_failed_total"):
        assert "Recipients" in fams[name][0], fams[name]
    v = samples(text)
    assert v['relayd_messages_sent_total{account="main"}'] == "1", v
    assert v['relayd_recipients_sent_total{account="main"}'] == "1", v
    assert v["relayd_messages_failed_total"] == "1", v
    assert v["relayd_recipients_failed_total"] == "1", v
    assert v["relayd_queue_drain_seconds"] == "0" and v["relayd_queue_oldest_seconds"] == "0"
    version = relay.ctl("--version").stdout.split()[-1]
    assert v['relayd_build_info{version="%s"}' % version] == "1", (version, v)
    a = by_name(relay.status(), "main")
    for state in ("ready", "exhausted", "throttled", "backoff", "closed", "disabled"):
        assert v['relayd_account_state{account="main",state="%s"}' % state] == \
            ("1" if state == a["state"] else "0"), (state, a)
    for w in ("hour", "day"):
        assert int(v['relayd_quota_used{account="main",window="%s"}' % w]) == a[w]["used"]
        assert int(v['relayd_quota_remaining{account="main",window="%s"}' % w]) == \
            a[w]["remaining"]
        assert int(v['relayd_quota_limit{account="main",window="%s",kind="effective"}'
                     % w]) == a[w]["limit"]
        assert int(v['relayd_quota_limit{account="main",window="%s",kind="configured"}'
                     % w]) == a["configured"]["per_" + w]


@pytest.mark.deadline(60)
def test_cannot_connect_is_a_counted_deferral(make_relay, provider):
    """The account's server refuses connections: the message is deferred, and the
    deferral is counted (before: relayd_messages_deferred_total stayed 0)."""
    port = free_port()
    relay = make_relay(provider, start=False, metrics_listen="127.0.0.1:%d" % port)
    relay.settings["accounts"][0]["port"] = free_port()    # nothing listens there
    relay.write_config()
    relay.start()
    relay.submit(b"From: a@crm.example\r\nSubject: x\r\n\r\nhi\r\n", "app@crm.example",
                 ["b@example.org", "c@example.org"])
    relay.wait_log(r"to=<b@example\.org> more=1 .*status=deferred \(cannot connect")
    v = samples(scrape(port))
    assert int(v["relayd_messages_deferred_total"]) >= 1, v
    assert int(v["relayd_recipients_deferred_total"]) >= 2, v
    assert int(v["relayd_recipients_deferred_total"]) == \
        2 * int(v["relayd_messages_deferred_total"]), v
    assert float(v["relayd_queue_oldest_seconds"]) >= 0


@pytest.mark.deadline(120)
def test_bounce_watcher_health_in_status_and_metrics(make_relay, provider, tmp_path, certs):
    """The bounce watcher's health: connected and its last complete check, in relayctl
    status (JSON and text) and the metrics, agreeing; with the IMAP server down it is
    not connected and says its last error (before: nowhere)."""
    from dovecot import Dovecot
    from conftest import USER
    d = Dovecot(tmp_path / "dovecot", cert=certs.good.cert, key=certs.good.key, ca=certs.ca,
                user=USER)
    d.start()
    try:
        port = free_port()
        r = make_relay(provider, start=False, metrics_listen="127.0.0.1:%d" % port)
        r.settings["accounts"][0]["bounces"] = {"host": "127.0.0.1", "port": d.port,
                                                "tls": "implicit", "folder": "INBOX"}
        r.write_config()
        r.start()
        r.wait_log(r"imap: account=main .* selected", timeout=30)
        w = wait_until(lambda: (lambda l: l[0] if l and l[0]["last_success"] else None)(
            r.status()["bounce_watch"]), 20, "a complete check")
        assert w["account"] == "main" and w["connected"] is True, w
        assert abs(w["last_success"] - time.time()) < 30 and w["last_error"] is None, w
        v = samples(scrape(port))
        assert v['relayd_bounce_watch_connected{account="main"}'] == "1", v
        last = int(v['relayd_bounce_watch_last_success_timestamp_seconds{account="main"}'])
        assert abs(last - w["last_success"]) <= 1, (last, w)
        txt = r.ctl("status").stdout
        assert re.search(r"^bounces: main connected \(\w+\), last check (\d+s ago|now)$", txt,
                         re.M), txt

        d.stop()
        r.wait_log(r"imap: account=main .*reconnecting in", timeout=30)
        w = r.status()["bounce_watch"][0]
        assert w["connected"] is False and w["last_error"], w
        assert abs(w["last_error_at"] - time.time()) < 30, w
        assert samples(scrape(port))['relayd_bounce_watch_connected{account="main"}'] == "0"
        txt = r.ctl("status").stdout
        assert re.search(r"^bounces: main NOT connected \(backoff\), last check .*; last "
                         r"error (\d+s ago|now): .+$", txt, re.M), txt
    finally:
        d.cleanup()

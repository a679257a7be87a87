"""The event journal and its webhook (issue 18): what became of each recipient, told to
the application (tests/webhook_server.py, which checks every signature), in order, at
least once, across a receiver that is down, answers 500, hangs or redirects, and across
kill -9 of relayd; and `relayctl events` reading the journal, --follow included.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import RELAYCTL, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from webhook_server import WebhookServer, verify  # noqa: E402

SECRET = "whsec_0123456789abcdef"
COMMON = ("id", "time", "type", "queue_id", "message_id", "recipient", "account")


def events_relay(make_relay, provider, hook=None, types=None, start=True, **events):
    """A relay with events = { ... } (webhook hook's URL and the secret) for provider."""
    r = make_relay(provider, start=False)
    secret = r.dir / "webhook.secret"
    secret.write_text(SECRET + "\n")
    os.chmod(secret, 0o600)
    ev = {"secret_file": str(secret), "batch": 100}
    if hook is not None:
        ev["webhook"] = hook.url
        if hook.cert:
            ev["ca_file"] = r.certs.ca
    if types is not None:
        ev["types"] = types
    ev.update(events)
    r.settings["events"] = ev
    r.write_config()
    return r.start() if start else r


def message(n, mid=None):
    mid = mid or "<order-%d@crm.example>" % n
    return ("From: CRM <app@crm.example>\r\nTo: <x@example.org>\r\nSubject: order %d\r\n"
            "Message-ID: %s\r\n\r\nYour order %d.\r\n" % (n, mid, n)).encode()


def journal(relay, *args):
    """relayctl -c CONFIG events --json ARGS: the events as a list of objects."""
    p = relay.ctl("events", "--json", *args, config=relay.conf)
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()]


def check_common(ev):
    for k in COMMON:
        assert k in ev, (k, ev)
    assert isinstance(ev["id"], int) and ev["id"] > 0, ev
    assert abs(ev["time"] - time.time()) < 600, ev


def wait_events(hook, pred, timeout, what):
    return wait_until(lambda: pred(hook.by_id()) or None, timeout, what,
                      detail=lambda: "posts=%d taken=%s" % (hook.posts, hook.events()))


def assert_in_order(hook):
    """Ids arrive in increasing order; a batch sent again (at least once) repeats earlier
    ids, never skips one."""
    seen = 0
    for e in hook.events():
        assert e["id"] <= seen + 1 or e["id"] == seen + 1, (e["id"], seen)
        if e["id"] > seen:
            assert e["id"] == seen + 1, "id %d after %d: one skipped" % (e["id"], seen)
            seen = e["id"]
    return seen


@pytest.mark.deadline(90)
def test_sent_rejected_expired_each_once_with_their_fields(make_provider, make_relay):
    """One mailing, three recipients: ok@ is sent, gone@ is refused at RCPT (550 5.1.1),
    slow@ is deferred (452 4.2.2, mailbox full) until its retry lifetime runs out. The receiver (plain HTTP on
    loopback) gets sent, deferred and failed events with the right fields, every one
    signed; sent and failed exactly once per recipient; the journal says the same."""
    p = make_provider()
    p.refuse_rcpt("gone@example.org", "550 5.1.1 <gone@example.org>: No such user")
    p.refuse_rcpt("slow@example.org", "452 4.2.2 <slow@example.org>: Mailbox full")
    hook = WebhookServer(SECRET).start()
    try:
        r = events_relay(make_relay, p, hook, types=["queued", "sent", "deferred", "failed",
                                                     "bounced", "suppressed", "account"])
        r.settings["retry"] = {"initial": 1, "max": 1, "lifetime": 2}
        r.write_config()
        r.restart()
        r.submit(message(1), to=["ok@example.org", "gone@example.org", "slow@example.org"])
        p.wait_for(1)
        r.wait_queue(0, timeout=30)
        final = lambda evs: [e for e in evs.values() if e["type"] in ("sent", "failed")]
        wait_events(hook, lambda evs: len(final(evs)) == 3, 20, "three final events")
        evs = list(hook.by_id().values())
        for e in evs:
            check_common(e)
        qid = evs[0]["queue_id"]
        assert all(e["queue_id"] == qid for e in evs), evs
        assert all(e["message_id"] == "order-1@crm.example" for e in evs), evs
        queued = [e for e in evs if e["type"] == "queued"]
        assert sorted(e["recipient"] for e in queued) == [
            "gone@example.org", "ok@example.org", "slow@example.org"], queued
        sent = [e for e in evs if e["type"] == "sent"]
        assert len(sent) == 1 and sent[0]["recipient"] == "ok@example.org", sent
        assert sent[0]["account"] == "main" and sent[0]["reply"].startswith("250"), sent
        failed = {e["recipient"]: e for e in evs if e["type"] == "failed"}
        assert set(failed) == {"gone@example.org", "slow@example.org"}, failed
        g, s = failed["gone@example.org"], failed["slow@example.org"]
        assert g["reason"] == "rejected" and g["permanent"] is True, g
        assert "550 5.1.1" in g["reply"], g
        assert s["reason"] == "expired" and s["permanent"] is False, s
        assert "452 4.2.2" in s["reply"] and "lifetime" in s["reply"], s
        deferred = [e for e in evs if e["type"] == "deferred"]
        assert deferred and all(e["recipient"] == "slow@example.org" for e in deferred)
        assert all("452" in e["reply"] and e["next_try"] >= e["time"] - 1 for e in deferred)
        assert hook.bad_signatures == 0 and hook.bad_bodies == 0
        assert_in_order(hook)
        # the journal holds the same events, with the same ids
        local = {e["id"]: e for e in journal(r)}
        assert local == hook.by_id(), (local, hook.by_id())
        assert [e["id"] for e in journal(r, "--type", "failed")] == sorted(
            e["id"] for e in failed.values())
        st = r.status()["events"]
        assert st["backlog"] == 0 and st["state"] == "idle", st
    finally:
        hook.stop()


def submit_many(relay, n, start=1):
    """n messages, one recipient each (r<k>@example.org), over one connection."""
    with relay.smtp() as s:
        for k in range(start, start + n):
            s.sendmail("app@crm.example", ["r%d@example.org" % k], message(k))
        s.quit()


def sent_rcpts(hook):
    return {e["recipient"] for e in hook.by_id().values() if e["type"] == "sent"}


@pytest.mark.deadline(120)
def test_receiver_down_then_up_over_tls_every_event_in_order(make_provider, make_relay,
                                                             certs):
    """The receiver (HTTPS, the tests' private CA in ca_file) is down while 20 messages
    go out: the events wait (relayctl status shows the backlog and its age, the metrics
    too), the delays grow; once it is up every event arrives, in id order, in batches
    of at most `batch`, all signed."""
    p = make_provider()
    hook = WebhookServer(SECRET, cert=certs.good.cert, key=certs.good.key).start()
    port = hook.port
    hook.stop()
    r = events_relay(make_relay, p, hook, batch=7, start=False)
    r.settings["metrics_listen"] = "127.0.0.1:%d" % __import__("conftest").free_port()
    r.write_config()
    r.start()
    try:
        submit_many(r, 20)
        p.wait_for(20)
        wait_until(lambda: r.status()["events"]["backlog"] >= 20 or None, 10, "a backlog")
        time.sleep(3)
        st = r.status()["events"]
        assert st["state"] == "waiting" and st["failures"] >= 2, st
        assert st["oldest_age"] >= 2 and st["last_error"], st
        text = r.ctl("status").stdout
        assert "events: %d undelivered" % st["backlog"] in text, text
        import urllib.request
        m = urllib.request.urlopen("http://%s/metrics" % r.settings["metrics_listen"],
                                   timeout=5).read().decode()
        assert "relayd_events_backlog " in m and "relayd_events_oldest_age_seconds " in m, m
        assert 'relayd_webhook_posts_total{result="failed"}' in m, m
        hook = WebhookServer(SECRET, cert=certs.good.cert, key=certs.good.key, port=port)
        hook.start()
        # the delay doubles (1, 2, 4, 8 s...): it is at most 16 s by now
        wait_events(hook, lambda evs: len(sent_rcpts(hook)) == 20, 40, "20 sent events")
        last = assert_in_order(hook)
        assert last == max(hook.by_id()), last
        assert all(len(b) <= 7 for b in hook.batches), [len(b) for b in hook.batches]
        assert hook.bad_signatures == 0
        wait_until(lambda: r.status()["events"]["backlog"] == 0 or None, 10, "no backlog")
    finally:
        hook.stop()


@pytest.mark.deadline(120)
@pytest.mark.parametrize("mode", ["500", "redirect", "hang"])
def test_receiver_500_redirect_hang_is_a_failure_then_delivered(make_provider, make_relay,
                                                                mode):
    """A receiver that answers 500, redirects (307: never followed) or never answers
    (the POST times out) has not taken the batch: it is posted again, later, until a 2xx;
    then every event arrives, in order."""
    p = make_provider()
    hook = WebhookServer(SECRET).start()
    hook.mode = mode
    try:
        r = events_relay(make_relay, p, hook)
        submit_many(r, 3)
        p.wait_for(3)
        if mode == "hang":
            wait_until(lambda: hook.posts >= 1 or None, 10, "a POST")
            r.wait_log(r"events: webhook .* failed \(.*timed out", timeout=25)
        else:
            wait_until(lambda: hook.posts >= 2 or None, 15, "two POSTs")
            assert hook.refused >= 2 and not hook.events()
            r.wait_log(r"events: webhook .* failed \(HTTP status %s" %
                       ("500" if mode == "500" else "307, a redirect"), timeout=5)
        assert r.status()["events"]["backlog"] >= 3
        hook.mode = "ok"
        wait_events(hook, lambda evs: len(sent_rcpts(hook)) == 3, 40, "3 sent events")
        assert_in_order(hook)
        assert hook.bad_signatures == 0
    finally:
        hook.stop()


@pytest.mark.deadline(180)
def test_kill9_while_delivering_loses_nothing(make_provider, make_relay):
    """relayd is killed (-9) again and again while events are being delivered to a slow
    receiver: every event reaches it (the same ids when sent again), in order, none
    skipped; the ids go on across the restarts."""
    p = make_provider()
    hook = WebhookServer(SECRET).start()
    hook.delay = 0.3
    try:
        r = events_relay(make_relay, p, hook, batch=3,
                         types=["queued", "sent", "failed", "account"])
        for round_ in range(5):
            submit_many(r, 6, start=1 + 6 * round_)
            time.sleep(0.3 + 0.2 * round_)
            r.kill9()
            r.start()
        p.wait_for(30, timeout=30)
        r.wait_queue(0, timeout=30)
        want = {"r%d@example.org" % k for k in range(1, 31)}
        wait_events(hook, lambda evs: want <= sent_rcpts(hook) and
                    want <= {e["recipient"] for e in evs.values() if e["type"] == "queued"},
                    40, "every queued and sent event")
        wait_until(lambda: r.status()["events"]["backlog"] == 0 or None, 20, "no backlog")
        last = assert_in_order(hook)
        ids = sorted(hook.by_id())
        assert ids == list(range(1, last + 1)), ids
        local = journal(r)
        assert [e["id"] for e in local] == ids
        for e in local:                   # a duplicate is the same event, byte for byte
            assert hook.by_id()[e["id"]] == e
        assert hook.bad_signatures == 0
    finally:
        hook.stop()


@pytest.mark.deadline(60)
def test_relayctl_events_follow_sees_new_events(make_provider, make_relay):
    """relayctl events --follow (no webhook: the journal alone) prints the events there
    are, then each new one as it happens; --since ID and --since TIME start later; text
    output names the type, queue id and recipient."""
    p = make_provider()
    r = events_relay(make_relay, p, None)
    submit_many(r, 1)
    p.wait_for(1)
    wait_until(lambda: len(journal(r)) == 1 or None, 10, "one event")
    f = subprocess.Popen([str(RELAYCTL), "-c", str(r.conf), "events", "--json", "--follow"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(f.stdout.readline())
        assert first["type"] == "sent" and first["recipient"] == "r1@example.org", first
        submit_many(r, 1, start=2)
        t0 = time.time()
        second = json.loads(f.stdout.readline())
        assert second["recipient"] == "r2@example.org" and second["id"] == first["id"] + 1
        assert time.time() - t0 < 10
    finally:
        f.kill()
        f.wait()
    assert [e["id"] for e in journal(r, "--since", str(first["id"]))] == [second["id"]]
    assert len(journal(r, "--since", "@%d" % (first["time"] - 1))) == 2
    assert journal(r, "--since", "2100-01-01") == []
    assert journal(r, "--type", "failed,bounced") == []
    text = r.ctl("events", config=r.conf).stdout
    assert "sent" in text and first["queue_id"] in text and "r1@example.org" in text, text
    bad = r.ctl("events", "--type", "nope", config=r.conf)
    assert bad.returncode == 64 and "not an event type" in bad.stderr
    st = r.status()["events"]
    assert st["journal"] is True and st["state"] == "off", st
    # mail deleted from the queue by the operator is a failed event too
    p.refuse_rcpt("held@example.org", "452 4.2.2 Mailbox full")
    mark = r.mark()
    r.submit(message(7), to=["held@example.org"])
    m = r.wait_log(r"(\w+): to=<held@example.org> .*status=deferred", since=mark)
    assert r.ctl("queue", "delete", m.group(1)).returncode == 0
    wait_until(lambda: journal(r, "--type", "failed") or None, 10, "a failed event")
    d = journal(r, "--type", "failed")[0]
    assert (d["reason"], d["queue_id"], d["recipient"], d["message_id"]) == \
        ("deleted", m.group(1), "held@example.org", "order-7@crm.example"), d


from test_bounces import (APP_FROM, WAIT, dovecot, dsn_bounce, mailru_bounce,  # noqa: E402,F401
                          send_and_learn, wait_bounces)


@pytest.mark.deadline(120)
def test_bounced_later_and_suppressed_each_once(make_relay, provider, dovecot):  # noqa: F811
    """Mail that was sent bounces later into the account's mailbox (real Dovecot): the
    receiver gets a "bounced" event per failed recipient with kind, status, diagnostic
    and how it was matched, the queue id and the app's Message-ID of the mail it was;
    the hard bounce also a "suppressed" event; each once, even when relayd restarts and
    reads the mailbox again. Mail queued for an address suppressed meanwhile ends in a
    "suppressed" event with its queue id."""
    hook = WebhookServer(SECRET).start()
    try:
        r = events_relay(make_relay, provider, hook, start=False)
        r.settings["accounts"][0]["bounces"] = {
            "host": "127.0.0.1", "port": dovecot.port, "tls": "implicit",
            "folder": "INBOX"}
        r.write_config()
        mark = r.mark()
        r.start()
        r.wait_log(r"imap: account=main .* selected", since=mark, timeout=WAIT)
        dead, full = "dead@example.org", "full@example.org"
        sent = send_and_learn(r, provider, [dead, full])
        dovecot.append(mailru_bounce(sent[dead][1], dead))
        dovecot.append(dsn_bounce(sent[full][1], full))
        wait_bounces(r, 2)
        kinds = lambda evs: sorted(e["type"] for e in evs.values()
                                   if e["type"] in ("bounced", "suppressed"))
        wait_events(hook, lambda evs: kinds(evs) == ["bounced", "bounced", "suppressed"],
                    20, "two bounced events and one suppressed")
        evs = hook.by_id()
        b = {e["recipient"]: e for e in evs.values() if e["type"] == "bounced"}
        h, s = b[dead], b[full]
        for e in (h, s):
            check_common(e)
        assert (h["kind"], h["status"], h["queue_id"], h["message_id"], h["account"],
                h["matched"], h["permanent"]) == \
            ("hard", "5.1.1", sent[dead][0], sent[dead][1], "main", "message-id", True), h
        assert "User Unknown" in h["diagnostic"], h
        assert (s["kind"], s["status"], s["queue_id"], s["message_id"]) == \
            ("soft", "5.2.2", sent[full][0], sent[full][1]), s
        sup = [e for e in evs.values() if e["type"] == "suppressed"]
        assert sup[0]["recipient"] == dead and sup[0]["reason"] == "hard", sup
        # the sent events of the same mail carry the same ids
        sent_ev = {e["recipient"]: e for e in evs.values() if e["type"] == "sent"}
        assert sent_ev[dead]["queue_id"] == h["queue_id"]
        assert sent_ev[dead]["message_id"] == h["message_id"]

        # A restart reads the mailbox again: nothing is reported twice.
        n = len(hook.by_id())
        mark = r.mark()
        r.restart()
        r.wait_log(r"imap: account=main .* selected", since=mark, timeout=WAIT)
        time.sleep(2)
        assert len(hook.by_id()) == n, hook.by_id()

        # Queued, then suppressed by the operator before its next attempt.
        later = "later@example.org"
        provider.add_rule("rcpt", "452 4.2.2 Mailbox full", match=later)
        mark = r.mark()
        r.submit(message(9), to=[later])
        m = r.wait_log(r"(\w+): to=<%s> .*status=deferred" % later, since=mark)
        assert r.ctl("suppress", "add", later).returncode == 0
        wait_events(hook, lambda evs: any(e["type"] == "suppressed" and
                                          e["recipient"] == later for e in evs.values()),
                    20, "the suppressed event of the queued mail")
        e = [e for e in hook.by_id().values() if e["type"] == "suppressed" and
             e["recipient"] == later]
        assert len(e) == 1 and e[0]["queue_id"] == m.group(1), e
        assert "suppressed by the operator" in e[0]["reason"], e
        assert_in_order(hook)
        assert hook.bad_signatures == 0
    finally:
        hook.stop()


@pytest.mark.parametrize("events,problem", [
    ({"webhook": "http://crm.example/hook", "secret_file": "S"}, "loopback"),
    ({"webhook": "https://crm.example/hook"}, "secret_file: missing"),
    ({"types": ["sent", "opened"]}, '"opened" is not an event type'),
    ({"batch": 0}, "out of range"),
    ({"keep": 60}, "out of range"),
    ({"hook": "x"}, "hook"),
    ({"dsn_to": "bounces"}, "must be a bare address"),
])
def test_events_config_is_checked(make_relay, provider, events, problem):
    """relayd -t names what is wrong in the events group, with its line."""
    r = make_relay(provider, start=False)
    secret = r.dir / "S"
    secret.write_text("x\n")
    os.chmod(secret, 0o600)
    if "secret_file" in events:
        events = dict(events, secret_file=str(secret))
    r.settings["events"] = events
    r.write_config()
    p = r.check()
    assert p.returncode != 0 and problem in p.stderr, p.stderr
    assert "events." in p.stderr, p.stderr


@pytest.mark.deadline(60)
def test_account_exhausted_and_throttled_events(make_provider, make_relay):
    """per_hour = 2: the second message uses the hour up: an "account" event says
    exhausted, until when the quota has room again (about an hour on). A provider's
    "slow down" (421 4.7.0 at MAIL) is a "throttled" event with why and until, and the
    account's next success a "ready" one."""
    p = make_provider()
    hook = WebhookServer(SECRET).start()
    try:
        r = events_relay(make_relay, p, hook, start=False)
        r.settings["accounts"][0]["limits"] = {"per_hour": 2, "count": "messages"}
        r.write_config()
        r.start()
        submit_many(r, 3)
        p.wait_for(2)
        acct = lambda evs: [e for e in sorted(evs.values(), key=lambda e: e["id"])
                            if e["type"] == "account"]
        wait_events(hook, lambda evs: acct(evs), 15, "an account event")
        ex = acct(hook.by_id())[0]
        check_common(ex)
        assert (ex["state"], ex["account"], ex["recipient"]) == ("exhausted", "main", None), ex
        assert 3000 < ex["until"] - ex["time"] <= 3610, ex
        wait_events(hook, lambda evs: len(sent_rcpts(hook)) == 2, 15, "two sent events")
        time.sleep(1)
        assert len(sent_rcpts(hook)) == 2 and len(acct(hook.by_id())) == 1
    finally:
        hook.stop()
    p2 = make_provider()
    p2.add_rule("mail", "421 4.7.0 Slow down", times=1)
    hook = WebhookServer(SECRET).start()
    try:
        r = events_relay(make_relay, p2, hook)
        submit_many(r, 1)
        p2.wait_for(1, timeout=20)
        states = lambda evs: [e["state"] for e in acct(evs)]
        wait_events(hook, lambda evs: states(evs) == ["throttled", "ready"], 15,
                    "throttled, then ready")
        th = acct(hook.by_id())[0]
        assert "421 4.7.0" in th["why"] and th["until"] >= th["time"], th
    finally:
        hook.stop()

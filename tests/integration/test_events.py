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

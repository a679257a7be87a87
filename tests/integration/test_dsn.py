"""events.dsn_to (issue 18): an RFC 3464 report of each failed or bounced recipient,
mailed through the account like any mail, arrives at the provider stand-in addressed to
dsn_to, and relayd's own bounce parser (relayctl bounce-parse --json) reads each back as
what it says. No report about a report, none to a suppressed dsn_to, and a report that
fails makes no other.
"""

import email
import email.policy
import json
import re
import time

import pytest

from conftest import USER
from test_events import events_relay, message
from test_bounces import (APP_FROM, WAIT, dovecot, mailru_bounce,  # noqa: F401
                          send_and_learn, wait_bounces)

DSN_TO = "reports@shop.example"


def reports(provider):
    """The messages the provider got for dsn_to."""
    return [m for m in provider.messages if m.rcpt_tos == [DSN_TO]]


def wait_reports(provider, n, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = reports(provider)
        if len(got) >= n:
            return got
        time.sleep(0.1)
    raise AssertionError("%d report(s) at the provider, wanted %d: %r" % (
        len(reports(provider)), n, [m.rcpt_tos for m in provider.messages]))


def parse_back(relay, tmp_path, msg, n):
    """relayctl bounce-parse FILE --json on a report as the provider got it."""
    f = tmp_path / ("report-%d.eml" % n)
    f.write_bytes(msg.data)
    p = relay.ctl("bounce-parse", str(f), "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.splitlines()[0])


def check_report(relay, tmp_path, msg, n, rcpt, status, mid):
    """The report of rcpt: its header as the provider got it, and what the parser reads."""
    h = email.message_from_bytes(msg.data, policy=email.policy.default)
    assert h["Auto-Submitted"] == "auto-replied" and h["X-Relayd-Report"] == "1", h
    assert h.get_content_type() == "multipart/report", h["Content-Type"]
    assert h.get_param("report-type") == "delivery-status", h["Content-Type"]
    # From: the account's address (rewritten as any mail), the daemon's display name
    assert h["From"].addresses[0].addr_spec == USER, h["From"]
    assert h["From"].addresses[0].display_name == "Mail Delivery System", h["From"]
    assert h["Message-ID"].startswith("<relayd-dsn."), h["Message-ID"]
    parts = [p.get_content_type() for p in h.iter_parts()]
    assert parts == ["text/plain", "message/delivery-status", "text/rfc822-headers"], parts
    got = parse_back(relay, tmp_path, msg, n)
    assert got["is_bounce"] and got["type"] == "failure", got
    assert got["message_id"] == mid, got
    assert len(got["recipients"]) == 1, got
    r = got["recipients"][0]
    assert (r["recipient"], r["status"], r["action"]) == (rcpt, status, "failed"), r
    return h


@pytest.mark.deadline(90)
def test_rejected_and_expired_are_reported_to_dsn_to(make_provider, make_relay, tmp_path):
    """gone@ is refused at RCPT (550 5.1.1), slow@ is deferred (452 4.2.2) until its retry
    lifetime runs out: one report each arrives at the provider for dsn_to, through the
    account, and reads back as failed with that recipient and status. A message that is
    itself a report (multipart/report, Auto-Submitted, X-Relayd-Report) and fails makes
    none."""
    p = make_provider()
    p.refuse_rcpt("gone@example.org", "550 5.1.1 <gone@example.org>: No such user")
    p.refuse_rcpt("slow@example.org", "452 4.2.2 <slow@example.org>: Mailbox full")
    r = events_relay(make_relay, p, start=False, dsn_to=DSN_TO)
    r.settings["retry"] = {"initial": 1, "max": 1, "lifetime": 2}
    r.write_config()
    r.start()
    mark = r.mark()
    r.submit(message(1), to=["ok@example.org", "gone@example.org", "slow@example.org"])
    got = wait_reports(p, 2)
    r.wait_queue(0, timeout=30)
    by = {}
    for n, m in enumerate(got):
        rcpt = re.search(r"Final-Recipient: rfc822; (\S+)", m.data.decode()).group(1)
        by[rcpt] = m
    assert set(by) == {"gone@example.org", "slow@example.org"}, by
    check_report(r, tmp_path, by["gone@example.org"], 1, "gone@example.org", "5.1.1",
                 "order-1@crm.example")
    h = check_report(r, tmp_path, by["slow@example.org"], 2, "slow@example.org", "4.2.2",
                     "order-1@crm.example")
    assert "lifetime" in h.as_string(), h
    # the original's header is in the report
    assert b"Subject: order 1" in by["gone@example.org"].data
    log = r.log()[mark:]
    assert len(re.findall(r"to=<gone@example.org> delivery report", log)) == 1, log

    # Reports and automatic messages that fail make no report.
    heads = ["Content-Type: multipart/report; report-type=delivery-status; boundary=x",
             "Auto-Submitted: auto-generated", "X-Relayd-Report: 1"]
    for k, extra in enumerate(heads):
        msg = message(10 + k).replace(b"Subject:", extra.encode() + b"\r\nSubject:")
        mark = r.mark()
        r.submit(msg, to=["gone@example.org"])
        r.wait_log(r"to=<gone@example.org> .*status=failed", since=mark)
    r.wait_queue(0, timeout=30)
    time.sleep(1)
    assert len(reports(p)) == 2, [m.data[:300] for m in reports(p)]


@pytest.mark.deadline(60)
def test_no_report_of_a_failed_report_nor_to_a_suppressed_dsn_to(make_provider, make_relay):
    """dsn_to itself is refused: the report fails, and that failure makes no report (a
    failed event for dsn_to, nothing more). Then dsn_to is suppressed: a failure makes
    no report at all."""
    p = make_provider()
    p.refuse_rcpt("gone@example.org", "550 5.1.1 <gone@example.org>: No such user")
    p.refuse_rcpt(DSN_TO, "550 5.1.1 <%s>: No such user" % DSN_TO)
    r = events_relay(make_relay, p, dsn_to=DSN_TO)
    mark = r.mark()
    r.submit(message(1), to=["gone@example.org"])
    r.wait_log(r"to=<%s> .*status=failed" % re.escape(DSN_TO), since=mark)
    r.wait_queue(0, timeout=30)
    time.sleep(1.5)
    log = r.log()
    assert len(re.findall(r"delivery report \w+ to", log)) == 1, log
    assert len(re.findall(r"status=queued \(delivery report\)", log)) == 1, log
    assert p.messages == [], p.messages

    # dsn_to suppressed: no report is even queued
    p.refuse_rcpt("gone2@example.org", "550 5.1.1 <gone2@example.org>: No such user")
    assert r.ctl("suppress", "add", DSN_TO).returncode == 0
    mark = r.mark()
    r.submit(message(2), to=["gone2@example.org"])
    r.wait_log(r"to=<gone2@example.org> no delivery report: dsn_to <%s> is suppressed"
               % re.escape(DSN_TO), since=mark)
    r.wait_queue(0, timeout=30)
    time.sleep(1)
    assert len(re.findall(r"status=queued \(delivery report\)", r.log())) == 1


@pytest.mark.deadline(120)
def test_bounced_later_is_reported_once(make_relay, provider, dovecot, tmp_path):  # noqa: F811
    """Mail sent and later bounced into the account's mailbox (real Dovecot) is reported
    to dsn_to once, read back with its recipient, status and the app's Message-ID; a
    restart that reads the mailbox again makes no second report."""
    r = events_relay(make_relay, provider, start=False, dsn_to=DSN_TO)
    r.settings["accounts"][0]["bounces"] = {
        "host": "127.0.0.1", "port": dovecot.port, "tls": "implicit", "folder": "INBOX"}
    r.write_config()
    mark = r.mark()
    r.start()
    r.wait_log(r"imap: account=main .* selected", since=mark, timeout=WAIT)
    dead = "dead@example.org"
    sent = send_and_learn(r, provider, [dead])
    dovecot.append(mailru_bounce(sent[dead][1], dead))
    wait_bounces(r, 1)
    got = wait_reports(provider, 1)
    check_report(r, tmp_path, got[0], 1, dead, "5.1.1", sent[dead][1])
    assert ("X-Relayd-Queue-ID: %s" % sent[dead][0]).encode() in got[0].data

    # dsn_to is a watched mailbox: the report comes back, reads as a bounce of the
    # original, and is matched to it (a second "bounced" record), but the report's key
    # is known: no second report, no loop.
    mark = r.mark()
    dovecot.append(got[0].data)
    wait_bounces(r, 2)
    time.sleep(2)
    r.wait_queue(0, timeout=30)
    assert len(reports(provider)) == 1, reports(provider)
    assert not r.log_lines(r"delivery report \w+ to", since=mark), r.log()[mark:]

    mark = r.mark()
    r.restart()
    r.wait_log(r"imap: account=main .* selected", since=mark, timeout=WAIT)
    time.sleep(2)
    r.wait_queue(0, timeout=30)
    assert len(reports(provider)) == 1, reports(provider)


@pytest.mark.deadline(90)
def test_kill9_after_the_failure_report_delivered_once(make_provider, make_relay):
    """kill -9 of relayd right after a failure was recorded, its report still queued
    (the provider defers dsn_to): after the restart the report is delivered, once, and
    the failure makes no second one."""
    p = make_provider()
    p.refuse_rcpt("gone@example.org", "550 5.1.1 <gone@example.org>: No such user")
    p.add_rule("rcpt", "451 4.3.0 try again later", match=DSN_TO)
    r = events_relay(make_relay, p, dsn_to=DSN_TO)
    mark = r.mark()
    r.submit(message(1), to=["gone@example.org"])
    m = r.wait_log(r"to=<gone@example.org> delivery report (\w+) to", since=mark)
    r.wait_log(r"%s: to=<%s> .*status=deferred" % (m.group(1), re.escape(DSN_TO)),
               since=mark)
    r.kill9()
    p.clear_rules()
    mark = r.mark()
    r.start()
    got = wait_reports(p, 1)
    r.wait_queue(0, timeout=30)
    time.sleep(1.5)
    assert len(reports(p)) == 1, reports(p)
    assert b"Final-Recipient: rfc822; gone@example.org" in got[0].data
    assert not r.log_lines(r"delivery report \w+ to", since=mark), r.log()[mark:]

"""Bounce watcher and suppression list, end to end with real components: relayd sends through
the provider stand-in, a real Dovecot (tests/integration/dovecot.py, implicit TLS with the test
CA's certificate) holds the account's mailbox, notifications are APPENDed into it the way the
provider's MTA would deliver them, and what relayd makes of them is checked with relayctl and
with SMTP clients."""

import email
import email.policy
import json
import re
import smtplib
import subprocess
import time

import pytest

from conftest import RELAYCTL, USER, wait_until
from dovecot import Dovecot

APP_FROM = "crm@app.example"
WAIT = 20.0


# ---- notifications, modeled on real ones (../shared/bounces/corpus) -----------------------

def original_headers(mid, rcpt, subject="Order 1042"):
    return ("Return-path: <%s>\n"
            "From: Shop <%s>\n"
            "To: %s\n"
            "Subject: %s\n"
            "Message-ID: <%s>\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0300\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n" % (USER, USER, rcpt, subject, mid))


def mailru_bounce(mid, rcpt):
    """An Exim text bounce as Mail.ru sends it (lhost-mailru-01): hard, 5.1.1, original inline."""
    text = ("Return-path: <>\n"
            "Received: from mail by smtp23.mail.ru with local id 1XsaNj-0006ay-9N\n"
            "\tfor %(user)s; Mon, 02 Mar 2026 10:00:05 +0300\n"
            "X-Failed-Recipients: %(rcpt)s\n"
            "Auto-Submitted: auto-replied\n"
            "From: mailer-daemon@corp.mail.ru\n"
            "To: %(user)s\n"
            "Content-Transfer-Encoding: 8bit\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "Subject: =?UTF-8?B?0JLQsNGI0LUg0YHQvtC+0LHRidC10L3QuNC1INC90LUg0LTQvtGB0YLQsNCy0LvQtdC90L4=?=."
            " Mail failure.\n"
            "Message-Id: <E1XsaNj-%(n)s@smtp23.mail.ru>\n"
            "Date: Mon, 02 Mar 2026 10:00:05 +0300\n"
            "\n"
            "Это письмо создано автоматически сервером Mail.Ru, отвечать на него не нужно.\n"
            "\n"
            "К сожалению, Ваше письмо не может быть доставлено одному или нескольким получателям:\n"
            "\n"
            "  %(rcpt)s\n"
            "    SMTP error from remote mail server after RCPT TO:<%(rcpt)s>:\n"
            "    host mx.example.org [192.0.2.222]: 550 5.1.1 <%(rcpt)s>... User Unknown\n"
            "\n"
            "**********************\n"
            "\n"
            "This message was created automatically by mail delivery software.\n"
            "\n"
            "A message that you sent could not be delivered to one or more of its\n"
            "recipients. This is a permanent error. The following address(es) failed:\n"
            "\n"
            "  %(rcpt)s\n"
            "    SMTP error from remote mail server after RCPT TO:<%(rcpt)s>:\n"
            "    host mx.example.org [192.0.2.222]: 550 5.1.1 <%(rcpt)s>... User Unknown\n"
            "\n"
            "------ This is a copy of the message, including all the headers. ------\n"
            "\n" % {"user": USER, "rcpt": rcpt, "n": abs(hash(mid)) % 10**8}
            + original_headers(mid, rcpt) + "\nHello,\nyour order has shipped.\n")
    return text.replace("\n", "\r\n").encode()


def dsn_bounce(mid, rcpt, status="5.2.2", diag="552 5.2.2 Mailbox full", n=1):
    """An RFC 3464 multipart/report (Postfix style): by default mailbox full, a soft failure."""
    b = "B0UND4RY.%d" % n
    text = ("Return-Path: <>\n"
            "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\n"
            "To: %(user)s\n"
            "Subject: Undelivered Mail Returned to Sender\n"
            "Message-Id: <20260302100010.%(n)d.A1@mx.example.org>\n"
            "Date: Mon, 02 Mar 2026 10:00:10 +0300\n"
            "Auto-Submitted: auto-replied\n"
            "MIME-Version: 1.0\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"%(b)s\"\n"
            "\n"
            "This is a MIME-encapsulated message.\n"
            "\n"
            "--%(b)s\n"
            "Content-Description: Notification\n"
            "Content-Type: text/plain; charset=us-ascii\n"
            "\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n"
            "\n"
            "<%(rcpt)s>: host mx.example.org[192.0.2.1] said: %(diag)s\n"
            "\n"
            "--%(b)s\n"
            "Content-Description: Delivery report\n"
            "Content-Type: message/delivery-status\n"
            "\n"
            "Reporting-MTA: dns; mx.example.org\n"
            "Arrival-Date: Mon, 02 Mar 2026 10:00:01 +0300\n"
            "\n"
            "Final-Recipient: rfc822; %(rcpt)s\n"
            "Original-Recipient: rfc822;%(rcpt)s\n"
            "Action: failed\n"
            "Status: %(status)s\n"
            "Remote-MTA: dns; mx.example.org\n"
            "Diagnostic-Code: smtp; %(diag)s\n"
            "\n"
            "--%(b)s\n"
            "Content-Description: Undelivered Message Headers\n"
            "Content-Type: text/rfc822-headers\n"
            "\n" % {"user": USER, "rcpt": rcpt, "b": b, "n": n, "status": status,
                    "diag": diag}
            + original_headers(mid, rcpt) + "\n--%s--\n" % b)
    return text.replace("\n", "\r\n").encode()


def vacation_reply(mid, rcpt):
    """An RFC 3834 auto-reply (out of office): not a bounce."""
    text = ("Return-Path: <%(rcpt)s>\n"
            "From: Friend <%(rcpt)s>\n"
            "To: %(user)s\n"
            "Subject: Auto: Re: Order 1042\n"
            "Message-ID: <vacation.%(n)d@example.org>\n"
            "In-Reply-To: <%(mid)s>\n"
            "References: <%(mid)s>\n"
            "Date: Mon, 02 Mar 2026 10:00:20 +0300\n"
            "Auto-Submitted: auto-replied (vacation)\n"
            "Precedence: bulk\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "\n"
            "I am out of the office until March 10 with limited access to e-mail.\n"
            % {"user": USER, "rcpt": rcpt, "mid": mid, "n": abs(hash(mid)) % 10**8})
    return text.replace("\n", "\r\n").encode()


# ---- helpers ---------------------------------------------------------------------------

def message(rcpt, subject="Order 1042"):
    return ("From: Shop Team <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nYour order has shipped.\r\n"
            % (APP_FROM, rcpt, subject)).encode()


def send_and_learn(relay, provider, rcpts):
    """Send one message per recipient through relayd; wait for the provider to get them.
    Returns {rcpt: (queue_id, message_id without <>)} as relayd sent them."""
    before = len(provider.wait_for(0))
    qids = {}
    for r in rcpts:
        mark = relay.mark()
        assert relay.submit(message(r), from_addr=APP_FROM, to=[r]) == {}
        m = relay.wait_log(r"(\w+): to=<%s> .*status=sent" % re.escape(r), since=mark)
        qids[r] = m.group(1)
    got = provider.wait_for(before + len(rcpts), timeout=WAIT)
    out = {}
    for msg in got[before:]:
        parsed = email.message_from_bytes(msg.data, policy=email.policy.default)
        mid = parsed["Message-ID"].strip().strip("<>")
        rcpt = msg.rcpt_tos[0]
        out[rcpt] = (qids[rcpt], mid)
    assert set(out) == set(rcpts), out
    return out


def bounces(relay):
    p = relay.ctl("bounces", "--json")
    assert p.returncode == 0, "relayctl bounces --json exited %d: %s" % (p.returncode, p.stderr)
    return json.loads(p.stdout)["bounces"]


def suppressed(relay):
    p = relay.ctl("suppress", "list", "--json")
    assert p.returncode == 0, "relayctl suppress list exited %d: %s" % (p.returncode, p.stderr)
    return {e["address"]: e for e in json.loads(p.stdout)["suppressed"]}


def wait_bounces(relay, n, timeout=WAIT):
    """Wait until relayctl shows n bounces; returns them."""
    return wait_until(lambda: (lambda b: b if len(b) == n else None)(bounces(relay)), timeout,
                      "%d bounce(s) in relayctl bounces" % n, interval=0.2,
                      detail=lambda: "bounces: %r\n%s" % (bounces(relay), relay.log_tail()))


def rcpt_reply(relay, rcpt):
    """(code, text) of RCPT TO:<rcpt> in a fresh SMTP session."""
    with relay.smtp() as s:
        s.ehlo("app.test")
        code, _ = s.mail(APP_FROM)
        assert code == 250
        code, msg = s.rcpt(rcpt)
        s.rset()
        s.quit()
    return code, msg.decode("utf-8", "replace")


# ---- fixtures ---------------------------------------------------------------------------

@pytest.fixture
def dovecot(tmp_path, certs):
    d = Dovecot(tmp_path / "dovecot", cert=certs.good.cert, key=certs.good.key, ca=certs.ca,
                user=USER)
    d.start()
    yield d
    d.cleanup()
    print("===== dovecot log =====\n" + d.log())


@pytest.fixture
def bounce_relay(make_relay, provider, dovecot):
    """relayd whose account watches the Dovecot mailbox (INBOX, move_to Bounces),
    suppressing after a hard bounce or after 2 soft ones; started and logged in."""
    def make(**bounces_over):
        r = make_relay(provider, start=False)
        b = {"host": "127.0.0.1", "port": dovecot.port, "tls": "implicit",
             "folder": "INBOX", "move_to": "Bounces"}
        b.update(bounces_over)
        r.settings["accounts"][0]["bounces"] = b
        r.settings["suppress"] = {"hard": True, "soft_after": 2}
        r.write_config()
        mark = r.mark()
        r.start()
        r.wait_log(r"imap: account=main .* selected", since=mark, timeout=WAIT)
        return r
    return make


# ---- tests ------------------------------------------------------------------------------

@pytest.mark.deadline(120)
def test_bounces_matched_classified_suppressed(bounce_relay, provider, dovecot):
    relay = bounce_relay()
    dead, full, friend = "dead@example.org", "full@example.org", "friend@example.org"
    sent = send_and_learn(relay, provider, [dead, full, friend])

    dovecot.append(mailru_bounce(sent[dead][1], dead))
    dovecot.append(dsn_bounce(sent[full][1], full))
    dovecot.append(vacation_reply(sent[friend][1], friend))

    got = {b["recipient"]: b for b in wait_bounces(relay, 2)}
    assert set(got) == {dead, full}, "the vacation reply must not count: %r" % got
    h, s = got[dead], got[full]
    assert (h["kind"], h["status"], h["queue_id"], h["message_id"], h["account"]) == \
        ("hard", "5.1.1", sent[dead][0], sent[dead][1], "main"), h
    assert "User Unknown" in h["diagnostic"], h
    assert (h["permanent"], h["reason"], s["permanent"], s["reason"]) == \
        (True, "user_unknown", True, "mailbox_full"), (h, s)
    assert (s["kind"], s["status"], s["queue_id"], s["message_id"]) == \
        ("soft", "5.2.2", sent[full][0], sent[full][1]), s
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", h["time"]), h
    relay.wait_log(r"%s: to=<%s> account=main status=bounced kind=hard dsn=5.1.1"
                   % (sent[dead][0], re.escape(dead)))

    # The hard-bounced address is refused at RCPT; the soft one (1 of 2) is not.
    code, text = rcpt_reply(relay, dead.upper().replace("DEAD", "Dead"))
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert code == 550, (code, text)
    assert text.startswith("5.1.1 <Dead@EXAMPLE.ORG>: suppressed after hard bounce on " + today), text
    assert rcpt_reply(relay, full)[0] == 250
    assert rcpt_reply(relay, friend)[0] == 250
    lst = suppressed(relay)
    assert set(lst) == {dead}, lst
    assert lst[dead]["reason"] == "hard bounce" and lst[dead]["since"].startswith(today), lst

    # The two reports were moved to Bounces (created by relayd); the auto-reply stays.
    wait_until(lambda: len(dovecot.uids("Bounces")) == 2, WAIT, "2 reports in Bounces",
               interval=0.2, detail=relay.log_tail)
    assert len(dovecot.uids("INBOX")) == 1

    # The table for people.
    p = relay.ctl("bounces")
    assert p.returncode == 0 and dead in p.stdout and "RECIPIENT" in p.stdout, p


@pytest.mark.deadline(150)
def test_bounces_survive_restart_without_double_count(bounce_relay, provider, dovecot):
    relay = bounce_relay(move_to=None)      # reports stay in INBOX: they could be re-read
    full = "full@example.org"
    sent = send_and_learn(relay, provider, [full, "other@example.org"])
    dovecot.append(dsn_bounce(sent[full][1], full, n=1))
    wait_bounces(relay, 1)
    assert full not in suppressed(relay)

    mark = relay.mark()
    relay.restart()
    relay.wait_log(r"imap: account=main .* selected: uidvalidity=\d+ last-uid=1 ", since=mark,
                   timeout=WAIT)
    # A second, different soft bounce for the same address: 2 of 2 -> suppressed.
    dovecot.append(dsn_bounce(sent[full][1], full, status="4.2.2",
                              diag="452 4.2.2 Over quota, try later", n=2))
    b = wait_bounces(relay, 2)
    assert b[0]["status"] == "4.2.2" and b[1]["status"] == "5.2.2", b   # newest first
    time.sleep(1.0)                         # a re-read would show up by now
    assert len(bounces(relay)) == 2, "the first notification was counted again"
    lst = suppressed(relay)
    assert lst[full]["reason"] == "2 soft bounces", lst
    code, text = rcpt_reply(relay, full)
    assert code == 550 and "suppressed after 2 soft bounces" in text, (code, text)

    # Forgetting the mailbox position re-reads nothing into the counts either.
    relay.stop()
    (relay.spool / "imap" / "main").unlink()
    relay.start()
    relay.wait_log(r"first contact", timeout=WAIT)
    time.sleep(1.0)
    assert len(bounces(relay)) == 2


@pytest.mark.deadline(150)
def test_bounces_after_imap_server_restart(bounce_relay, provider, dovecot):
    relay = bounce_relay()
    gone = "gone@example.org"
    sent = send_and_learn(relay, provider, [gone])
    mark = relay.mark()
    dovecot.restart()
    relay.wait_log(r"imap: account=main .*(connection closed|BYE)", since=mark, timeout=WAIT)
    relay.wait_log(r"imap: account=main .* selected", since=mark, timeout=45)
    dovecot.append(mailru_bounce(sent[gone][1], gone))
    b = wait_bounces(relay, 1, timeout=30)
    assert (b[0]["recipient"], b[0]["kind"], b[0]["queue_id"]) == ("gone@example.org", "hard",
                                                                    sent[gone][0]), b
    assert rcpt_reply(relay, gone)[0] == 550

    # Server down for a while: relayd keeps retrying with growing delays, then recovers.
    dovecot.stop()
    mark = relay.mark()
    relay.wait_log(r"imap: account=main .*reconnecting in", since=mark, timeout=WAIT)
    time.sleep(3)
    dovecot.start()
    relay.wait_log(r"imap: account=main .* selected", since=mark, timeout=45)


@pytest.mark.deadline(90)
def test_bounces_after_reload(bounce_relay, provider, dovecot):
    """relayctl reload restarts the watch on the new config; nothing is lost or doubled."""
    relay = bounce_relay()
    gone = "gone@example.org"
    sent = send_and_learn(relay, provider, [gone])
    dovecot.append(dsn_bounce(sent[gone][1], gone, status="5.2.2", n=1))
    wait_bounces(relay, 1)
    mark = relay.mark()
    p = relay.ctl("reload")
    assert p.returncode == 0, p
    relay.wait_log(r"imap: account=main .* selected", since=mark, timeout=WAIT)
    dovecot.append(dsn_bounce(sent[gone][1], gone, status="4.2.2",
                              diag="452 4.2.2 Over quota, try later", n=2))
    b = wait_bounces(relay, 2)
    assert [x["status"] for x in b] == ["4.2.2", "5.2.2"], b
    assert gone in suppressed(relay)        # 2 soft bounces


@pytest.mark.deadline(60)
def test_bounces_unmatched_recorded_as_such(bounce_relay, provider, dovecot):
    relay = bounce_relay()
    dovecot.append(mailru_bounce("not-ours.1@elsewhere.example", "stranger@example.net"))
    b = wait_bounces(relay, 1)[0]
    assert (b["recipient"], b["kind"], b["queue_id"], b["matched"]) == \
        ("stranger@example.net", "hard", None, "none"), b
    assert b["message_id"] == "not-ours.1@elsewhere.example"


@pytest.mark.deadline(90)
def test_bounces_starttls_and_poll_without_idle(make_relay, provider, tmp_path, certs):
    """A server on the plain port with STARTTLS, announcing neither IDLE nor MOVE after login:
    relayd upgrades before logging in, polls, and moves with COPY + STORE + UID EXPUNGE, into a
    folder with a Cyrillic name (modified UTF-7 on the wire)."""
    d = Dovecot(tmp_path / "dovecot-starttls", cert=certs.good.cert, key=certs.good.key,
                ca=certs.ca, user=USER, tls="starttls",
                capability="IMAP4rev1 SASL-IR LITERAL+ ID ENABLE UIDPLUS")
    d.start()
    try:
        r = make_relay(provider, start=False)
        r.settings["accounts"][0]["bounces"] = {
            "host": "127.0.0.1", "port": d.port, "tls": "starttls",
            "move_to": "\u041e\u0442\u043a\u0430\u0437\u044b", "poll": 5}
        r.write_config()
        r.start()
        r.wait_log(r"imap: account=main .* selected: .* wait=poll", timeout=WAIT)
        dead = "dead@example.org"
        sent = send_and_learn(r, provider, [dead])
        d.append(dsn_bounce(sent[dead][1], dead, status="5.1.1",
                            diag="550 5.1.1 <dead@example.org>: Recipient address rejected"))
        b = wait_bounces(r, 1, timeout=20)[0]
        assert (b["kind"], b["queue_id"]) == ("hard", sent[dead][0]), b
        wait_until(lambda: d.uids("&BB4EQgQ6BDAENwRL-") and not d.uids("INBOX"), WAIT,
                   "the report moved by COPY/STORE/EXPUNGE", interval=0.3, detail=r.log_tail)
    finally:
        d.cleanup()
        print("===== dovecot (starttls) log =====\n" + d.log())


@pytest.mark.deadline(60)
def test_suppress_add_remove_list(make_relay, provider):
    relay = make_relay(provider)
    addr = "Someone@Example.COM"
    assert suppressed(relay) == {}
    p = relay.ctl("suppress", "add", addr)
    assert p.returncode == 0 and "added" in p.stdout, p
    p = relay.ctl("suppress", "add", addr)
    assert p.returncode == 0 and "already" in p.stdout, p
    lst = suppressed(relay)
    assert list(lst) == ["someone@example.com"], lst
    assert lst["someone@example.com"]["reason"] == "added by the operator"
    code, text = rcpt_reply(relay, "someone@example.com")
    assert code == 550 and "suppressed by the operator on" in text, (code, text)

    p = relay.ctl("suppress", "list")
    assert p.returncode == 0 and "someone@example.com" in p.stdout, p

    # It survives a restart.
    relay.restart()
    assert "someone@example.com" in suppressed(relay)

    p = relay.ctl("suppress", "remove", addr)
    assert p.returncode == 0, p
    assert suppressed(relay) == {}
    assert rcpt_reply(relay, "someone@example.com")[0] == 250
    p = relay.ctl("suppress", "remove", addr)
    assert p.returncode != 0 and "not on the suppression list" in p.stderr, p
    p = relay.ctl("suppress", "add", "not an address")
    assert p.returncode != 0 and "not a mail address" in p.stderr, p
    p = relay.ctl("suppress", "frob")
    assert p.returncode == 64 and "usage" in p.stderr, p
    relay.restart()
    assert suppressed(relay) == {}
    p = relay.ctl("bounces", "--json")
    assert p.returncode == 0 and json.loads(p.stdout) == {"bounces": []}, p


@pytest.mark.deadline(60)
def test_queued_mail_to_suppressed_address_fails(make_relay, provider):
    """Mail queued before its address was suppressed is failed at the next attempt, not sent."""
    relay = make_relay(provider)
    addr = "later-dead@example.org"
    provider.add_rule("rcpt", "451 4.3.0 Try again later", match=addr, times=1)
    mark = relay.mark()
    assert relay.submit(message(addr), from_addr=APP_FROM, to=[addr]) == {}
    m = relay.wait_log(r"(\w+): to=<%s> .*status=deferred" % re.escape(addr), since=mark)
    p = relay.ctl("suppress", "add", addr)
    assert p.returncode == 0, p
    relay.wait_log(r"%s: to=<%s> .*status=failed \(suppressed by the operator on"
                   % (m.group(1), re.escape(addr)), since=mark)
    relay.wait_queue(0)
    assert all(addr not in r.rcpt_tos for r in provider.wait_for(0))


@pytest.mark.deadline(30)
def test_bounce_parse_json_fields(tmp_path):
    """relayctl bounce-parse --json (offline) gives each recipient the address as sent
    (Original-Recipient), the report's own fields, permanent and reason; a
    challenge-response request is no bounce."""
    dsn = tmp_path / "dsn.eml"
    dsn.write_text(
        "From: MAILER-DAEMON@mx.example.net\n"
        "Subject: Undeliverable: Order 1042\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
        "--B\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.net\n\n"
        "Original-Recipient: rfc822;smtp=Buyer@example.org (as sent)\n"
        "Final-Recipient: rfc822; <store-42@mbx.internal.example>\n"
        "Action: failed\nStatus: 5.2.2\nDiagnostic-Code: smtp; 552 5.2.2 Mailbox full\n\n"
        "Original-Recipient: rfc822;late@example.org\n"
        "Final-Recipient: rfc822;late@example.org\n"
        "Action: delayed\nStatus: 4.4.1\n\n--B--\n")
    cr = tmp_path / "cr.eml"
    cr.write_text("From: Bob <bob@example.net>\nSubject: Please confirm your message\n\n"
                  "Your message to bob@example.net will not be delivered until you confirm.\n")
    p = subprocess.run([str(RELAYCTL), "bounce-parse", "--json", str(dsn), str(cr)],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    d, c = [json.loads(line) for line in p.stdout.splitlines()]
    assert (d["is_bounce"], d["type"]) == (True, "failure"), d
    full, late = d["recipients"]
    assert (full["recipient"], full["original_recipient"], full["final_recipient"]) == \
        ("Buyer@example.org", "Buyer@example.org", "store-42@mbx.internal.example"), full
    assert (full["status"], full["permanent"], full["reason"], full["kind"]) == \
        ("5.2.2", True, "mailbox_full", "soft"), full
    assert (late["action"], late["permanent"], late["reason"], late["kind"]) == \
        ("delayed", False, "network_error", "soft"), late
    assert (c["is_bounce"], c["type"], c["recipients"]) == (False, "autoreply", []), c

"""Text that is not UTF-8 through every relayctl command, in text and JSON: provider
replies in CP1251, KOI8-R and Shift_JIS and with invalid octets, raw 8-bit headers, an
8-bit address and a bounce whose diagnostic is CP1251. Nothing may vanish from a list,
fail to show, or lose a field: foreign octets are shown as \\xHH, valid UTF-8 as it is.
"""

import json
import re

from conftest import wait_until

APP_FROM = "crm@app.example"

# A reply that throttles the account (its text is the account's "why").
THROTTLE = b"451 4.7.1 \xcf\xee\xe7\xe6\xe5 (rate limit)"

# rcpt -> (the provider's reply at RCPT, octets; what relayctl must show)
REPLIES = {
    "cp1251@example.org": (b"450 4.2.1 \xcf\xee\xef\xf0\xee\xe1\xf3\xe9\xf2\xe5 "
                           b"\xef\xee\xe7\xe6\xe5",
                           "450 4.2.1 \\xcf\\xee\\xef\\xf0\\xee\\xe1\\xf3\\xe9\\xf2\\xe5 "),
    "koi8@example.org": (b"450 4.2.1 \xef\xdb\xc9\xc2\xcb\xc1",
                         "450 4.2.1 \\xef\\xdb\\xc9\\xc2\\xcb\\xc1"),
    "sjis@example.org": (b"450 4.2.1 \x8c\xe3\x82\xc5",
                         "450 4.2.1 \\x8c\\xe3\\x82\\xc5"),
    "bad@example.org": (b"450 4.2.1 \xff\xfe\xc0\xaf ok \xd0\x96",
                        "450 4.2.1 \\xff\\xfe\\xc0\\xaf ok \u0416"),
}


def message(seq):
    return (b"From: Shop <crm@app.example>\r\nTo: <rcpt@example.org>\r\n"
            b"Subject: \xc7\xe0\xea\xe0\xe7 %d\r\n"          # CP1251, raw
            b"X-Raw: \xff\xfe\x8c\xe3\r\n\r\nbody %d\r\n" % (seq, seq))


def ok(p):
    assert p.returncode == 0, "relayctl exited %d: %s%s" % (p.returncode, p.stderr, p.stdout)
    return p


def ctl_json(relay, *args):
    return json.loads(ok(relay.ctl(*args, "--json")).stdout)


def test_foreign_text_through_relayctl(make_relay, provider, tmp_path):
    relay = make_relay(provider, retry={"initial": 600, "max": 1200, "lifetime": 3600})
    for rcpt, (reply, _) in REPLIES.items():
        rule = provider.add_rule("rcpt", "451 placeholder", match=rcpt)
        rule.reply = reply                  # octets, as a Russian provider sends them
    for seq, rcpt in enumerate(REPLIES):
        relay.submit(message(seq), APP_FROM, [rcpt])
    for rcpt in REPLIES:
        relay.wait_log(r"to=<%s>.*status=deferred" % re.escape(rcpt))
    provider.add_rule("rcpt", "451 placeholder", match="throttle@example.org").reply = THROTTLE
    relay.submit(message(9), APP_FROM, ["throttle@example.org"])
    relay.wait_log(r"account=main status=throttled")

    # queue list: every deferred message is there, with its reply.
    q = ctl_json(relay, "queue", "list")["queue"]
    assert len(q) == len(REPLIES) + 1, q
    assert relay.status()["queue"]["total"] == len(REPLIES) + 1
    by_rcpt = {m["recipients"][0]: m for m in q}
    for rcpt, (_, shown) in REPLIES.items():
        assert by_rcpt[rcpt]["last_reply"].startswith(shown), by_rcpt[rcpt]
    text = ok(relay.ctl("queue", "list")).stdout
    for m in q:
        assert m["id"] in text, text
    assert "\\xcf\\xee" in text, text

    # queue show: the raw 8-bit headers and the history, in JSON and text.
    for m in q:
        if m["recipients"] == ["throttle@example.org"]:
            continue
        show = ctl_json(relay, "queue", "show", m["id"])
        assert "Subject: \\xc7\\xe0\\xea\\xe0\\xe7" in show["headers"], show
        assert "X-Raw: \\xff\\xfe\\x8c\\xe3" in show["headers"], show
        assert show["history"][-1]["event"] == "deferred", show
        assert show["history"][-1]["detail"].startswith("450 4.2.1"), show
        t = ok(relay.ctl("queue", "show", m["id"])).stdout
        assert "\\xc7\\xe0\\xea\\xe0\\xe7" in t and m["id"] in t, t

    # status: the account's why and last reply are kept, in JSON and text.
    acct = relay.account_status("main")
    assert acct["last_reply"] is not None and acct["last_reply"].startswith("45"), acct
    if acct["state"] == "throttled":
        assert acct["why"] == "451 4.7.1 \\xcf\\xee\\xe7\\xe6\\xe5 (rate limit)", acct
    assert "45" in ok(relay.ctl("status")).stdout

    # hold / release / delete by id still work on them.
    ok(relay.ctl("queue", "hold", q[0]["id"]))
    ok(relay.ctl("queue", "release", q[0]["id"]))
    ok(relay.ctl("queue", "delete", q[0]["id"]))
    assert len(ctl_json(relay, "queue", "list")["queue"]) == len(REPLIES)

    # enable with an 8-bit account name: refused with the name shown, not a broken answer.
    p = relay.ctl("enable", "m\udccf\udcee")
    assert p.returncode == 67 and "m\\xcf\\xee" in p.stderr, p
    ok(relay.ctl("flush"))
    ok(relay.ctl("reload"))

    # suppress with an 8-bit address: refused or added, but every list still dumps.
    relay.ctl("suppress", "add", "r\udcf3@example.org")   # the octet 0xf3
    ctl_json(relay, "suppress", "list")
    ok(relay.ctl("suppress", "list"))
    ctl_json(relay, "bounces")
    ok(relay.ctl("bounces"))

    # bounce-parse: a DSN whose diagnostic is CP1251 keeps its diagnostic.
    dsn = tmp_path / "dsn.eml"
    dsn.write_bytes(
        b"From: MAILER-DAEMON@mail.ru\r\nTo: shop@mail.ru\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n"
        b"\r\n--B\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.mail.ru\r\n\r\n"
        b"Final-Recipient: rfc822; r1@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 \xcd\xe5\xf2 \xf2\xe0\xea\xee\xe3\xee\r\n"
        b"\r\n--B--\r\n")
    p = ok(relay.ctl("bounce-parse", dsn, "--json"))
    r = json.loads(p.stdout.splitlines()[0])
    assert r["recipients"] and "550 5.1.1 \\xcd\\xe5\\xf2" in r["recipients"][0]["diagnostic"], r
    p = ok(relay.ctl("bounce-parse", dsn))
    assert "r1@example.org" in p.stdout, p.stdout

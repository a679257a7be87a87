"""Core path of relayd: config check, SMTP submission, spool, TLS delivery with AUTH, header
rewriting, retries, failures. Real relayd, real provider stand-in (tests/provider.py), real
clients (smtplib, swaks, raw sockets), loopback only."""

import email
import email.policy
import re
import smtplib
import time
import warnings

import pytest

from conftest import USER, Raw, line_of
from provider import split_header_fields

APP_FROM = "crm@app.example"

BODY = (b"Hello,\r\n"
        b"\r\n"
        b"your order 1042 has shipped. \xd0\x97\xd0\xb0\xd0\xba\xd0\xb0\xd0\xb7 "
        b"\xd0\xbe\xd1\x82\xd0\xbf\xd1\x80\xd0\xb0\xd0\xb2\xd0\xbb\xd0\xb5\xd0\xbd.\r\n"
        b"From here on, a line that mbox would mangle.\r\n"
        b"\ttabbed line, trailing spaces   \r\n"
        b"\r\n"
        b"-- \r\n"
        b"Shop Team\r\n")


def message(from_hdr=b'"Shop Team" <crm@app.example>', extra=b"", body=BODY,
            to_hdr=b"Customer <rcpt@example.org>", subject=b"Order 1042"):
    """A message as an app would submit it (bytes, CRLF)."""
    return (b"Date: Mon, 02 Mar 2026 10:00:00 +0300\r\n"
            b"From: " + from_hdr + b"\r\n"
            b"To: " + to_hdr + b"\r\n"
            b"Subject: " + subject + b"\r\n"
            + extra +
            b"X-Order: 1042\r\n"
            b"X-Folded: first part\r\n\tsecond part\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n"
            b"\r\n" + body)


def split(data):
    i = data.index(b"\r\n\r\n")
    return data[:i + 2], data[i + 4:]


def parsed(m):
    return email.message_from_bytes(m.data, policy=email.policy.default)


def one_addr(msg, name):
    vals = msg.get_all(name) or []
    assert len(vals) == 1, "expected exactly one %s: header, got %r" % (name, vals)
    addrs = vals[0].addresses
    assert len(addrs) == 1, "%s: %r" % (name, vals[0])
    return addrs[0]


def check_rewritten(m, orig, *, display_name, reply_to=APP_FROM, keep_reply_to=False,
                    keep_message_id=False):
    """What the provider got is `orig` rewritten as the spec says, nothing else changed."""
    assert m.mail_from == USER, "envelope sender %r, expected the account %r" % (m.mail_from, USER)
    assert m.login == USER and m.tls
    got = parsed(m)
    frm = one_addr(got, "From")
    assert frm.addr_spec == USER, "From: %r" % str(got["From"])
    assert frm.display_name == display_name, "display name lost: From: %r" % str(got["From"])
    rt = one_addr(got, "Reply-To")
    assert rt.addr_spec == reply_to, "Reply-To: %r" % str(got["Reply-To"])
    for gone in ("Sender", "Return-Path"):
        assert got.get_all(gone) is None, "%s: still present: %r" % (gone, got.get_all(gone))
    mids = got.get_all("Message-ID") or []
    assert len(mids) == 1 and re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", str(mids[0]).strip()), \
        "Message-ID: %r" % mids
    ohead, obody = split(orig)
    assert m.body == obody, "body changed:\nsent %r\ngot  %r" % (obody, m.body)
    # every other header field arrives byte-identical and in the same order
    dropped = {"from", "sender", "return-path"}
    kept = [raw for n, raw in split_header_fields(ohead) if n.lower() not in dropped]
    received = [raw for _, raw in m.header_fields()]
    it = iter(received)
    for raw in kept:
        assert any(raw == r for r in it), \
            "header field %r changed, lost or reordered; got:\n%s" % (raw, m.head.decode(
                "utf-8", "replace"))
    onames = {n.lower() for n, _ in split_header_fields(ohead)}
    allowed = onames | {"from", "reply-to", "message-id", "received"}
    added = [n for n, _ in m.header_fields() if n.lower() not in allowed]
    assert not added, "unexpected header fields added: %r" % added
    if keep_reply_to:
        assert [r for n, r in m.header_fields() if n.lower() == "reply-to"] == \
            [r for n, r in split_header_fields(ohead) if n.lower() == "reply-to"]
    if keep_message_id:
        assert [r for n, r in m.header_fields() if n.lower() == "message-id"] == \
            [r for n, r in split_header_fields(ohead) if n.lower() == "message-id"]


def sent_re(rcpt):
    return r"^relayd: .*\bto=<%s>.*\bstatus=sent\b" % re.escape(rcpt)


def status_re(rcpt, status):
    return r"^relayd: .*\bto=<%s>.*\bstatus=%s\b" % (re.escape(rcpt), status)


# ---- configuration check ------------------------------------------------------------------

def test_config_check_accepts_good_config(make_relay, provider):
    r = make_relay(provider, start=False)
    p = r.check()
    assert p.returncode == 0, "relayd -t rejected a good config (exit %d):\n%s\n%s" % (
        p.returncode, p.stderr, r.config_text)


def test_config_check_warns_of_a_password_others_can_read(make_relay, provider):
    """An inline password in a relay.conf every user can read is a warning at -t (and at
    start), naming file, line and key; readable by the owner only, it is not."""
    r = make_relay(provider, start=False)
    conf = r.write_config()
    conf.chmod(0o644)
    p = r.check()
    assert p.returncode == 0, p.stderr
    assert re.search(r"^%s:\d+: accounts\[0\]\.password: warning: a password written "
                     r"in a file every user of this host can read \(mode 0644\)"
                     % re.escape(str(conf)), p.stderr, re.M), p.stderr
    conf.chmod(0o600)
    p = r.check()
    assert p.returncode == 0 and "warning" not in p.stderr, p.stderr


def _acct(r, **kw):
    r.settings["accounts"][0].update(kw)


# (name, change to the settings, offending key, text on the offending line or None)
BAD_CONFIGS = [
    ("tls-none-remote", lambda r: _acct(r, tls="none", host="smtp.mail.ru"), "tls",
     'tls = "none"'),
    ("tls-unknown", lambda r: _acct(r, tls="ssl3"), "tls", 'tls = "ssl3"'),
    ("port-70000", lambda r: _acct(r, port=70000), "port", "port = 70000"),
    ("port-zero", lambda r: _acct(r, port=0), "port", "port = 0"),
    ("unknown-top-key", lambda r: r.settings.update(colour="blue"), "colour", "colour = "),
    ("unknown-account-key", lambda r: _acct(r, hots="localhost"), "hots", "hots = "),
    ("missing-accounts", lambda r: r.settings.update(accounts=None), "accounts", None),
    ("listen-not-loopback", lambda r: r.settings.update(listen=["192.0.2.1:2525"]), "listen",
     "listen = "),
    ("listen-wildcard", lambda r: r.settings.update(listen=["[::]:2525"]), "listen",
     "listen = "),
    ("max-size-string", lambda r: r.settings.update(max_message_size="big"),
     "max_message_size", "max_message_size = "),
]


@pytest.mark.parametrize("change,key,needle", [c[1:] for c in BAD_CONFIGS],
                         ids=[c[0] for c in BAD_CONFIGS])
def test_config_check_rejects_bad_config(make_relay, provider, change, key, needle):
    r = make_relay(provider, start=False)
    change(r)
    r.write_config()
    p = r.check()
    where = "%s\n--- stderr:\n%s--- config:\n%s" % (key, p.stderr, r.config_text)
    assert p.returncode == 1, "relayd -t exit %d, expected 1 for bad %s" % (p.returncode, where)
    line = r"\d+" if needle is None else str(line_of(r.config_text, needle))
    # FILE:LINE: key: problem  (the key may come with its path and index: accounts.[0].tls,
    # accounts[0].tls, listen[0])
    rx = r"^%s:%s: (?:\S*[.\]])?%s(?:\.?\[\d+\])?: \S" % (re.escape(str(r.conf)), line,
                                                         re.escape(key))
    assert re.search(rx, p.stderr, re.M), "no line matching /%s/ for bad %s" % (rx, where)


def test_config_check_reports_libconfig_syntax_error(make_relay, provider):
    r = make_relay(provider, start=False)
    text = r.config_text.replace("max_message_size = 31457280;", "max_message_size = ;")
    r.write_config(text)
    p = r.check()
    assert p.returncode == 1, p.stderr
    assert re.search(r"^%s:%d: " % (re.escape(str(r.conf)),
                                    line_of(text, "max_message_size")), p.stderr, re.M), p.stderr


# ---- SMTP service -------------------------------------------------------------------------

def test_ehlo_keywords(relay):
    with relay.smtp() as s:
        code, _ = s.ehlo("app.test")
        assert code == 250
        for kw in ("pipelining", "8bitmime", "enhancedstatuscodes", "size"):
            assert s.has_extn(kw), "EHLO lacks %s: %r" % (kw.upper(), s.ehlo_resp)
        assert s.esmtp_features["size"] == "31457280"
        s.quit()


ESC = re.compile(r"^([245])\.\d{1,3}\.\d{1,3}(?: |$)")


def test_enhanced_status_codes_on_every_reply(relay, provider):
    c = relay.raw()
    try:
        replies = []
        code, _ = c.reply()
        assert code == 220
        assert c.cmd("EHLO app.test")[0] == 250
        for cmd in ("NOOP", "RCPT TO:<rcpt@example.org>", "FROBNICATE", "MAIL FROM:<%s>" % APP_FROM,
                    "RSET", "MAIL FROM:<%s>" % APP_FROM, "RCPT TO:<rcpt@example.org>"):
            replies.append((cmd, c.cmd(cmd)))
        code, _ = c.cmd("DATA")
        assert code == 354
        c.send(message() + b".\r\n")
        replies.append(("<end of data>", c.reply()))
        replies.append(("QUIT", c.cmd("QUIT")))
    finally:
        c.close()
    assert replies[1][1][0] >= 500 and replies[2][1][0] >= 500   # bad sequence, unknown
    assert replies[-2][1][0] == 250
    for cmd, (code, lines) in replies:
        for line in lines:
            m = ESC.match(line)
            assert m and m.group(1) == str(code)[0], \
                "reply to %s lacks a matching enhanced status code: %d %s" % (cmd, code, line)
    provider.wait_for(1)


def test_ipv6_listener(relay, provider):
    relay.submit(message(), APP_FROM, ["rcpt@example.org"], host="::1")
    m = provider.wait_for(1)[0]
    assert m.rcpt_tos == ["rcpt@example.org"]


def test_sigterm_exits_zero(relay):
    relay.stop()          # asserts exit status 0
    relay.start()
    relay.stop()


# ---- delivery and rewriting ---------------------------------------------------------------

def test_submit_smtplib_implicit_tls_rewrites(relay, provider):
    orig = message(extra=b"Sender: robot@app.example\r\nReturn-Path: <bounces@app.example>\r\n")
    assert relay.submit(orig, "bounces@app.example", ["rcpt@example.org"]) == {}
    m = provider.wait_for(1)[0]
    assert m.rcpt_tos == ["rcpt@example.org"]
    check_rewritten(m, orig, display_name="Shop Team")
    relay.wait_log(sent_re("rcpt@example.org"))
    relay.wait_queue(0)


def test_submit_swaks(relay, provider, tmp_path):
    orig = message(extra=b"Sender: robot@app.example\r\n")
    f = tmp_path / "msg.eml"
    f.write_bytes(orig[:-2])      # swaks adds the last CRLF before its final dot
    r = relay.swaks("--from", APP_FROM, "--to", "rcpt@example.org", "--data", "@%s" % f)
    assert r.returncode == 0, r.stdout
    m = provider.wait_for(1)[0]
    check_rewritten(m, orig, display_name="Shop Team")
    relay.wait_log(sent_re("rcpt@example.org"))


@pytest.mark.parametrize("from_hdr,display", [
    (b'"Shop Team" <crm@app.example>', "Shop Team"),
    (b"Shop Team <crm@app.example>", "Shop Team"),
    (b'"Doe, John" <crm@app.example>', "Doe, John"),
    (b"=?UTF-8?B?0JzQsNCz0LDQt9C40L0=?= <crm@app.example>", "\u041c\u0430\u0433\u0430\u0437\u0438\u043d"),
    (b"<crm@app.example>", ""),
    (b"crm@app.example", ""),
], ids=["quoted", "atoms", "comma", "rfc2047", "angle-only", "bare"])
def test_from_variants_display_name_kept(relay, provider, from_hdr, display):
    orig = message(from_hdr=from_hdr)
    relay.submit(orig, APP_FROM, ["rcpt@example.org"])
    m = provider.wait_for(1)[0]
    check_rewritten(m, orig, display_name=display)


def test_existing_reply_to_and_message_id_kept(relay, provider):
    orig = message(extra=b"Reply-To: Support <support@app.example>\r\n"
                         b"Message-ID: <order-1042.1@app.example>\r\n")
    relay.submit(orig, APP_FROM, ["rcpt@example.org"])
    m = provider.wait_for(1)[0]
    check_rewritten(m, orig, display_name="Shop Team", reply_to="support@app.example",
                    keep_reply_to=True, keep_message_id=True)


def test_starttls_provider(make_relay, provider_starttls):
    relay = make_relay(provider_starttls)
    orig = message()
    relay.submit(orig, APP_FROM, ["rcpt@example.org"])
    m = provider_starttls.wait_for(1)[0]
    assert m.tls, "message went over a clear-text session"
    check_rewritten(m, orig, display_name="Shop Team")
    clear = [e for e in provider_starttls.events if not e.tls and e.what in ("AUTH", "MAIL",
                                                                              "RCPT", "DATA")]
    assert not clear, "relayd sent %s before STARTTLS" % [e.what for e in clear]
    assert any(e.what == "STARTTLS" for e in provider_starttls.events)
    relay.wait_log(sent_re("rcpt@example.org"))


def test_no_starttls_offered_defers_without_auth(make_relay, make_provider):
    p = make_provider("none")            # clear text, AUTH offered, no STARTTLS
    relay = make_relay(p)                # account tls = "starttls"
    relay.submit(message(), APP_FROM, ["rcpt@example.org"])
    relay.wait_log(status_re("rcpt@example.org", "deferred"))
    assert [e.what for e in p.events if e.what in ("AUTH", "MAIL", "RCPT", "DATA")] == [], \
        "relayd sent credentials or mail over clear text"
    assert p.messages == [] and len(relay.queue_files()) == 1


DOTTY = (b".\r\n"
         b"..\r\n"
         b"...\r\n"
         b".leading dot\r\n"
         b"..two leading dots\r\n"
         b". space\r\n"
         b"middle\r\n"
         b".\r\n"
         b"end with a lone dot line next\r\n"
         b".\r\n")


def test_dot_stuffing_both_ways(relay, provider):
    orig = message(body=DOTTY)
    relay.submit(orig, APP_FROM, ["rcpt@example.org"])     # smtplib stuffs
    m = provider.wait_for(1)[0]
    assert m.body == DOTTY


def test_dot_stuffing_raw_client(relay, provider):
    orig = message(body=DOTTY)
    stuffed = re.sub(rb"(?m)^\.", b"..", orig)
    c = relay.raw()
    try:
        c.reply()
        c.cmd("EHLO app.test")
        assert c.cmd("MAIL FROM:<%s>" % APP_FROM)[0] == 250
        assert c.cmd("RCPT TO:<rcpt@example.org>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(stuffed + b".\r\n")
        assert c.reply()[0] == 250
        c.cmd("QUIT")
    finally:
        c.close()
    assert provider.wait_for(1)[0].body == DOTTY


# ---- certificates -------------------------------------------------------------------------

@pytest.mark.parametrize("tls,which", [("implicit", "wrong_host"), ("implicit", "self_signed"),
                                       ("implicit", "expired"), ("starttls", "wrong_host")])
def test_bad_certificate_defers_then_delivers(make_relay, make_provider, certs, tls, which):
    p = make_provider(tls, cert=getattr(certs, which))
    relay = make_relay(p)
    orig = message()
    relay.submit(orig, APP_FROM, ["rcpt@example.org"])
    relay.wait_log(r"(?i)certificate")
    relay.wait_log(status_re("rcpt@example.org", "deferred"))
    assert len(relay.queue_files()) == 1, "message not kept in the queue\n" + relay.log_tail()
    assert p.messages == [] and p.logins == 0
    assert [e.what for e in p.events if e.what in ("AUTH", "MAIL")] == [], \
        "relayd went on after a failed certificate check"
    mark = relay.mark()
    relay.wait_log(r"(?i)certificate", since=mark)           # it retries (and fails again)
    assert p.messages == []
    p.restart(cert=certs.good.cert, key=certs.good.key)
    m = p.wait_for(1)[0]
    check_rewritten(m, orig, display_name="Shop Team")
    relay.wait_log(sent_re("rcpt@example.org"))
    relay.wait_queue(0)


# ---- outages and crashes ------------------------------------------------------------------

def test_provider_down_then_up(relay, provider):
    provider.stop()
    relay.submit(message(), APP_FROM, ["rcpt@example.org"])
    relay.wait_log(status_re("rcpt@example.org", "deferred"))
    relay.wait_queue(1)
    provider.start()
    assert provider.wait_for(1)[0].rcpt_tos == ["rcpt@example.org"]
    relay.wait_log(sent_re("rcpt@example.org"))
    relay.wait_queue(0)


def test_dropped_session_reconnects(relay, provider):
    relay.submit(message(subject=b"one"), APP_FROM, ["rcpt@example.org"])
    provider.wait_for(1)
    provider.restart()                   # kills relayd's cached session
    relay.submit(message(subject=b"two"), APP_FROM, ["rcpt@example.org"])
    msgs = provider.wait_for(2)
    assert sorted(m.header("Subject")[0] for m in msgs) == ["one", "two"]


def test_kill9_after_250_provider_down(relay, provider):
    provider.stop()
    orig = message()
    relay.submit(orig, APP_FROM, ["rcpt@example.org"])
    relay.kill9()                        # right after the 250
    assert len(relay.queue_files()) == 1, "250 given but nothing on disk"
    provider.start()
    relay.start()
    m = provider.wait_for(1)[0]
    check_rewritten(m, orig, display_name="Shop Team")
    relay.wait_queue(0)
    time.sleep(1.0)
    assert len(provider.messages) == 1, "delivered %d times" % len(provider.messages)


def test_kill9_during_delivery_at_least_once(relay, provider):
    n = 5
    with relay.smtp() as s:
        for i in range(n):
            s.sendmail(APP_FROM, ["rcpt@example.org"],
                       message(extra=b"X-Test-Seq: %d\r\n" % i))
        relay.kill9()                    # right after the last 250
    relay.start()

    def seqs():
        return [m.header("X-Test-Seq")[0] for m in provider.messages]
    deadline = time.monotonic() + 20
    while set(seqs()) != {str(i) for i in range(n)} and time.monotonic() < deadline:
        time.sleep(0.1)
    got = seqs()
    assert set(got) == {str(i) for i in range(n)}, "lost messages: have %s\n%s" % (
        sorted(got), relay.log_tail())
    relay.wait_queue(0)
    dups = len(got) - n
    if dups:
        warnings.warn("kill -9 during delivery: %d duplicate(s) at the provider: %s"
                      % (dups, sorted(got)))
        print("DUPLICATES after kill -9:", sorted(got))


# ---- smuggling and size -------------------------------------------------------------------

SMUGGLED = (b"MAIL FROM:<evil@attacker.example>\r\n"
            b"RCPT TO:<victim@example.org>\r\n"
            b"DATA\r\n"
            b"From: ceo@app.example\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n")

SMUGGLE = {
    "lf-dot-lf": b"Subject: legit\r\n\r\nhello\n.\n" + SMUGGLED + b"\r\n.\r\n",
    "crlf-dot-lf": b"Subject: legit\r\n\r\nhello\r\n.\n" + SMUGGLED + b"\r\n.\r\n",
    "lf-dot-crlf": b"Subject: legit\r\n\r\nhello\n.\r\n" + SMUGGLED + b"\r\n.\r\n",
    "cr-dot-cr": b"Subject: legit\r\n\r\nhello\r.\r" + SMUGGLED + b"\r\n.\r\n",
    "cr-dot-crlf": b"Subject: legit\r\n\r\nhello\r.\r\n" + SMUGGLED + b"\r\n.\r\n",
    "bare-lf-in-body": b"Subject: legit\r\n\r\nline one\nline two\r\n.\r\n",
    "bare-cr-in-body": b"Subject: legit\r\n\r\nline one\rline two\r\n.\r\n",
}


@pytest.mark.parametrize("payload", list(SMUGGLE.values()), ids=list(SMUGGLE))
def test_bare_cr_lf_smuggling_refused(relay, provider, payload):
    c = relay.raw(timeout=5)
    replies = []
    try:
        c.reply()
        c.cmd("EHLO app.test")
        assert c.cmd("MAIL FROM:<%s>" % APP_FROM)[0] == 250
        assert c.cmd("RCPT TO:<rcpt@example.org>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        try:
            c.send(payload + b"QUIT\r\n")
            while len(replies) < 8:
                replies.append(c.reply())
        except (ConnectionError, OSError):
            pass
        closed = c.closed(5)
    finally:
        c.close()
    # then a normal message, to have something to wait for
    relay.submit(message(subject=b"after"), APP_FROM, ["rcpt@example.org"])
    provider.wait_for(1)
    time.sleep(1.5)
    msgs = provider.messages
    bad = [m for m in msgs if "victim@example.org" in m.rcpt_tos]
    assert not bad, "SMUGGLED MESSAGE DELIVERED: %r" % [(m.rcpt_tos, m.data) for m in bad]
    bad = [m for m in msgs if b"smuggled" in m.data]
    assert not bad, ("smuggled commands forwarded inside a message (bare CR/LF passed on to "
                     "the provider, which may split it): %r" % [m.data for m in bad])
    assert replies, "no reply at all to the DATA content"
    code, lines = replies[0]
    assert code == 521 and lines[0].startswith("5.5.2"), \
        "expected 521 5.5.2 after bare CR/LF, got %r" % replies
    assert closed, "connection not closed after 521"
    assert [m.header("Subject") for m in msgs] == [["after"]], \
        "something of the refused transaction was queued: %r" % [m.data for m in msgs]


def test_oversized_message_552(make_relay, provider):
    relay = make_relay(provider, max_message_size=10000)
    big = message(body=(b"x" * 76 + b"\r\n") * 260)          # ~20 kB
    small = message(subject=b"small")
    with relay.smtp() as s:
        s.ehlo("app.test")
        assert s.esmtp_features.get("size") == "10000"
        with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as ei:
            s.sendmail(APP_FROM, ["rcpt@example.org"], big)    # declares SIZE=
        assert ei.value.smtp_code == 552 and b"5.3.4" in ei.value.smtp_error
    c = relay.raw()                                            # no SIZE=: caught after DATA
    try:
        c.reply()
        c.cmd("EHLO app.test")
        assert c.cmd("MAIL FROM:<%s>" % APP_FROM)[0] == 250
        assert c.cmd("RCPT TO:<rcpt@example.org>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(big + b".\r\n")
        code, lines = c.reply()
        assert code == 552 and lines[0].startswith("5.3.4"), (code, lines)
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()
    relay.submit(small, APP_FROM, ["rcpt@example.org"])
    provider.wait_for(1)
    time.sleep(1.0)
    assert [m.header("Subject") for m in provider.messages] == [["small"]]
    relay.wait_queue(0)


# ---- provider answers ---------------------------------------------------------------------

def test_rcpt_5xx_fails_one_recipient_others_delivered(relay, provider):
    provider.refuse_rcpt("nobody@example.org",
                         "550 5.1.1 <nobody@example.org>: Recipient address rejected")
    rcpts = ["a@example.org", "nobody@example.org", "b@example.org"]
    assert relay.submit(message(), APP_FROM, rcpts) == {}
    relay.wait_log(status_re("nobody@example.org", "failed"))
    relay.wait_log(sent_re("a@example.org"))
    relay.wait_log(sent_re("b@example.org"))
    relay.wait_queue(0)
    got = sorted(r for m in provider.messages for r in m.rcpt_tos)
    assert got == ["a@example.org", "b@example.org"]


@pytest.mark.parametrize("stage,reply", [
    ("connect", "421 4.3.2 Service not available, try later"),
    ("mail", "451 4.7.1 Try again later"),
    ("rcpt", "450 4.2.1 Mailbox busy"),
    ("data", "451 4.3.0 Temporary local problem"),
])
def test_4xx_defers_then_delivers(relay, provider, stage, reply):
    provider.add_rule(stage, reply, times=1)
    relay.submit(message(), APP_FROM, ["rcpt@example.org"])
    relay.wait_log(status_re("rcpt@example.org", "deferred"))
    provider.wait_for(1)
    relay.wait_log(sent_re("rcpt@example.org"))
    relay.wait_queue(0)
    time.sleep(1.0)
    assert len(provider.messages) == 1


def test_retry_delay_grows(relay, provider):
    # retry = { initial = 1; max = 2 }: attempts about 1 s, then 2 s, then 2 s apart
    provider.add_rule("connect", "421 4.3.2 Service not available, try later", times=3)
    relay.submit(message(), APP_FROM, ["rcpt@example.org"])
    provider.wait_for(1, timeout=20)
    t = [e.time for e in provider.events if e.what == "CONNECT"]
    assert len(t) >= 4, "expected 3 refused attempts and a good one, got %d" % len(t)
    gaps = [b - a for a, b in zip(t[:3], t[1:4])]
    assert 0.8 <= gaps[0] <= 2.5, "first retry after %.2fs, retry.initial is 1 s" % gaps[0]
    assert all(g <= 3.5 for g in gaps), "retry.max is 2 s, gaps %s" % gaps
    assert gaps[1] >= gaps[0] - 0.3 and gaps[2] >= gaps[1] - 0.3, "delays shrink: %s" % gaps


def test_session_reused_for_many_messages(relay, provider):
    n = 5
    for i in range(n):
        relay.submit(message(extra=b"X-Test-Seq: %d\r\n" % i), APP_FROM, ["rcpt@example.org"])
    msgs = provider.wait_for(n)
    assert provider.logins == 1, "%d AUTH logins for %d quick messages (want 1)" % (
        provider.logins, n)
    assert provider.connections == 1 and len({m.conn for m in msgs}) == 1
    assert provider.max_concurrent <= 1, "sessions = 1 but %d parallel sessions" % (
        provider.max_concurrent)


def test_sent_log_line_format(relay, provider):
    relay.submit(message(), APP_FROM, ["rcpt@example.org"])
    provider.wait_for(1)
    m = relay.wait_log(sent_re("rcpt@example.org"))
    line = m.string
    rx = (r"^relayd: [0-9A-Za-z]+: to=<rcpt@example\.org>.* account=main\b.*"
          r" relay=localhost\[127\.0\.0\.1\]:%d\b.* delay=\d+(\.\d+)?\b.* status=sent \(250\b"
          % provider.port)
    assert re.search(rx, line), "log line %r does not match /%s/" % (line, rx)
    stray = [l for l in relay.log().splitlines()
             if l and not l.startswith(("relayd: ", "--- harness"))]
    assert not stray, "log lines without the relayd: prefix: %r" % stray[:5]

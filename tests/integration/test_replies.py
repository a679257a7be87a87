"""The reply model (issue 13): what relayd does with the replies providers really send,
end to end through relayd and the provider stand-in (tests/provider.py): replies on
several lines (multiline=True, Gmail's way), bare codes, a refusal of every recipient,
configuration errors, replies in CP1251, a reply before the message was sent and a reply
that never ends.
"""

import re
import time

import pytest

from test_quota import (account, assert_exactly_once, failed_lines, quota_relay, seq,
                        submit_all, wait_state)

LIMITS = {"per_hour": 100, "count": "messages"}
GMAIL_LIMIT = ("550 5.4.5 Daily user sending limit exceeded. For more information on Gmail "
               "sending limits go to https://support.google.com/mail/?p=ReachedLimit")


def one_relay(make_relay, p, **kw):
    kw.setdefault("limits", LIMITS)
    kw.setdefault("backoff", {"initial": 1, "max": 2})
    return quota_relay(make_relay, lambda r: [account(r, p, **kw)])


def fast_clock_relay(make_relay, p):
    """A started relay for provider p whose clock (timers too) runs 40 times faster
    (libfaketime, as in test_idle_timeout_fast_clock); skips the test without it."""
    import conftest

    if conftest.LIBFAKETIME is None:
        pytest.skip("libfaketime is not installed")
    r = make_relay(None, start=False)
    r.settings["accounts"] = [account(r, p, limits=LIMITS)]
    r.write_config()
    r.extra_env.update(LD_PRELOAD=conftest.LIBFAKETIME, FAKETIME="+0 x40",
                       ASAN_OPTIONS=conftest.ASAN_PRELOAD_OK)
    return r.start()


def refuse_one_of_two(make_relay, p, reply, rcpts):
    """nobody@example.org refused at RCPT with reply, one message to rcpts (it and
    a@example.org): returns (relay, the one status=failed line) once a@ alone got it."""
    p.refuse_rcpt("nobody@example.org", reply)
    r = one_relay(make_relay, p)
    submit_all(r, [1], rcpts=lambda n: rcpts)
    msgs = p.wait_for(1)
    r.wait_queue(0)
    assert msgs[0].rcpt_tos == ["a@example.org"]
    failed = failed_lines(r)
    assert len(failed) == 1 and "to=<nobody@example.org>" in failed[0], failed
    return r, failed[0]


@pytest.mark.deadline(60)
def test_multiline_550_5_4_5_at_data_throttles(make_provider, make_relay):
    """Gmail's daily limit after DATA, on three lines: the account is throttled (why says
    5.4.5), no recipient fails, and both recipients get the message once it lifts."""
    p = make_provider(multiline=True)
    rule = p.add_rule("data", GMAIL_LIMIT, times=1)
    r = one_relay(make_relay, p)
    submit_all(r, [1], rcpts=lambda n: ["a@example.org", "b@example.org"])
    a = wait_state(r, "main", "throttled")
    assert "550 5.4.5 Daily user sending limit exceeded" in (a["why"] or ""), a
    msgs = p.wait_for(1, timeout=20)
    assert sorted(msgs[0].rcpt_tos) == ["a@example.org", "b@example.org"]
    assert rule.fired == 1
    assert not failed_lines(r), failed_lines(r)
    r.wait_queue(0)
    # the log shows the reply in its normalised form: one line, no "550-"
    assert r.log_lines(r"status=throttled .*550 5\.4\.5 Daily user sending limit exceeded\. "
                       r"For more information on Gmail sending limits go to https://")
    assert not r.log_lines(r"550-5\.4\.5")


@pytest.mark.deadline(60)
@pytest.mark.parametrize("reply", [
    "535 5.7.8 Username and Password not accepted. Learn more at "
    "https://support.google.com/mail/?p=BadCredentials",
    "534 5.7.9 Application-specific password required. Learn more at "
    "https://support.google.com/mail/?p=InvalidSecondFactor",
])
def test_multiline_auth_refusal_disables(make_provider, make_relay, reply):
    """535-5.7.8 and 534-5.7.9 on several lines disable the account at once (one login
    attempt, not a backoff of retries), with the reply as the reason; nothing fails."""
    p = make_provider(multiline=True)
    p.add_rule("auth", reply)
    r = one_relay(make_relay, p)
    submit_all(r, [1])
    a = wait_state(r, "main", "disabled")
    assert reply[:9] in (a["why"] or ""), a
    time.sleep(3)             # retry initial 1 s: a backoff would have logged in again
    assert p.auth_failures == 1 and not p.messages, p.describe()
    assert r.account_status()["state"] == "disabled"
    assert not failed_lines(r)


@pytest.mark.deadline(60)
@pytest.mark.parametrize("multiline", [False, True])
def test_bare_550_for_every_recipient_throttles(make_provider, make_relay, multiline):
    """Yandex's limit as a plain 550 at RCPT, for all three recipients: that is the
    account being held back, not three unknown addresses. The account is throttled,
    nobody fails, and all three get the message afterwards."""
    p = make_provider(multiline=multiline)
    rule = p.add_rule("rcpt", "550", times=3)
    r = one_relay(make_relay, p)
    to = ["a@example.org", "b@example.org", "c@example.org"]
    submit_all(r, [1], rcpts=lambda n: to)
    a = wait_state(r, "main", "throttled")
    assert (a["why"] or "").startswith("550"), a
    msgs = p.wait_for(1, timeout=20)
    assert sorted(msgs[0].rcpt_tos) == to
    assert rule.fired == 3
    assert not failed_lines(r), failed_lines(r)
    assert r.log_lines(r"every recipient \(3\) refused with \"550\": taken as the account")


@pytest.mark.deadline(90)
def test_guessed_throttle_is_bounded(make_provider, make_relay):
    """A plain 550 at RCPT for the only recipient of a message, every time: each one is
    taken as the account being held back (a guess), but after 30 such attempts in a row
    the recipient fails, with a log line saying why, and the account sends on. (relayd's
    clock runs 40 times faster: the backoff of 1-2 s between attempts takes 25-50 ms.)"""
    p = make_provider()
    rule = p.add_rule("rcpt", "550", match="stuck@example.org")
    r = fast_clock_relay(make_relay, p)
    submit_all(r, [1], rcpts=lambda n: ["stuck@example.org"])
    r.wait_log(r"refused the same way in 30 attempts in a row; taken as about the message",
               timeout=60)
    r.wait_queue(0)
    failed = failed_lines(r)
    assert len(failed) == 1 and "to=<stuck@example.org>" in failed[0] and \
        "(550 (refused 30 times in a row))" in failed[0], failed
    assert rule.fired == 30
    assert r.log_lines(r"status=throttled")
    submit_all(r, [2])
    assert seq(p.wait_for(1, timeout=20)[0]) == "q-2"


@pytest.mark.deadline(60)
def test_bare_550_at_data_throttles_with_the_yandex_preset(make_provider, make_relay):
    """The yandex preset takes a bare 550 after DATA as its limit: throttled, not failed."""
    p = make_provider(multiline=True)
    p.add_rule("data", "550", times=1)
    r = one_relay(make_relay, p, provider="yandex",
                  limits={"per_hour": 100, "per_day": 1000, "min_interval": 0})
    submit_all(r, [1], rcpts=lambda n: ["a@example.org", "b@example.org"])
    wait_state(r, "main", "throttled")
    msgs = p.wait_for(1, timeout=20)
    assert sorted(msgs[0].rcpt_tos) == ["a@example.org", "b@example.org"]
    assert not failed_lines(r), failed_lines(r)


@pytest.mark.deadline(60)
def test_user_unknown_fails_only_that_recipient(make_provider, make_relay):
    """550-5.1.1 on several lines for one of two recipients: that one fails, the other
    gets the message, and the account is not throttled for it."""
    reply = "550 5.1.1 The email account that you tried to reach does not exist."
    r, failed = refuse_one_of_two(make_relay, make_provider(multiline=True), reply,
                                  ["a@example.org", "nobody@example.org"])
    assert reply in failed, failed
    assert not r.log_lines(r"status=throttled")
    assert r.account_status()["state"] == "ready"


@pytest.mark.deadline(60)
@pytest.mark.parametrize("stage", ["mail", "rcpt"])
def test_sender_not_owned_disables_with_the_reason(make_provider, make_relay, stage):
    """553 5.7.1 Sender address rejected: not owned by auth user is a configuration error
    (address and login do not belong together): the account is disabled with that reason,
    not throttled for ever, and nothing fails."""
    p = make_provider(multiline=True)
    p.add_rule(stage, "553 5.7.1 <shop@example.ru>: Sender address rejected: not owned by "
               "auth user")
    r = one_relay(make_relay, p, provider="mail.ru",
                  limits={"per_hour": 100, "per_day": 1000, "min_interval": 0})
    submit_all(r, [1])
    a = wait_state(r, "main", "disabled")
    assert "not owned by auth user" in (a["why"] or ""), a
    assert not r.log_lines(r"status=throttled")
    assert not failed_lines(r)


@pytest.mark.deadline(60)
def test_reply_before_the_message_is_not_its_answer(make_provider, make_relay):
    """The provider answers "250 queued" in the same packet as its 354, before the message
    was sent (its real answer, after the message, is 554). relayd must not take the early
    250 as the answer: it drops that attempt, logs why, and the message arrives on the
    next one."""
    p = make_provider()
    rule = p.add_rule("data", "250 2.0.0 Ok: queued as EARLY", early=True, times=1)
    r = one_relay(make_relay, p)
    submit_all(r, [1])
    msgs = p.wait_for(1, timeout=20)
    assert seq(msgs[0]) == "q-1"
    assert rule.fired == 1
    r.wait_queue(0)
    assert r.log_lines(r"replied before the message was sent \(250 2\.0\.0 Ok: queued as "
                       r"EARLY\)")
    assert len(r.log_lines(r"status=sent\b")) == 1
    assert not failed_lines(r)


@pytest.mark.deadline(60)
def test_endless_reply_is_cut_off(make_provider, make_relay):
    """A provider that answers MAIL with "250-" lines that never end holds nobody: after
    100 lines the reply is a protocol error, the attempt is deferred, and the message goes
    out on the next attempt."""
    p = make_provider()
    rule = p.add_rule("mail", None, trickle=100000, interval=0.001, times=1)
    r = one_relay(make_relay, p)
    submit_all(r, [1])
    msgs = p.wait_for(1, timeout=20)
    assert seq(msgs[0]) == "q-1" and rule.fired == 1
    assert r.log_lines(r"sent a malformed reply \(line 101; at most 100 lines")
    assert not failed_lines(r)


@pytest.mark.deadline(60)
def test_slow_endless_reply_meets_its_deadline(make_provider, make_relay):
    """A provider trickling "250-" lines slowly enough that the read timeout never fires
    (and far below the 100-line cap) is cut off by the reply's overall deadline, the
    state's timeout (300 s for MAIL; relayd's clock runs 40 times faster here, so 7.5 s):
    the attempt is deferred and the message goes out on the next one."""
    p = make_provider()
    rule = p.add_rule("mail", None, trickle=60, interval=0.5, times=1)   # 30 s in all
    r = fast_clock_relay(make_relay, p)
    t0 = time.monotonic()
    submit_all(r, [1])
    r.wait_log(r"no complete reply from \S+ within 300s in state mail", timeout=25)
    waited = time.monotonic() - t0
    assert waited < 20, "cut off after %.1f s real (300 s at x40 is 7.5 s)" % waited
    msgs = p.wait_for(1, timeout=20)
    assert seq(msgs[0]) == "q-1" and rule.fired == 1
    assert not failed_lines(r)


CP1251_SHOWN = "550 5.1.1 " + " ".join(
    "".join("\\x%02x" % b for b in w.encode("cp1251")) for w in "Нет такого пользователя".split())


@pytest.mark.deadline(60)
def test_cp1251_replies_do_not_break_anything(make_provider, make_relay):
    """A Russian provider answering in CP1251: the refused recipient fails with a readable
    reason, the other gets the message, and relayctl status --json still shows the last
    reply (the foreign bytes as \\xHH, as relayctl shows them everywhere)."""
    p = make_provider(charset="cp1251", multiline=True)
    r, failed = refuse_one_of_two(make_relay, p, "550 5.1.1 Нет такого пользователя",
                                  ["nobody@example.org", "a@example.org"])
    assert CP1251_SHOWN in failed, failed
    a = r.account_status()
    assert a["last_reply"] is not None and a["last_reply"].startswith("250"), a
    p.refuse_rcpt("again@example.org", "550 5.1.1 Нет такого пользователя")
    submit_all(r, [2], rcpts=lambda n: ["again@example.org"])
    r.wait_log(r"to=<again@example.org>.*status=failed")
    a = r.account_status()
    assert a["last_reply"] == CP1251_SHOWN, a


# ---- the stand-in's reply modes, seen by a raw client --------------------------------------

def _raw_session(p, certs):
    """A TLS socket to p reading replies as lists of raw lines (bytes)."""
    import socket
    import ssl

    ctx = ssl.create_default_context(cafile=certs.ca)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", p.port), timeout=5),
                        server_hostname="localhost")
    f = s.makefile("rb")

    def reply():
        lines = []
        while True:
            line = f.readline()
            assert line.endswith(b"\r\n"), lines + [line]
            lines.append(line[:-2])
            if line[3:4] != b"-":
                return lines

    def cmd(text):
        s.sendall(text.encode() + b"\r\n")
        return reply()
    return s, reply, cmd


def test_stand_in_multiline_charset_and_early(make_provider, certs):
    """multiline=True sends every reply on several lines (the code on each, the enhanced
    code repeated); charset="cp1251" encodes the text so; an early data rule answers in
    the same write as the 354."""
    import base64

    from conftest import PASSWORD, USER

    p = make_provider(multiline=True, charset="cp1251")
    p.add_rule("rcpt", "550 5.1.1 Нет такого пользователя", match="bad@example.org")
    p.add_rule("data", "250 2.0.0 early", early=True, times=1)
    s, reply, cmd = _raw_session(p, certs)
    try:
        assert len(reply()) >= 2                                       # the greeting
        cmd("EHLO client.test")
        auth = base64.b64encode(("\0%s\0%s" % (USER, PASSWORD)).encode()).decode()
        assert cmd("AUTH PLAIN " + auth)[-1].startswith(b"235 ")
        assert cmd("MAIL FROM:<%s>" % USER) == [b"250-2.1.0 Sender", b"250 2.1.0 OK"]
        bad = cmd("RCPT TO:<bad@example.org>")
        assert bad == ["550-5.1.1 Нет".encode("cp1251"),
                       "550 5.1.1 такого пользователя".encode("cp1251")], bad
        assert cmd("RCPT TO:<a@example.org>")[-1].startswith(b"250 ")
        s.sendall(b"DATA\r\n")
        first = reply()
        assert first[-1].startswith(b"354 "), first
        assert reply() == [b"250-2.0.0", b"250 2.0.0 early"]           # before any body
    finally:
        s.close()

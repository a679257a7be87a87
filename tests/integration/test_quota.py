"""Quotas, throttling and spill-over (issue 3): real relayd processes, the provider stand-in
(tests/provider.py) scripted to throttle, refuse and cap, and relayctl status checked
against what the provider actually received.

Time: per_hour windows are sliding hours. Tests never wait an hour: the rollover is shown
by restarting relayd with its wall clock moved forward (libfaketime, Relay.set_clock_offset).
Receive times at the provider are real time; they are mapped to relayd's clock by adding
the offset relayd ran with when the message arrived, and every "never more than the limit"
check counts the provider's receive times per sliding window in that clock.
"""

import datetime
import os
import re
import threading
import time

import pytest

from conftest import PASSWORD, USER, wait_until

HOUR = 3600
DAY = 86400
APP_FROM = "crm@app.example"
FIRST = "first@example.ru"       # logins of the two accounts in the two-account tests
SECOND = "second@example.ru"


# ---- helpers -----------------------------------------------------------------------------

# An instant in the log: until=2026-12-05T00:56:12.708Z in=56m (ISO 8601 UTC, issue 17)
LOG_TIME = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (?:in|ago)=\S+"


def log_time(iso):
    """The Unix time of an ISO 8601 UTC instant as the log writes it."""
    return datetime.datetime.strptime(iso.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z"
                                      if "." in iso else "%Y-%m-%dT%H:%M:%S%z").timestamp()


def throttled_until_times(log, name="main", new_only=True):
    """The until of each status=throttled line of account name in the log (new_only:
    not the same-episode lines), as Unix times."""
    return [log_time(x) for x in re.findall(
        r"account=%s status=throttled until=%s \(%s" % (
            name, LOG_TIME, "(?!same episode)" if new_only else ""), log)]


def message(n, tag="q", to_hdr=b"Customer <rcpt@example.org>"):
    """Message number n: its number in Subject: and X-Seq: (found again at the provider)."""
    return (b"From: \"Shop\" <crm@app.example>\r\n"
            b"To: " + to_hdr + b"\r\n"
            b"Subject: mailing " + tag.encode() + b" " + str(n).encode() + b"\r\n"
            b"Message-ID: <" + tag.encode() + b"." + str(n).encode() + b"@app.example>\r\n"
            b"X-Seq: " + tag.encode() + b"-" + str(n).encode() + b"\r\n"
            b"\r\n"
            b"Hello, this is message " + str(n).encode() + b".\r\n")


def seq(m):
    """The X-Seq: of a message the provider received ("q-7")."""
    v = m.header("X-Seq")
    assert len(v) == 1, "X-Seq: %r in %r" % (v, m.head)
    return v[0]


def submit_all(relay, numbers, tag="q", rcpts=None, conns=1, counter=None):
    """Submit message(n) for every n over `conns` parallel SMTP connections (each sends
    its share one after another); rcpts(n) -> recipient list (default one each).
    counter: a list whose [0] is incremented after each 250 (read by samplers)."""
    numbers = list(numbers)
    shares = [numbers[i::conns] for i in range(conns)]
    errors = []
    lock = threading.Lock()

    def run(share):
        try:
            with relay.smtp(timeout=30) as s:
                for n in share:
                    to = rcpts(n) if rcpts else ["rcpt%d@example.org" % n]
                    refused = s.sendmail(APP_FROM, to, message(n, tag))
                    assert not refused, refused
                    if counter is not None:
                        with lock:
                            counter[0] += 1
                s.quit()
        except Exception as e:          # reported by the caller, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(sh,), daemon=True) for sh in shares if sh]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "submission threads still running"
    assert not errors, "submission failed: %r" % errors


def max_in_window(times, window):
    """Largest number of times in any half-open window (t - window, t]."""
    ts = sorted(times)
    best = j = 0
    for i, t in enumerate(ts):
        while ts[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def relay_clock(times, phases):
    """Map real receive times to relayd's clock. phases: [(real start, offset)], in order:
    a time at or after a phase's start (and before the next's) gets that offset."""
    out = []
    for t in times:
        off = 0
        for start, o in phases:
            if t >= start:
                off = o
        out.append(t + off)
    return out


def units(msgs, count="messages"):
    return len(msgs) if count == "messages" else sum(len(m.rcpt_tos) for m in msgs)


def account(relay, prov, name="main", user=USER, limits=None, **kw):
    """An account entry pointing at the provider stand-in prov (tests set limits, backoff,
    rules, provider = PRESET...)."""
    preset = kw.pop("provider", None)       # account_for's own argument has that name
    a = relay.account_for(prov, name=name, username=user, **kw)
    if preset is not None:
        a["provider"] = preset
    if limits is not None:
        a["limits"] = limits
    return a


def quota_relay(make_relay, accounts_of, **settings):
    """A started relay whose accounts are accounts_of(relay) (they need the relay's certs)."""
    r = make_relay(None, start=False, **settings)
    r.settings["accounts"] = accounts_of(r)
    r.write_config()
    return r.start()


def check_window(w, name, what):
    """One quota window of relayctl status is self-consistent."""
    assert isinstance(w["used"], int) and w["used"] >= 0, (name, what, w)
    if w["limit"] is None:
        assert w["remaining"] is None, (name, what, w)
        return
    assert w["used"] <= w["limit"], "%s: %s used %d > limit %d" % (name, what, w["used"],
                                                                    w["limit"])
    assert w["remaining"] == w["limit"] - w["used"], (name, what, w)


STATES = {"ready", "throttled", "backoff", "exhausted", "disabled"}


def check_status(st):
    """relayctl status --json is consistent with itself."""
    for a in st["accounts"]:
        assert a["state"] in STATES, a
        check_window(a["hour"], a["name"], "hour")
        check_window(a["day"], a["name"], "day")
        assert a["hour"]["used"] <= a["day"]["used"], a
        if a["state"] == "exhausted":
            assert a["next_free"] is not None, a
        if a["state"] in ("throttled", "disabled"):
            assert a["why"], a
    q = st["queue"]
    # every message is in one state, counted as queue list and the metrics count it
    assert q["total"] == q["waiting"] + q["deferred"] + q["held"] + q["inflight"], q
    assert min(q["waiting"], q["deferred"], q["held"], q["inflight"]) >= 0, q
    assert q["recipients"] >= q["total"], q        # a queued message has a pending recipient


def wait_state(relay, name, state, timeout=10.0):
    """Poll relayctl status until account name is in state; returns that account entry."""
    seen = []

    def probe():
        for a in relay.status()["accounts"]:
            if a["name"] == name:
                if not seen or seen[-1] != a["state"]:
                    seen.append(a["state"])
                return a if a["state"] == state else None
        raise AssertionError("no account %r" % name)
    return wait_until(probe, timeout, "account %s in state %s" % (name, state),
                      interval=0.05, detail=lambda: "states seen: %r\n%s" % (
                          seen, relay.log_tail()))


def failed_lines(relay):
    return relay.log_lines(r"status=failed\b")


def assert_exactly_once(msgs, expected):
    """Every expected X-Seq at the provider(s) exactly once; nothing else."""
    got = {}
    for m in msgs:
        got[seq(m)] = got.get(seq(m), 0) + 1
    dups = {k: v for k, v in got.items() if v > 1}
    missing = set(expected) - set(got)
    extra = set(got) - set(expected)
    assert not dups and not missing and not extra, \
        "duplicates %r, missing %r, unexpected %r" % (dups, sorted(missing), sorted(extra))


# ---- hourly cap, restart, rollover -------------------------------------------------------

@pytest.mark.deadline(90)
def test_hourly_cap_holds_across_restart_and_rolls_over(make_provider, make_relay):
    """per_hour = 3, five messages: three go, two wait. A clean restart and a kill -9 both
    keep the hour used (the ledger is in the spool): still three. Restarted with its clock
    1 h 1m 40s ahead, relayd sends the other two. No sliding hour (in relayd's clock) ever
    holds more than three, and relayctl status says so at each step."""
    p = make_provider()
    r = quota_relay(make_relay, lambda r: [account(r, p, limits={
        "per_hour": 3, "per_day": 100, "count": "messages"})])
    phases = [(0, 0)]
    t0 = time.time()
    submit_all(r, range(1, 6))
    p.wait_for(3)
    p.expect_quiet(2, 3)

    def held(where):
        st = r.status()
        check_status(st)
        a = st["accounts"][0]
        assert a["state"] == "exhausted", (where, a)
        assert a["hour"] == {"used": 3, "limit": 3, "remaining": 0}, (where, a)
        assert a["day"] == {"used": 3, "limit": 100, "remaining": 97}, (where, a)
        # the hour frees up an hour after the first send (relayd's clock = real here)
        assert t0 - 2 + HOUR <= a["next_free"] <= time.time() + 2 + HOUR, (where, a)
        assert st["queue"]["total"] == 2 and st["queue"]["recipients"] == 2, (where, st)
        assert st["queue"]["drain_estimate"] is not None, (where, st)
    held("after the first three")
    ledger = r.spool / "ledger" / USER       # the ledger follows the mailbox (issue 13)
    assert ledger.is_file(), "no ledger at %s" % ledger
    assert len([l for l in ledger.read_text().splitlines() if l.startswith("R ")]) == 3, \
        ledger.read_text()

    r.restart()
    p.expect_quiet(2, 3)
    held("after a restart")

    r.kill9()
    r.start()
    p.expect_quiet(2, 3)
    held("after kill -9 and a start")

    r.stop()
    r.set_clock_offset(HOUR + 100)
    phases.append((time.time(), HOUR + 100))
    r.start()
    msgs = p.wait_for(5, timeout=15)
    p.expect_quiet(2, 5)
    assert_exactly_once(msgs, ["q-%d" % i for i in range(1, 6)])
    r.wait_queue(0)
    st = r.status()
    check_status(st)
    a = st["accounts"][0]
    assert a["hour"] == {"used": 2, "limit": 3, "remaining": 1}, a
    assert a["day"] == {"used": 5, "limit": 100, "remaining": 95}, a
    assert a["state"] == "ready", a
    assert st["queue"]["total"] == 0, st
    assert max_in_window(relay_clock([m.time for m in msgs], phases), HOUR) <= 3
    assert not failed_lines(r)


def test_recipient_quota_splits_a_message_across_the_hour(make_provider, make_relay):
    """count = "recipients", per_hour = 3, one message to 5 recipients: three recipients go
    now, two wait for quota (the message stays queued with 2 recipients pending), and
    they go once the hour has rolled over (restart with the clock 1 h ahead)."""
    p = make_provider()
    r = quota_relay(make_relay, lambda r: [account(r, p, limits={
        "per_hour": 3, "count": "recipients"})])
    to = ["r%d@example.org" % i for i in range(5)]
    submit_all(r, [1], rcpts=lambda n: to)
    msgs = p.wait_for(1)
    p.expect_quiet(2, 1)
    assert len(msgs[0].rcpt_tos) == 3, msgs[0].rcpt_tos
    st = r.status()
    check_status(st)
    assert st["accounts"][0]["hour"]["used"] == 3, st
    assert st["queue"] == dict(st["queue"], total=1, recipients=2), st
    r.stop()
    r.set_clock_offset(HOUR + 100)
    r.start()
    msgs = p.wait_for(2)
    p.expect_quiet(1, 2)
    got = [a for m in msgs for a in m.rcpt_tos]
    assert sorted(got) == sorted(to), got
    r.wait_queue(0)
    assert r.account_status()["hour"]["used"] == 2


# ---- throttling --------------------------------------------------------------------------

@pytest.mark.deadline(60)
def test_553_at_mail_throttles_the_account_and_everything_arrives(make_provider, make_relay):
    """After 3 messages the provider answers 553 at MAIL for 4 s (Mail.ru's "slow down").
    relayd suspends the account (backoff 2 s, doubling), shows it as throttled with the
    reply, does not hammer (each refused attempt one backoff after the last, none in
    between, also with two sessions), fails nothing, and all 8 messages arrive once."""
    p = make_provider()
    rule = p.add_rule("mail", "553 5.7.1 The server does not want to send your message now",
                      after=3, duration=4)
    r = quota_relay(make_relay, lambda r: [account(
        r, p, sessions=2, backoff={"initial": 2, "max": 4},
        limits={"per_hour": 100, "count": "messages"})])
    submit_all(r, range(1, 9))
    a = wait_state(r, "main", "throttled")
    assert "553" in (a["why"] or ""), a
    assert a["until"] >= int(time.time()), a
    msgs = p.wait_for(8, timeout=30)
    p.expect_quiet(1, 8)
    assert_exactly_once(msgs, ["q-%d" % i for i in range(1, 9)])
    assert not failed_lines(r), failed_lines(r)
    assert r.log_lines(r"account=main status=throttled")
    # no hammering: 553 twice (the rule lives 4 s: at 0 s, then after ~2 s), spaced by a
    # backoff (relayd counts whole seconds, so a 2 s backoff is at least 1 s of real time)
    # (both sessions may meet the same episode at once: one 553 each, one backoff step)
    ft = [t for i, t in enumerate(rule.fired_times) if i == 0 or
          t - rule.fired_times[i - 1] > 0.3]
    assert 1 <= len(ft) <= 3, "553 given %d times: %r" % (len(ft), rule.fired_times)
    assert all(b - a > 1.0 for a, b in zip(ft, ft[1:])), ft
    # and no session began a transaction while the account was suspended
    untils = throttled_until_times(r.log())
    assert len(untils) == len(ft), (untils, ft)
    mails = [e.time for e in p.events if e.what == "MAIL"]
    for f, u in zip(ft, untils):
        inside = [round(t - f, 2) for t in mails if f + 0.2 < t < u]
        assert not inside, "MAIL %r s after a 553, suspended until %d (553 at %.2f)" % (
            inside, u, f)
    r.wait_queue(0)
    st = r.status()
    check_status(st)
    assert st["accounts"][0]["hour"]["used"] == 8, st     # refused tries are not counted
    assert st["accounts"][0]["state"] == "ready", st


@pytest.mark.deadline(60)
def test_550_at_data_with_a_throttle_rule_suspends_and_everything_arrives(make_provider,
                                                                          make_relay):
    """rules = ( { match = "^550 "; stage = "data"; action = "throttle"; } ) makes Yandex's
    550 after DATA a throttle: the account is suspended, nothing fails, all 6 arrive, and
    the refused transactions are not counted against the quota."""
    p = make_provider()
    rule = p.add_rule("data", "550 5.7.1 Message rejected under suspicion of abuse", after=2,
                      duration=3)
    r = quota_relay(make_relay, lambda r: [account(
        r, p, backoff={"initial": 1, "max": 2},
        rules=[{"match": "^550 ", "stage": "data", "action": "throttle"}],
        limits={"per_hour": 100, "count": "messages"})])
    submit_all(r, range(1, 7))
    a = wait_state(r, "main", "throttled")
    assert "550" in (a["why"] or ""), a
    msgs = p.wait_for(6, timeout=30)
    p.expect_quiet(1, 6)
    assert_exactly_once(msgs, ["q-%d" % i for i in range(1, 7)])
    assert rule.fired >= 1
    assert not failed_lines(r), failed_lines(r)
    r.wait_queue(0)
    assert r.account_status()["hour"]["used"] == 6


@pytest.mark.deadline(60)
def test_backoff_doubles_while_throttled_and_resets_after_a_success(make_provider,
                                                                    make_relay):
    """backoff = { initial = 2; max = 8; }: 553 on two attempts in a row suspends for 2 s,
    then 4 s; after a success the next 553 suspends for 2 s again (the backoff reset).
    Measured as relayd's `until` (whole seconds) minus the moment the provider refused."""
    p = make_provider()
    first = p.add_rule("mail", "553 5.7.1 Try later", after=2, times=2)
    again = p.add_rule("mail", "553 5.7.1 Try later", after=4, times=1)
    r = quota_relay(make_relay, lambda r: [account(
        r, p, backoff={"initial": 2, "max": 8}, limits={"per_hour": 100})])
    submit_all(r, range(1, 7))
    msgs = p.wait_for(6, timeout=30)
    assert_exactly_once(msgs, ["q-%d" % i for i in range(1, 7)])
    fired = first.fired_times + again.fired_times
    untils = throttled_until_times(r.log(), new_only=False)
    assert len(fired) == 3 and len(untils) == 3, (fired, untils)
    held = [round(u - f, 2) for f, u in zip(fired, untils)]
    assert 1 < held[0] <= 2.05 and 3 < held[1] <= 4.05 and 1 < held[2] <= 2.05, \
        "suspensions %r s; expected ~2, ~4 (doubled), ~2 (reset by the success)" % held
    assert not failed_lines(r)


# ---- message size ------------------------------------------------------------------------

def big_message(n, size):
    """message(n) padded to about size bytes more, in 78-character lines."""
    return message(n) + (b"x" * 76 + b"\r\n") * (size // 78 + 1)


def test_message_too_big_for_an_account_goes_to_one_that_takes_it(make_provider,
                                                                  make_relay):
    """first: max_message_size = 2000; a small message goes through the first account, a
    5 kB one through the second. With only the small account, the big message fails at
    once with a reason that says why; the small one is sent."""
    p1 = make_provider(user=FIRST)
    p2 = make_provider(user=SECOND)
    r = quota_relay(make_relay, lambda r: two_accounts(
        r, p1, p2, {"per_hour": 100, "max_message_size": 2000}))
    r.submit(message(1), APP_FROM, ["small@example.org"])
    p1.wait_for(1)
    r.submit(big_message(2, 5000), APP_FROM, ["big@example.org"])
    p2.wait_for(1)
    r.wait_queue(0)
    assert [seq(m) for m in p1.messages] == ["q-1"] and [seq(m) for m in p2.messages] == \
        ["q-2"]
    assert not failed_lines(r)
    p1.reset()
    r2 = quota_relay(make_relay, lambda r: [account(
        r, p1, name="first", user=FIRST, limits={"max_message_size": 2000})])
    with r2.smtp() as s:
        s.sendmail(APP_FROM, ["big@example.org"], big_message(1, 5000))
        s.sendmail(APP_FROM, ["small@example.org"], message(2))
        s.quit()
    line = r2.wait_log(r"to=<big@example.org>.*status=failed").string
    assert "too big" in line or "max_message_size" in line, line
    msgs = p1.wait_for(1)
    r2.wait_queue(0)
    assert [seq(m) for m in msgs] == ["q-2"]


def test_small_message_behind_a_big_one_goes_through_the_first_account(make_provider,
                                                                       make_relay):
    """first: max_message_size = 2000. A 5 kB message and then a small one in one
    connection: the big one has to go through the second account; the small one belongs
    to the first (config order), not to whichever session happens to be open."""
    p1 = make_provider(user=FIRST)
    p2 = make_provider(user=SECOND)
    p2.add_rule("connect", None, delay=0.5)   # both are queued before it can take one
    r = quota_relay(make_relay, lambda r: two_accounts(
        r, p1, p2, {"per_hour": 100, "max_message_size": 2000}))
    with r.smtp() as s:
        s.sendmail(APP_FROM, ["big@example.org"], big_message(1, 5000))
        s.sendmail(APP_FROM, ["small@example.org"], message(2))
        s.quit()
    wait_until(lambda: len(p1.messages) + len(p2.messages) >= 2, 15, "both messages")
    r.wait_queue(0)
    assert [seq(m) for m in p2.messages] == ["q-1"], [seq(m) for m in p2.messages]
    assert [seq(m) for m in p1.messages] == ["q-2"], [seq(m) for m in p1.messages]


# ---- spill-over --------------------------------------------------------------------------

def two_accounts(r, p1, p2, first_limits, second_limits=None, **first_kw):
    return [account(r, p1, name="first", user=FIRST, limits=first_limits, **first_kw),
            account(r, p2, name="second", user=SECOND,
                    limits=second_limits or {"per_hour": 100, "count": "messages"})]


def check_sent_as(m, user):
    assert m.login == user, (m.login, user)
    assert m.mail_from == user, "MAIL FROM <%s>, account %s" % (m.mail_from, user)
    frm = m.header("From")
    assert len(frm) == 1 and re.search(r"<%s>$" % re.escape(user), frm[0]), frm


@pytest.mark.deadline(60)
def test_spill_over_in_config_order(make_provider, make_relay):
    """Two accounts, the first with per_hour = 3. Messages sent one by one: 1-3 go through
    the first account, 4-7 through the second, each with MAIL FROM and From: rewritten to
    its account's address. Then a burst of 10 into a fresh relay (first account with two
    sessions in flight): exactly 3 through the first, 7 through the second."""
    p1 = make_provider(user=FIRST)
    p2 = make_provider(user=SECOND)
    r = quota_relay(make_relay, lambda r: two_accounts(
        r, p1, p2, {"per_hour": 3, "count": "messages"}))
    for n in range(1, 8):
        submit_all(r, [n])
        wait_until(lambda: len(p1.messages) + len(p2.messages) >= n, 15,
                   "message %d at a provider" % n)
    p1.expect_quiet(1, 3)
    assert [seq(m) for m in p1.messages] == ["q-1", "q-2", "q-3"]
    assert [seq(m) for m in p2.messages] == ["q-4", "q-5", "q-6", "q-7"]
    for m in p1.messages:
        check_sent_as(m, FIRST)
    for m in p2.messages:
        check_sent_as(m, SECOND)
    st = r.status()
    check_status(st)
    first, second = st["accounts"]
    assert (first["name"], first["state"], first["hour"]["used"]) == ("first", "exhausted", 3)
    assert (second["name"], second["state"], second["hour"]["used"]) == ("second", "ready", 4)

    p1.reset()
    p2.reset()
    r2 = quota_relay(make_relay, lambda r: two_accounts(
        r, p1, p2, {"per_hour": 3, "count": "messages"}, sessions=2))
    submit_all(r2, range(1, 11), tag="b")
    wait_until(lambda: len(p1.messages) + len(p2.messages) >= 10, 20, "10 messages")
    p2.expect_quiet(1, 7)
    assert len(p1.messages) == 3, [seq(m) for m in p1.messages]
    assert_exactly_once(p1.messages + p2.messages, ["b-%d" % i for i in range(1, 11)])
    for m in p1.messages:
        check_sent_as(m, FIRST)
    for m in p2.messages:
        check_sent_as(m, SECOND)


@pytest.mark.deadline(60)
def test_spill_over_returns_to_the_first_account_after_its_throttle(make_provider,
                                                                    make_relay):
    """The first account is throttled (421 4.7.0 at MAIL) after 2 messages, backoff 2 s;
    meanwhile the second takes over. Once the first may send again it takes the mail
    back: the issue assigns mail "in config order: the first account with quota left
    takes it" (PROVIDERS.md: "the first allowed server is used ... until its limit is
    exhausted, then the second"). Both providers are slowish (0.1 s and 0.3 s per
    message) so that the queue outlasts the throttle and a second account that kept
    pulling mail would show. Every message arrives exactly once."""
    p1 = make_provider(user=FIRST)
    p2 = make_provider(user=SECOND)
    rule = p1.add_rule("mail", "421 4.7.0 Try again later", after=2, times=1)
    p1.add_rule("data", None, delay=0.1)
    p2.add_rule("data", None, delay=0.3)
    r = quota_relay(make_relay, lambda r: two_accounts(
        r, p1, p2, {"per_hour": 100, "count": "messages"},
        backoff={"initial": 2, "max": 2}))
    submit_all(r, range(1, 31))
    wait_until(lambda: len(p1.messages) + len(p2.messages) >= 30, 30, "30 messages")
    p1.expect_quiet(1, len(p1.messages))
    assert_exactly_once(p1.messages + p2.messages, ["q-%d" % i for i in range(1, 31)])
    assert rule.fired == 1
    until = log_time(r.wait_log(r"account=first status=throttled until=" + LOG_TIME).group(1))
    # transactions the second account began (MAIL) while / after the first was held back;
    # 0.5 s of slack for the one already under way when the first may send again
    mails = [e.time for e in p2.events if e.what == "MAIL"]
    during = [t for t in mails if t <= until]
    late = [round(t - until, 2) for t in mails if t > until + 0.5]
    after = [m for m in p1.messages if m.time > until]
    assert during, "the second account did not take over while the first was throttled"
    assert len(after) >= 10, "the first account sent only %d after its throttle" % len(after)
    assert not late, ("the second account kept taking mail after the first could send "
                      "again: %d transactions begun %r s after the first's backoff ended; "
                      "first account sent %d after it" % (len(late), late, len(after)))


# ---- batching, refused recipients --------------------------------------------------------

def test_max_recipients_splits_into_transactions(make_provider, make_relay):
    """max_recipients = 2, one message to 5 recipients: 3 upstream transactions (2+2+1),
    every recipient exactly once, the same message each time, 5 units of quota used."""
    p = make_provider()
    r = quota_relay(make_relay, lambda r: [account(r, p, limits={
        "per_hour": 100, "count": "recipients", "max_recipients": 2})])
    to = ["r%d@example.org" % i for i in range(5)]
    submit_all(r, [1], rcpts=lambda n: to)
    msgs = p.wait_for(3)
    p.expect_quiet(2, 3)
    assert sorted(len(m.rcpt_tos) for m in msgs) == [1, 2, 2], [m.rcpt_tos for m in msgs]
    got = [a for m in msgs for a in m.rcpt_tos]
    assert sorted(got) == sorted(to), got
    assert len({m.body for m in msgs}) == 1 and len({seq(m) for m in msgs}) == 1
    assert len({tuple(m.header("Message-ID")) for m in msgs}) == 1
    r.wait_queue(0)
    assert len(r.log_lines(r"status=sent\b")) == 5
    a = r.account_status()
    assert a["hour"]["used"] == 5 and a["count"] == "recipients", a


def test_refused_recipient_is_tried_once(make_provider, make_relay):
    """550 5.1.1 at RCPT for one address: that recipient fails (logged status=failed,
    RCPT for it seen exactly once, also after the retry delay has passed), the others of
    the same message are delivered, the message leaves the queue, and the account is not
    throttled for it."""
    p = make_provider()
    p.refuse_rcpt("nobody@example.org")
    r = quota_relay(make_relay, lambda r: [account(r, p, limits={
        "per_hour": 100, "count": "recipients"})])
    to = ["a@example.org", "nobody@example.org", "b@example.org"]
    submit_all(r, [1], rcpts=lambda n: to)
    msgs = p.wait_for(1)
    r.wait_queue(0)
    time.sleep(3)         # retry initial 1 s, max 2 s: a retry would have come by now
    assert len(p.messages) == 1 and sorted(msgs[0].rcpt_tos) == ["a@example.org",
                                                                  "b@example.org"]
    tries = [e for e in p.events if e.what == "RCPT" and "nobody@example.org" in (e.arg or "")]
    assert len(tries) == 1, tries
    failed = failed_lines(r)
    assert len(failed) == 1 and "to=<nobody@example.org>" in failed[0] and "5.1.1" in \
        failed[0], failed
    assert len(r.log_lines(r"status=sent\b")) == 2
    a = r.account_status()
    assert a["state"] == "ready" and a["hour"]["used"] == 2, a


# ---- disable, enable ---------------------------------------------------------------------

@pytest.mark.deadline(60)
def test_auth_failure_disables_until_relayctl_enable(make_provider, make_relay):
    """535 at AUTH (the provider has another password): the account is disabled (state
    "disabled", why = the reply), logs in once and then never again, sends nothing even
    once the provider is fixed; `relayctl enable main` makes it send."""
    p = make_provider(password="changed-elsewhere")
    r = quota_relay(make_relay, lambda r: [account(r, p, limits={"per_hour": 100})])
    submit_all(r, [1])
    r.wait_log(r"account=main status=disabled")
    a = wait_state(r, "main", "disabled")
    assert "535" in (a["why"] or ""), a
    p.password = PASSWORD                 # the operator fixes the account at the provider
    time.sleep(3)
    assert p.auth_failures == 1 and p.logins == 0 and not p.messages, p.describe()
    assert r.account_status()["state"] == "disabled"
    assert not failed_lines(r)
    bad = r.ctl("enable", "nosuch")
    assert bad.returncode != 0 and "nosuch" in bad.stderr, bad
    ok = r.ctl("enable", "main")
    assert ok.returncode == 0 and "main: enabled" in ok.stdout, ok
    msgs = p.wait_for(1)
    assert seq(msgs[0]) == "q-1"
    r.wait_queue(0)
    a = r.account_status()
    assert a["state"] == "ready" and a["why"] is None and a["hour"]["used"] == 1, a


# ---- relayctl status ---------------------------------------------------------------------

def test_status_numbers_match_the_provider(make_provider, make_relay):
    """count = "recipients", per_hour = 6, per_day = 20: messages with 1, 2 and 3
    recipients use the hour up (6 recipients at the provider = hour.used 6, remaining 0);
    two more messages wait (queue total 2, 4 recipients) and status says when quota frees
    up. The text form shows the same numbers; -c CONFIG finds the socket like -s."""
    p = make_provider()
    r = quota_relay(make_relay, lambda r: [account(r, p, limits={
        "per_hour": 6, "per_day": 20, "count": "recipients"})])
    st = r.status()
    check_status(st)
    a = st["accounts"][0]
    assert a["hour"] == {"used": 0, "limit": 6, "remaining": 6}, a
    assert st["queue"]["total"] == 0 and a["state"] == "ready", st
    rc = {1: 1, 2: 2, 3: 3, 4: 2, 5: 2}
    t0 = time.time()
    submit_all(r, [1, 2, 3], rcpts=lambda n: ["r%d.%d@example.org" % (n, i)
                                              for i in range(rc[n])])
    msgs = p.wait_for(3)
    r.wait_queue(0)
    assert units(msgs, "recipients") == 6
    a = r.account_status()
    assert a["hour"] == {"used": 6, "limit": 6, "remaining": 0}, a
    assert a["day"] == {"used": 6, "limit": 20, "remaining": 14}, a
    assert a["state"] == "exhausted" and a["count"] == "recipients", a
    assert a["provider"] is None and a["last_reply"].startswith("250"), a
    submit_all(r, [4, 5], rcpts=lambda n: ["r%d.%d@example.org" % (n, i)
                                           for i in range(rc[n])])
    p.expect_quiet(1, 3)
    st = r.status()
    check_status(st)
    a = st["accounts"][0]
    assert a["hour"]["used"] == 6 and a["state"] == "exhausted", a
    assert t0 - 1 + HOUR <= a["next_free"] <= time.time() + 1 + HOUR, a
    q = st["queue"]
    assert (q["total"], q["waiting"], q["inflight"], q["recipients"]) == (2, 2, 0, 4), q
    assert q["drain_estimate"] is not None and q["drain_estimate"] > time.time(), q

    txt = r.ctl("status")
    assert txt.returncode == 0, txt
    line = [l for l in txt.stdout.splitlines() if l.startswith("main ")]
    assert len(line) == 1, txt.stdout
    assert re.search(r"\bexhausted\b.*\b6/6\b.*\b6/20\b.*\bin (59m|60m|\d+s)\b", line[0]), \
        txt.stdout
    assert re.search(r"^queue: 2 message\(s\): 2 waiting, 0 in flight", txt.stdout, re.M), \
        txt.stdout
    byconf = r.ctl("status", "--json", config=r.conf)
    assert byconf.returncode == 0 and '"name":"main"' in byconf.stdout.replace(" ", ""), byconf


def test_drain_estimate_is_not_before_quota_frees_up(make_provider, make_relay):
    """per_hour = 6 recipients, used up; 4 recipients wait. Nothing can go before the
    hour frees up (next_free, ~1 h after the first send), so the queue cannot drain
    before then: drain_estimate >= next_free (relayctl's text: "drains in 60m", not 40m)."""
    p = make_provider()
    r = quota_relay(make_relay, lambda r: [account(r, p, limits={
        "per_hour": 6, "count": "recipients"})])
    submit_all(r, [1], rcpts=lambda n: ["r%d@example.org" % i for i in range(6)])
    p.wait_for(1)
    r.wait_queue(0)
    submit_all(r, [2, 3], rcpts=lambda n: ["s%d.%d@example.org" % (n, i) for i in range(2)])
    p.expect_quiet(1, 1)
    st = r.status()
    a = st["accounts"][0]
    assert a["state"] == "exhausted" and st["queue"]["recipients"] == 4, st
    assert st["queue"]["drain_estimate"] >= a["next_free"], \
        "drain_estimate %d s from now, but quota frees up only %d s from now" % (
            st["queue"]["drain_estimate"] - time.time(), a["next_free"] - time.time())


def test_relayctl_without_relayd_fails_clearly(make_provider, make_relay, tmp_path):
    """relayctl exits non-zero with a message naming the socket when nothing listens:
    a path with no socket, and the stale socket a killed relayd leaves behind."""
    p = make_provider()
    r = quota_relay(make_relay, lambda r: [account(r, p)])
    assert r.ctl("status").returncode == 0
    nowhere = str(tmp_path / "no.sock")
    for args, kw in (((), {"sock": nowhere}), (("--json",), {"sock": nowhere})):
        res = r.ctl("status", *args, **kw)
        assert res.returncode != 0 and res.returncode == 69, res
        assert "cannot reach relayd" in res.stderr and nowhere in res.stderr, res.stderr
        assert res.stdout == "", res.stdout
    r.kill9()
    for kw in ({}, {"config": r.conf}):
        res = r.ctl("status", **kw)
        assert res.returncode == 69, res
        assert "cannot reach relayd" in res.stderr and "running" in res.stderr, res.stderr
    res = r.ctl("enable", "main")
    assert res.returncode == 69 and "cannot reach relayd" in res.stderr, res


# ---- min_interval ------------------------------------------------------------------------

@pytest.mark.deadline(60)
def test_min_interval_spaces_sends(make_provider, make_relay):
    """min_interval = 2 with four messages queued at once: consecutive sends at least
    ~2 s apart at the provider (and no more than ~1 s beyond that: no needless pause)."""
    p = make_provider()
    r = quota_relay(make_relay, lambda r: [account(r, p, limits={
        "per_hour": 100, "count": "messages", "min_interval": 2})])
    submit_all(r, range(1, 5))
    msgs = p.wait_for(4, timeout=20)
    ts = sorted(m.time for m in msgs)
    gaps = [round(b - a, 2) for a, b in zip(ts, ts[1:])]
    assert all(g >= 1.9 for g in gaps), "sends closer than min_interval = 2: gaps %r" % gaps
    assert all(g <= 3.5 for g in gaps), "needless pauses: gaps %r" % gaps


@pytest.mark.deadline(60)
def test_min_interval_holds_for_mail_arriving_later(make_provider, make_relay):
    """min_interval = 2, a message sent late in a second (x.7); the next is submitted just
    after the second after next has begun, i.e. ~1.4 s later: it must still wait until 2 s
    have passed since the previous send."""
    p = make_provider()
    r = quota_relay(make_relay, lambda r: [account(r, p, limits={
        "per_hour": 100, "count": "messages", "min_interval": 2})])
    gaps = []
    for k in range(3):
        now = time.time()
        time.sleep((0.65 - (now % 1)) % 1)     # submit at x.65: the send lands ~x.7
        submit_all(r, [2 * k + 1])
        first = p.wait_for(2 * k + 1)[-1].time
        time.sleep(max(0, int(first) + 2.05 - time.time()))
        submit_all(r, [2 * k + 2])
        second = p.wait_for(2 * k + 2, timeout=10)[-1].time
        gaps.append(round(second - first, 2))
        assert gaps[-1] >= 1.9, \
            "min_interval = 2 but sends %r s apart (relayd counts whole seconds)" % gaps
        time.sleep(2.5)


# ---- presets -----------------------------------------------------------------------------

PRESETS = {          # name: (per_hour, per_day, count), as src/preset.c gives them
    "mail.ru": (60, 150, "recipients"),
    "yandex": (40, 80, "recipients"),
    "gmail": (100, 400, "recipients"),
    "rambler": (30, 100, "recipients"),
    "outlook": (60, 250, "recipients"),
}
# PROVIDERS.md: messages after which the provider was seen to block (Mail.ru 553 after
# ~182, Yandex 550 after ~90) or its published daily limit (Gmail 500, Outlook free ~300)
DAY_CEILINGS = {"mail.ru": 182, "yandex": 90, "gmail": 500, "outlook": 300}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_limits_show_in_status(make_provider, make_relay, preset):
    """provider = PRESET with host/port/tls pointed at the stand-in: the config loads, the
    preset's limits show in relayctl status (below what PROVIDERS.md says the provider
    punishes), and a message goes out through it."""
    p = make_provider()
    r = quota_relay(make_relay, lambda r: [account(r, p, provider=preset)])
    a = r.account_status()
    ph, pd, count = PRESETS[preset]
    assert a["provider"] == preset, a
    assert (a["hour"]["limit"], a["day"]["limit"], a["count"]) == (ph, pd, count), a
    assert ph <= pd < DAY_CEILINGS.get(preset, pd + 1), a
    submit_all(r, [1])
    msgs = p.wait_for(1)
    check_sent_as(msgs[0], USER)
    r.wait_queue(0)
    assert r.account_status()["hour"]["used"] == 1


def test_unknown_preset_is_a_config_error(make_provider, make_relay):
    p = make_provider()
    r = make_relay(None, start=False)
    r.settings["accounts"] = [account(r, p, provider="hotmail.example")]
    r.write_config()
    res = r.check()
    assert res.returncode != 0, res
    assert "hotmail.example" in res.stderr and "provider" in res.stderr, res.stderr


# ---- the mailing ("Done when") -----------------------------------------------------------

MAILING = int(os.environ.get("RELAYD_MAILING", "1000"))


@pytest.mark.deadline(max(120, MAILING // 10))
def test_mailing_two_accounts_throttle_midway_and_rollover(make_provider, make_relay):
    """The issue's "Done when": a mailing of MAILING (default 1,000; env RELAYD_MAILING)
    messages, submitted over 4 SMTP connections at once, into two accounts with limits
    smaller than the mailing, a provider that throttles midway, and an hour that has to
    roll over before the rest can go:

      first:  per_hour = 30%, per_day = 45% of the mailing (count messages), 2 sessions;
              its provider answers 553 at MAIL for 3 s after 15% of the mailing
      second: per_hour = 40%, per_day = 100%, 2 sessions

    Phase 1 (real clock): first sends its hour (30%), second its hour (40%), and 30%
    wait with both accounts exhausted. Phase 2: relayd restarted with its clock 1 h 1m 40s
    ahead (the hour has passed, the day has not): first may send only 15% more (its day),
    second the rest. Proven: every message arrives exactly once (duplicates counted),
    no account ever has more than its limit in any sliding hour or day (provider receive
    times, mapped to relayd's clock), nothing fails or bounces, and relayctl status sampled
    every ~0.2 s throughout is consistent with itself and with the provider and the log.

    Why this shape: the limits are per sliding hour, so 1,000 messages in minutes need
    either limits near the mailing's size or a moved clock; this uses both, so that both
    limits bind (hour in phase 1, day in phase 2) and the wait-for-quota state is seen."""
    n = MAILING
    lim1 = {"per_hour": n * 30 // 100, "per_day": n * 45 // 100, "count": "messages"}
    lim2 = {"per_hour": n * 40 // 100, "per_day": n, "count": "messages"}
    p1 = make_provider(user=FIRST)
    p2 = make_provider(user=SECOND)
    throttle = p1.add_rule("mail", "553 5.7.1 Sending is temporarily limited",
                           after=n * 15 // 100, duration=3)
    r = quota_relay(make_relay, lambda r: [
        account(r, p1, name="first", user=FIRST, limits=lim1, sessions=2,
                backoff={"initial": 1, "max": 2}),
        account(r, p2, name="second", user=SECOND, limits=lim2, sessions=2,
                backoff={"initial": 1, "max": 2})])
    limits = {"first": lim1, "second": lim2}
    provs = {"first": p1, "second": p2}
    submitted = [0]
    samples = []
    problems = []
    stop = threading.Event()
    up = threading.Event()         # set while relayd is up (cleared around the restart)
    up.set()
    restarts = [0]

    def count_log(text):
        return (len(re.findall(r"status=queued", text)),
                len(re.findall(r": removed$", text, re.M)))

    def sample():
        while not stop.is_set():
            try:
                if not up.wait(0.1):
                    continue
                gen = restarts[0]
                sub = submitted[0]
                q0, rm0 = count_log(r.log())
                before = {k: len(p.messages) for k, p in provs.items()}
                try:
                    st = r.status(timeout=5)
                except AssertionError:
                    if not up.is_set() or restarts[0] != gen:   # restarted meanwhile
                        continue
                    raise
                after = {k: len(p.messages) for k, p in provs.items()}
                q1, rm1 = count_log(r.log())
                samples.append(st)
                check_status(st)
                q = st["queue"]
                # while relayd still reads its spool after a restart, only the upper bound
                low = 0 if q["loading"] else sub - rm1
                assert low <= q["total"] <= q1 - rm0, (sub, q0, q1, rm0, rm1, q)
                for a in st["accounts"]:
                    lim = limits[a["name"]]
                    assert a["hour"]["limit"] == lim["per_hour"], a
                    assert a["day"]["limit"] == lim["per_day"], a
                    # the day holds everything this account sent (phase 1 and 2)
                    assert before[a["name"]] <= a["day"]["used"] <= \
                        after[a["name"]] + q["inflight"], (before, after, a, q)
            except Exception as e:           # noqa: BLE001 (reported by the test)
                problems.append("%s: %s" % (type(e).__name__, e))
                if len(problems) > 20:
                    return
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        t_start = time.monotonic()
        phases = [(0, 0)]
        submit_all(r, range(1, n + 1), tag="m", conns=4, counter=submitted)
        t_submitted = time.monotonic() - t_start
        phase1 = lim1["per_hour"] + lim2["per_hour"]
        wait_until(lambda: len(p1.messages) + len(p2.messages) >= phase1, 120,
                   "%d messages in phase 1" % phase1,
                   detail=lambda: p1.describe() + "\n" + p2.describe() + "\n" + r.log_tail())
        t_phase1 = time.monotonic() - t_start
        wait_state(r, "first", "exhausted")
        wait_state(r, "second", "exhausted")
        time.sleep(1)
        assert (len(p1.messages), len(p2.messages)) == (lim1["per_hour"], lim2["per_hour"])
        st = r.status()
        assert st["queue"]["total"] == n - phase1, st["queue"]
        assert st["queue"]["drain_estimate"] is not None, st["queue"]

        up.clear()
        restarts[0] += 1
        r.stop()
        r.set_clock_offset(HOUR + 100)
        phases.append((time.time(), HOUR + 100))
        r.start()
        up.set()
        wait_until(lambda: len(p1.messages) + len(p2.messages) >= n, 120,
                   "all %d messages" % n,
                   detail=lambda: p1.describe() + "\n" + p2.describe() + "\n" + r.log_tail())
        r.wait_queue(0, timeout=30)
        t_done = time.monotonic() - t_start
        time.sleep(1)
    finally:
        stop.set()
        sampler.join(10)

    everything = p1.messages + p2.messages
    assert_exactly_once(everything, ["m-%d" % i for i in range(1, n + 1)])
    assert throttle.fired >= 1, "the provider never throttled"
    assert r.log_lines(r"account=first status=throttled"), "relayd never saw the throttle"
    assert not failed_lines(r), failed_lines(r)[:5]
    assert len(r.log_lines(r"status=sent\b")) == n
    for name, p in provs.items():
        ts = relay_clock([m.time for m in p.messages], phases)
        hmax, dmax = max_in_window(ts, HOUR), max_in_window(ts, DAY)
        assert hmax <= limits[name]["per_hour"], (name, hmax, limits[name])
        assert dmax <= limits[name]["per_day"], (name, dmax, limits[name])
        for m in p.messages:
            check_sent_as(m, FIRST if name == "first" else SECOND)
    assert len(p1.messages) == lim1["per_day"], "first should have used its day"
    assert not problems, "relayctl status inconsistent:\n" + "\n".join(problems[:10])
    assert len(samples) >= 10, "only %d status samples" % len(samples)
    assert {"exhausted", "throttled"} <= {a["state"] for s in samples for a in s["accounts"]}
    print("mailing of %d: submitted in %.1fs, phase 1 (%d) done at %.1fs, all delivered at "
          "%.1fs; %d status samples; first %d, second %d; 553 given %d times"
          % (n, t_submitted, phase1, t_phase1, t_done, len(samples), len(p1.messages),
             len(p2.messages), throttle.fired))

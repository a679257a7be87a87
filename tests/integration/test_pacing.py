"""Pacing against what providers really do (issue 13, the scheduler's side): a reply lost
after the final dot, the order mail goes in, one throttle episode seen by several
sessions, suspensions across a restart, spill-over as the CRMs do it. Real relayd
processes and the provider stand-in (tests/provider.py)."""

import re
import time
import urllib.request

import pytest

from conftest import ASAN_PRELOAD_OK, LIBFAKETIME, free_port, wait_until
from test_quota import (FIRST, SECOND, account, assert_exactly_once, failed_lines,
                        quota_relay, seq, submit_all, throttled_until_times, two_accounts,
                        wait_state)


def throttled_untils(relay, name="main"):
    """The until= of each new suspension of account name (not the same-episode lines)."""
    return throttled_until_times(relay.log(), name)


@pytest.mark.deadline(60)
def test_reply_lost_after_the_dot_is_charged(make_provider, make_relay):
    """per_hour = 2. The provider takes the first message's data, then goes down before
    its reply to the final dot. relayd cannot know whether it was taken, so the
    transaction keeps its unit; the retry takes the second unit, and a second message
    waits for the hour: the provider sees 1 message, status says 2 used (before the
    fix: the lost one was given back, and the second message went too)."""
    p = make_provider()
    p.add_rule("data", None, delay=3, times=1)       # the reply to the dot comes late
    r = quota_relay(make_relay, lambda r: [account(r, p, limits={"per_hour": 2})])
    submit_all(r, [1])
    wait_until(lambda: any(e.what == "DATA" for e in p.events), 15, "DATA at the provider")
    time.sleep(1.0)                 # the body and its dot are there, the reply is not
    p.restart()                     # the connection drops: the outcome is unknown
    r.wait_log(r"status=deferred .*outcome unknown, charged to the quota")
    msgs = p.wait_for(1, timeout=20)
    r.wait_queue(0)
    submit_all(r, [2])
    a = wait_state(r, "main", "exhausted")
    assert a["hour"]["used"] == 2, a
    time.sleep(2)
    assert len(p.messages) == 1, [seq(m) for m in p.messages]
    assert_exactly_once(msgs, ["q-1"])
    assert not failed_lines(r)


@pytest.mark.deadline(60)
def test_mail_goes_first_in_first_out(make_provider, make_relay):
    """Eight messages queued while the account is throttled go out in the order they came
    (they went as 1, 8, 7, ... 2: ties in the heap came out last in, first out)."""
    p = make_provider()
    p.add_rule("mail", "421 4.7.0 Try again later", times=1)
    r = quota_relay(make_relay, lambda r: [account(
        r, p, backoff={"initial": 3, "max": 3}, limits={"per_hour": 100},
        rules=[{"match": "^421 ", "stage": "mail", "action": "throttle"}])])
    submit_all(r, [1])
    wait_state(r, "main", "throttled")
    submit_all(r, range(2, 9))
    msgs = p.wait_for(8, timeout=30)
    assert [seq(m) for m in msgs] == ["q-%d" % i for i in range(1, 9)], \
        [seq(m) for m in msgs]


@pytest.mark.deadline(60)
def test_one_throttle_episode_is_one_backoff_step(make_provider, make_relay):
    """Three sessions in flight all get the provider's 553 at once: the account is
    suspended for one initial backoff (2 s), not 2, 4 and 8 s."""
    p = make_provider()
    rule = p.add_rule("data", "553 5.7.1 Slow down", after=0, times=3, delay=1)
    r = quota_relay(make_relay, lambda r: [account(
        r, p, sessions=3, backoff={"initial": 2, "max": 60}, limits={"per_hour": 100},
        rules=[{"match": "^553 ", "stage": "data", "action": "throttle"}])])
    submit_all(r, range(1, 7), conns=3)
    msgs = p.wait_for(6, timeout=40)
    assert_exactly_once(msgs, ["q-%d" % i for i in range(1, 7)])
    assert rule.fired >= 2, rule.fired
    untils = throttled_untils(r)
    first = rule.fired_times[0]
    held = [round(u - first, 1) for u in untils]
    # each new suspension is one step (~2 s) after its own episode, never 4 or 8 s
    assert held and held[0] <= 3.5, "suspensions %r s after the first 553" % held
    assert max(held) <= 8, held
    assert not failed_lines(r)


@pytest.mark.deadline(60)
def test_min_interval_is_no_reason_to_spill_over(make_provider, make_relay):
    """The first account has min_interval = 1 s and quota to spare: it takes all five
    messages, one a second, as the CRMs do; the second account takes none (before: it
    took every message that came while the first waited out its interval)."""
    p1 = make_provider(user=FIRST)
    p2 = make_provider(user=SECOND)
    r = quota_relay(make_relay, lambda r: two_accounts(
        r, p1, p2, {"per_hour": 100, "count": "messages", "min_interval": 1}))
    submit_all(r, range(1, 6))
    msgs = p1.wait_for(5, timeout=20)
    assert_exactly_once(msgs, ["q-%d" % i for i in range(1, 6)])
    assert not p2.messages, [seq(m) for m in p2.messages]


@pytest.mark.deadline(60)
def test_sessions_are_used_when_there_is_work(make_provider, make_relay):
    """sessions = 3 and a slow provider (1 s per message): six messages go over three
    sessions at once (before: a second session almost never opened)."""
    p = make_provider()
    p.add_rule("data", None, delay=1)
    r = quota_relay(make_relay, lambda r: [account(r, p, sessions=3,
                                                   limits={"per_hour": 100})])
    submit_all(r, range(1, 7))
    msgs = p.wait_for(6, timeout=20)
    assert_exactly_once(msgs, ["q-%d" % i for i in range(1, 7)])
    assert p.max_concurrent == 3, p.max_concurrent


@pytest.mark.deadline(60)
def test_a_failing_account_does_not_delay_mail_the_next_can_send(make_provider,
                                                                  make_relay):
    """The first account's provider is down. The second account sends every message at
    once; none waits for the first account's backoff."""
    p1 = make_provider(user=FIRST)
    p2 = make_provider(user=SECOND)
    r = quota_relay(make_relay, lambda r: two_accounts(
        r, p1, p2, {"per_hour": 100, "count": "messages"}),
        retry={"initial": 8, "max": 8, "lifetime": 3600})
    p1.stop()
    t0 = time.time()
    for n in range(1, 4):
        submit_all(r, [n])
    msgs = p2.wait_for(3, timeout=20)
    assert_exactly_once(msgs, ["q-%d" % i for i in range(1, 4)])
    late = [round(m.time - t0, 2) for m in msgs if m.time - t0 > 3]
    assert not late, "messages waited %r s for the failing first account" % late
    assert not failed_lines(r)


@pytest.mark.deadline(60)
def test_a_restart_keeps_the_throttle(make_provider, make_relay):
    """The provider throttles (553 at MAIL); backoff 20 s. relayd is restarted 1 s
    later: it sends nothing until the suspension it knew of is over, and status shows
    the same until and why (before: it sent again 3 s after the restart)."""
    p = make_provider()
    p.add_rule("mail", "553 5.7.1 The server does not want to send your message now",
               times=1)
    r = quota_relay(make_relay, lambda r: [account(
        r, p, backoff={"initial": 20, "max": 60}, limits={"per_hour": 100})])
    submit_all(r, [1])
    a = wait_state(r, "main", "throttled")
    until = a["until"]
    assert until >= time.time() + 15, a
    mails = len([e for e in p.events if e.what == "MAIL"])
    time.sleep(1)
    r.stop()
    r.start()
    b = wait_state(r, "main", "throttled")
    assert abs(b["until"] - until) <= 1 and "553" in (b["why"] or ""), (a, b)
    # the text form shows the until (UNTIL column) and the why
    txt = r.ctl("status").stdout
    left = b["until"] - time.time()     # the backoff has +-10 % of jitter
    line = [l for l in txt.splitlines() if l.startswith("main ")]
    m = re.search(r"\bthrottled\b.* in (\d+)s +553 5\.7\.1", line[0]) if len(line) == 1 else None
    assert m and abs(int(m.group(1)) - left) <= 2, (left, txt)
    time.sleep(4)
    assert len([e for e in p.events if e.what == "MAIL"]) == mails, \
        "relayd sent into the suspension it knew of after a restart"
    assert not p.messages
    assert r.log_lines(r"status=throttled until=.*before the restart")
    ok = r.ctl("enable", "main")      # only to finish quickly
    assert ok.returncode == 0, ok
    p.wait_for(1)
    r.wait_queue(0)


@pytest.mark.deadline(60)
def test_a_restart_keeps_a_disable(make_provider, make_relay):
    """535 at AUTH disables the account. After a restart it is still disabled, with its
    reason, and relayd does not log in again; relayctl enable lets it send."""
    p = make_provider(password="changed-elsewhere")
    r = quota_relay(make_relay, lambda r: [account(r, p, limits={"per_hour": 100})])
    submit_all(r, [1])
    wait_state(r, "main", "disabled")
    r.stop()
    p.password = "secret"                   # the provider is fixed, relayd not told
    r.start()
    a = wait_state(r, "main", "disabled")
    assert "535" in (a["why"] or ""), a
    time.sleep(2)
    assert p.auth_failures == 1 and p.logins == 0 and not p.messages
    ok = r.ctl("enable", "main")
    assert ok.returncode == 0, ok
    p.wait_for(1)
    r.wait_queue(0)


@pytest.mark.deadline(60)
def test_waiting_is_not_failing_and_a_stall_is_told(make_provider, make_relay):
    """retry.lifetime = 4 s. The only account is disabled (535): the message waits
    longer than the lifetime; nothing is lost, and the operator is told: status says
    since when and why the queue is stalled, the log warns, the metric shows it. Once
    enabled, the provider answers 451 at DATA once: the message is deferred and
    delivered, not failed (before: the time it waited counted, and the first 451 failed
    it)."""
    port = free_port()
    p = make_provider(password="changed-elsewhere")
    p.add_rule("data", "451 4.3.0 Temporary trouble, try again", times=1)
    r = quota_relay(make_relay, lambda r: [account(r, p, limits={"per_hour": 100})],
                    retry={"initial": 1, "max": 1, "lifetime": 4},
                    metrics_listen="127.0.0.1:%d" % port)
    t0 = time.time()
    submit_all(r, [1])
    wait_state(r, "main", "disabled")
    r.wait_log(r"queue stalled for \d+s: 1 message\(s\) wait \(no account can send: "
               r"all are disabled; first reason: .*535")
    time.sleep(5)                                     # past the lifetime, waiting
    st = r.status()
    q = st["queue"]
    assert q["stalled_since"] is not None and t0 - 1 <= q["stalled_since"] <= t0 + 3, q
    assert "535" in q["stalled_why"], q
    txt = r.ctl("status").stdout               # the text form says it too
    assert re.search(r"^stalled: since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \(\ds ago\), no "
                     r"account can send the waiting mail: .*535", txt, re.M), txt
    assert st["accounts"][0]["disabled_since"] is not None, st
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as h:
        m = re.search(r"^relayd_queue_stalled_seconds (\d+)$", h.read().decode(), re.M)
    assert m and int(m.group(1)) >= 4, m
    p.password = "secret"
    assert r.ctl("enable", "main").returncode == 0
    msgs = p.wait_for(1, timeout=20)
    assert_exactly_once(msgs, ["q-1"])
    assert not failed_lines(r), failed_lines(r)
    assert r.log_lines(r"status=deferred \(451 ")
    assert r.status()["queue"]["stalled_since"] is None


@pytest.mark.deadline(60)
def test_a_wall_clock_step_grants_no_quota(make_provider, make_relay, tmp_path):
    """per_hour = 2, used up. The wall clock then jumps 2 h forward while relayd runs
    (libfaketime reading its offset from a file): no fresh hour: the third message
    waits, status still says 2 used and exhausted (before: the step handed out a new
    hour at once). Then it jumps 2 days back: the account is not blocked for days:
    status and the scheduler agree that the hour frees up within the hour."""
    if LIBFAKETIME is None:
        pytest.skip("libfaketime is not installed (apt-get install faketime)")
    offset = tmp_path / "faketime"
    offset.write_text("+0s\n")
    p = make_provider()
    r = make_relay(None, start=False)
    r.settings["accounts"] = [account(r, p, limits={"per_hour": 2})]
    r.write_config()
    r.extra_env.update(LD_PRELOAD=LIBFAKETIME, FAKETIME_TIMESTAMP_FILE=str(offset),
                       FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1",
                       ASAN_OPTIONS=ASAN_PRELOAD_OK)
    r.start()
    submit_all(r, [1, 2])
    p.wait_for(2)
    r.wait_queue(0)
    offset.write_text("+7200s\n")
    time.sleep(0.5)
    submit_all(r, [3])
    time.sleep(3)
    assert len(p.messages) == 2, [seq(m) for m in p.messages]
    a = wait_state(r, "main", "exhausted")
    assert a["hour"]["used"] == 2, a
    # shown on relayd's (stepped) wall clock: about an hour from its now
    assert 3000 < a["next_free"] - (time.time() + 7200) <= 3600, a
    offset.write_text("-172800s\n")
    time.sleep(0.5)
    a = wait_state(r, "main", "exhausted")
    assert a["hour"]["used"] == 2, a
    assert 3000 < a["next_free"] - (time.time() - 172800) <= 3600, a
    assert len(p.messages) == 2


@pytest.mark.deadline(60)
def test_the_ledger_follows_the_mailbox(make_provider, make_relay):
    """A ledger kept under the account's name (older versions) is moved to the mailbox's
    at start-up, and renaming the account by reload keeps the hour's count (before: a
    rename started a fresh day)."""
    p = make_provider()
    r = make_relay(None, start=False)
    r.settings["accounts"] = [account(r, p, limits={"per_hour": 3})]
    r.write_config()
    (r.spool / "ledger").mkdir(parents=True, exist_ok=True)
    (r.spool / "ledger" / "main").write_text("relayd-ledger 1\nR 1 %d 2\n" % int(time.time()))
    r.start()
    a = r.account_status("main")
    assert a["hour"]["used"] == 2, a
    assert (r.spool / "ledger" / "shop@example.ru").is_file()
    assert not (r.spool / "ledger" / "main").exists()
    submit_all(r, [1])
    p.wait_for(1)
    r.wait_queue(0)
    r.settings["accounts"][0]["name"] = "renamed"
    r.write_config()
    assert r.ctl("reload").returncode == 0
    a = r.account_status("renamed")
    assert a["hour"]["used"] == 3 and a["state"] == "exhausted", a
    submit_all(r, [2])
    time.sleep(2)
    assert len(p.messages) == 1

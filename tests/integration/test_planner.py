"""The quota planner (issue 16) end to end: real relayd processes and the provider
stand-in (tests/provider.py). A 553 after a few messages lowers the account's hour
limit to factor x what got through; relayctl status shows the configured and the
effective limit and why; a restart keeps it; hours later (libfaketime) it climbs back;
relayctl enable --reset-learned restores the configured limit. limits.spread paces the
hour instead of sending it all at once."""

import json
import time

import pytest

from conftest import wait_until
from test_quota import account, assert_exactly_once, failed_lines, quota_relay, seq, \
    submit_all

LEARN = {"factor": 0.5, "floor": 1, "recover_after": 6}
RULE_553 = [{"match": "^553 ", "stage": "mail", "action": "throttle"}]


def hour_limits(relay, name="main"):
    """(effective, configured) hour limit and the reason, from relayctl status --json."""
    a = relay.account_status(name)
    return a["hour"]["limit"], a["configured"]["per_hour"], a["limits_why"]


def planner_relay(make_provider, make_relay):
    """An account of 10 an hour whose provider answers 553 at MAIL after 3 messages."""
    p = make_provider()
    p.add_rule("mail", "553 5.7.1 The server does not want to send", after=3, times=1)
    r = quota_relay(make_relay, lambda r: [account(
        r, p, limits={"per_hour": 10, "per_day": 100, "count": "messages"}, learn=LEARN,
        rules=RULE_553, backoff={"initial": 1, "max": 1})])
    return p, r


@pytest.mark.deadline(90)
def test_a_553_lowers_the_limit_and_a_restart_keeps_it(make_provider, make_relay):
    """3 messages go, the 4th is refused with 553: the hour limit becomes 2 (0.5 x 3,
    rounded up), one log line; the day does not learn (the throttle came within the
    first hour's sending); status says so in JSON and text; the 5 others wait for
    the hour (the 3 sent count against it); after a restart the limit is the same;
    --reset-learned restores 10 and the rest goes."""
    p, r = planner_relay(make_provider, make_relay)
    submit_all(r, range(1, 9))
    r.wait_log(r"account=main limit=hour effective=2 was=10 configured=10 "
               r"\(learned after 553 ")
    assert "limit=day" not in r.log()
    eff, conf, why = hour_limits(r)
    assert (eff, conf) == (2, 10), (eff, conf)
    assert why.startswith("learned after 553 at ") and why.endswith("recovering in 6h"), why
    text = r.ctl("status").stdout
    assert "3/2<10" in text and "limits below the configured: learned after 553" in text, \
        text
    time.sleep(2)
    assert len(p.messages) == 3, [seq(m) for m in p.messages]   # the hour holds at 2
    r.restart()
    r.wait_log(r"account=main limits learned before the restart: per_hour=2 per_day=0")
    assert hour_limits(r)[:2] == (2, 10)
    time.sleep(2)
    assert len(p.messages) == 3, [seq(m) for m in p.messages]
    ok = r.ctl("enable", "main", "--reset-learned")
    assert ok.returncode == 0 and "learned limits reset" in ok.stdout, ok
    assert hour_limits(r) == (10, 10, None)
    msgs = p.wait_for(8, timeout=30)
    assert_exactly_once(msgs, ["q-%d" % i for i in range(1, 9)])
    r.restart()                                     # reset is on disk too
    assert hour_limits(r) == (10, 10, None)
    assert not failed_lines(r)


@pytest.mark.deadline(90)
def test_the_learned_limit_climbs_back_after_recover_after(make_provider, make_relay):
    """After the 553 the hour limit is 2. relayd restarted 7 hours later (libfaketime;
    recover_after = 6): one step back up, to 4, one log line; 19 hours later the
    configured 10 holds again (steps at 12 and 18 hours: 8, then 10)."""
    p, r = planner_relay(make_provider, make_relay)
    submit_all(r, range(1, 5))
    r.wait_log(r"account=main limit=hour effective=2 was=10")
    r.stop()
    r.set_clock_offset(7 * 3600)
    r.start()
    r.wait_log(r"account=main limit=hour effective=4 was=2 configured=10 \(recovering\)")
    assert hour_limits(r)[:2] == (4, 10)
    r.stop()
    r.set_clock_offset(19 * 3600)
    r.start()
    r.wait_log(r"account=main limit=hour effective=10 was=8 configured=10 \(recovering\)")
    wait_until(lambda: hour_limits(r) == (10, 10, None), 10, "the configured limit")


@pytest.mark.deadline(60)
def test_spread_paces_the_hour(make_provider, make_relay):
    """per_hour = 60 with spread: a burst of 3 (60/20) goes at once, the next waits a
    minute after each (3 in any 180 s); without spread all six go at once."""
    p = make_provider()
    r = quota_relay(make_relay, lambda r: [account(
        r, p, limits={"per_hour": 60, "count": "messages", "spread": True})])
    submit_all(r, range(1, 7))
    p.wait_for(3, timeout=20)
    time.sleep(2)
    assert len(p.messages) == 3, [seq(m) for m in p.messages]
    a = r.account_status("main")
    assert a["spread"] is True and a["state"] == "exhausted", a
    assert a["next_free"] is not None and a["next_free"] - time.time() > 150, a
    p2 = make_provider()
    r2 = quota_relay(make_relay, lambda r: [account(
        r, p2, limits={"per_hour": 60, "count": "messages"})])
    submit_all(r2, range(1, 7))
    p2.wait_for(6, timeout=20)


@pytest.mark.deadline(90)
def test_warmup_ramps_the_day_limit(make_provider, make_relay):
    """warmup from 2 over 14 days, starting today (UTC), per_day 100: on day 1 two of
    four messages go and status says "warm-up day 1 of 14"; relayd restarted three days
    later (libfaketime) is on day 4 and allows 2 + 98 x 3 / 14 = 23 a day: the other two go."""
    p = make_provider()
    today = time.strftime("%Y-%m-%d", time.gmtime())
    r = quota_relay(make_relay, lambda r: [account(
        r, p, limits={"per_hour": 50, "per_day": 100, "count": "messages"},
        warmup={"start": today, "from": 2, "days": 14})])
    r.wait_log(r"account=main limit=day effective=2 was=100 configured=100 "
               r"\(warm-up day 1 of 14\)")
    submit_all(r, range(1, 5))
    p.wait_for(2, timeout=20)
    time.sleep(2)
    assert len(p.messages) == 2, [seq(m) for m in p.messages]
    a = r.account_status("main")
    assert a["day"]["limit"] == 2 and a["configured"]["per_day"] == 100, a
    assert a["limits_why"] == "warm-up day 1 of 14", a
    r.stop()
    r.set_clock_offset(3 * 86400)
    r.start()
    r.wait_log(r"account=main limit=day effective=23 was=100 configured=100 "
               r"\(warm-up day 4 of 14\)")
    msgs = p.wait_for(4, timeout=30)
    assert_exactly_once(msgs, ["q-%d" % i for i in range(1, 5)])


@pytest.mark.deadline(90)
def test_mail_waits_outside_the_send_window(make_provider, make_relay):
    """window = tomorrow (UTC) only: a message waits, the account is "closed", status
    says until when; relayd started again with its clock in tomorrow (libfaketime)
    sends it."""
    p = make_provider()
    now = time.time()
    days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    tomorrow = days[(int(time.strftime("%w", time.gmtime(now))) + 1) % 7]
    r = quota_relay(make_relay, lambda r: [account(
        r, p, limits={"per_hour": 50}, window="%s 00:00-24:00 UTC" % tomorrow)])
    r.wait_log(r"account=main window=closed until=")
    submit_all(r, [1])
    time.sleep(2)
    assert not p.messages
    a = r.account_status("main")
    assert a["state"] == "closed", a
    assert a["limits_why"] == "outside window until 00:00 UTC", a
    r.stop()
    r.set_clock_offset(int(86400 - now % 86400) + 60)     # a minute into tomorrow
    r.start()
    msgs = p.wait_for(1, timeout=20)
    assert_exactly_once(msgs, ["q-1"])


@pytest.mark.deadline(90)
def test_a_change_of_the_effective_limits_is_an_account_event(make_provider, make_relay):
    """Each change of an effective limit is an "account" event in state "limits" (the
    application hears that its mail will go slower, and why): the drop after the 553,
    and the return to the configured limits on --reset-learned."""
    p, r = planner_relay(make_provider, make_relay)
    r.settings["events"] = {"types": ["account"]}
    r.write_config()
    r.restart()
    submit_all(r, range(1, 6))
    r.wait_log(r"account=main limit=hour effective=2 was=10")

    def limits():
        out = r.ctl("events", "--json", "--type", "account", config=r.conf)
        assert out.returncode == 0, out.stderr
        return [e for e in map(json.loads, out.stdout.splitlines())
                if e["state"] == "limits"]

    wait_until(lambda: limits(), 10, "a limits event")
    ev = limits()[0]
    assert (ev["account"], ev["per_hour"], ev["per_day"]) == ("main", 2, 100), ev
    assert ev["why"].startswith("learned after 553 at "), ev
    assert r.ctl("enable", "main", "--reset-learned").returncode == 0
    wait_until(lambda: len(limits()) == 2, 10, "a second limits event")
    back = limits()[1]
    assert (back["per_hour"], back["why"]) == (10, "the configured limits"), back

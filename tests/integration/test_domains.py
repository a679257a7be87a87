"""Per recipient domain pacing (relay.conf `domains`, issue 16) end to end: real relayd
processes and two provider stand-ins (tests/provider.py, which counts what it received
per domain). A domain's limit holds across both accounts and spill-over, mail to other
domains goes at the accounts' rate past the waiting mail (no head-of-line blocking),
a message with recipients at several domains sends those whose domain has room; the
domain's hour survives a restart, a reload applies a changed limit, an hour later
(libfaketime) the rest goes; relayctl status shows each domain's windows; relayd -t
names file:line:key for a bad entry."""

import re
import time

import pytest

from conftest import line_of, wait_until
from test_quota import FIRST, SECOND, account, failed_lines, quota_relay, submit_all


def both(p1, p2):
    """Recipients received per domain at the two providers together."""
    d = dict(p1.rcpt_domains())
    for k, v in p2.rcpt_domains().items():
        d[k] = d.get(k, 0) + v
    return d


def domain_status(relay, match="gmail.com"):
    for d in relay.status()["domains"]:
        if d["match"] == match:
            return d
    raise AssertionError("no domain %r in relayctl status" % match)


def domains_relay(make_provider, make_relay, per_hour=4):
    """Two accounts, main (3 recipients an hour) then spare (no limit); gmail.com at
    per_hour recipients an hour across both."""
    p1, p2 = make_provider(user=FIRST), make_provider(user=SECOND)
    r = quota_relay(make_relay, lambda r: [
        account(r, p1, name="main", user=FIRST, limits={"per_hour": 3}),
        account(r, p2, name="spare", user=SECOND)],
        domains=[{"match": "gmail.com", "per_hour": per_hour},
                 {"match": "*.example.net", "per_day": 50}])
    return p1, p2, r


@pytest.mark.deadline(120)
def test_a_domain_limit_holds_across_accounts_and_others_flow(make_provider, make_relay):
    """8 messages to gmail.com first, then 4 to example.org, then one to gmail.com and
    example.org together: 4 gmail.com recipients go (through main, then spare), the
    example.org ones all go, the mixed message sends its example.org recipient and
    keeps the gmail.com one. Nothing is deferred or failed; status says gmail.com is
    full until an hour after its first send, with 5 messages waiting for it (one log
    line each). After a restart the hour is still used;
    a reload to 6 an hour lets 2 more go; restarted an hour later, the rest goes."""
    p1, p2, r = domains_relay(make_provider, make_relay)
    submit_all(r, range(1, 9), rcpts=lambda n: ["user%d@gmail.com" % n])
    submit_all(r, range(9, 13), rcpts=lambda n: ["user%d@example.org" % n])
    submit_all(r, [13], rcpts=lambda n: ["mixed@GMail.com", "mixed@example.org"])
    wait_until(lambda: both(p1, p2).get("example.org") == 5, 30,
               "the other domain's 5 recipients", detail=lambda: both(p1, p2))
    time.sleep(2)
    got = both(p1, p2)
    assert got == {"gmail.com": 4, "example.org": 5}, got
    assert p1.messages and p2.messages, "no spill-over: %d and %d" % (
        len(p1.messages), len(p2.messages))
    d = domain_status(r)
    assert d["hour"] == {"used": 4, "limit": 4, "remaining": 0}, d
    assert d["waiting"] == 5, d     # 4 to gmail.com, and the mixed one
    waits = r.log_lines(r"domain=gmail\.com status=waiting until=\d+ \(its limit is reached")
    assert len(waits) == 5, waits   # one line as each starts waiting
    assert d["state"] == "full" and 3500 < d["next_free"] - time.time() <= 3601, d
    assert domain_status(r, "*.example.net")["day"]["limit"] == 50
    text = r.ctl("status").stdout   # the text view: a line per entry
    assert re.search(r"^gmail\.com +full +4/4 +\S+ +in (59|60)m +5$", text, re.M), text
    assert not failed_lines(r) and not r.log_lines(r"status=deferred"), r.log_tail()
    r.wait_queue(5)                 # 4 to gmail.com, and the mixed one's gmail.com
    r.restart()                     # the domain's hour is on disk
    assert (r.spool / "ledger" / "domain_gmail.com").is_file()
    time.sleep(2)
    assert both(p1, p2)["gmail.com"] == 4, both(p1, p2)
    assert domain_status(r)["hour"]["used"] == 4
    r.settings["domains"][0]["per_hour"] = 6
    r.write_config()
    assert r.ctl("reload").returncode == 0
    r.wait_log(r"domain=gmail.com per_hour=6 per_day=0 \(reload; was 4 and 0\)")
    wait_until(lambda: both(p1, p2)["gmail.com"] == 6, 20, "2 more to gmail.com")
    time.sleep(2)
    assert both(p1, p2)["gmail.com"] == 6, both(p1, p2)
    r.stop()
    r.set_clock_offset(3700)
    r.start()
    wait_until(lambda: both(p1, p2)["gmail.com"] == 9, 30, "the rest to gmail.com",
               detail=lambda: both(p1, p2))
    r.wait_queue(0)
    assert domain_status(r)["waiting"] == 0
    assert not failed_lines(r)


def test_relayd_t_names_the_bad_domain_entry(make_relay):
    """relayd -t: a bad domains entry is reported as file:line: key: problem."""
    r = make_relay(None, start=False, domains=[
        {"match": "gmail.com", "per_hour": 20},
        {"match": "user@gmail.com", "per_hour": -1}])
    conf = r.write_config()
    out = r.check(conf)
    assert out.returncode != 0, out
    line = line_of(r.config_text, '"user@gmail.com"')
    assert "%s:%d: domains[1].match: \"user@gmail.com\" is not a domain" % (conf, line) \
        in out.stderr, out.stderr
    assert "domains[1].per_hour: -1 is out of range" in out.stderr, out.stderr

"""relayctl as an operator with Postfix and msmtp habits uses it: queue hold, release
and delete over several ids, ids on stdin and filters (postsuper); exit codes by kind
of error; the queue's times and why waiting mail waits; relayctl config (postconf -n);
relayctl test ACCOUNT (msmtp --serverinfo).

Each test runs a real relayd against the aiosmtpd provider stand-in (see conftest.py).
"""

import json
import re
import subprocess

import conftest
from conftest import wait_until

APP_FROM = "crm@app.example"


def message(n=0):
    return (b"From: Shop <crm@app.example>\r\nTo: someone\r\nSubject: order %d\r\n\r\n"
            b"body %d\r\n" % (n, n))


def ok(p):
    assert p.returncode == 0, "relayctl exited %d: %s%s" % (p.returncode, p.stderr, p.stdout)
    return p


def queue_states(relay):
    p = ok(relay.ctl("queue", "list", "--json"))
    return {m["id"]: m for m in json.loads(p.stdout)["queue"]}


def ctl_stdin(relay, text, *args):
    return subprocess.run([str(conftest.RELAYCTL), "-s", str(relay.control_socket)] +
                          list(args), input=text, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=10)


def queued_relay(make_relay, provider, rcpts):
    """A relay whose provider is down, with one message queued per (sender, rcpt)."""
    provider.stop()
    relay = make_relay(provider, retry={"initial": 600, "max": 1200, "lifetime": 36000})
    for sender, rcpt in rcpts:
        relay.submit(message(len(rcpt)), sender, [rcpt])
    relay.wait_queue(len(rcpts))
    wait_until(lambda: all(m["state"] != "inflight" for m in queue_states(relay).values()),
               10, "no attempt in flight")
    by_rcpt = {m["recipients"][0]: m["id"] for m in queue_states(relay).values()}
    return relay, by_rcpt


def test_queue_hold_release_delete_like_postsuper(make_relay, provider):
    """Several ids, "-" for ids on stdin, filters by recipient, domain and sender; the
    reply counts what changed; unknown ids are named and make the exit code 67."""
    relay, ids = queued_relay(make_relay, provider, [
        (APP_FROM, "a@one.example"), (APP_FROM, "b@one.example"),
        (APP_FROM, "c@two.example"), ("news@app.example", "d@two.example"),
        (APP_FROM, "e@three.example")])

    # several ids at once, one of them unknown: the others are held, the unknown named
    p = relay.ctl("queue", "hold", ids["a@one.example"], "0000000000000000",
                  ids["c@two.example"])
    assert p.returncode == 67, p
    assert "held: 2 message(s)" in p.stdout, p.stdout
    assert "no message 0000000000000000 in the queue" in p.stderr, p.stderr
    assert "queue-hold" not in p.stderr
    st = queue_states(relay)
    assert [st[ids[r]]["state"] for r in ("a@one.example", "c@two.example")] == ["held"] * 2
    assert st[ids["b@one.example"]]["state"] != "held"

    # ids on standard input, one a line (blank lines and spaces are no ids)
    p = ctl_stdin(relay, "%s\n\n  %s  \n" % (ids["a@one.example"], ids["c@two.example"]),
                  "queue", "release", "-")
    assert p.returncode == 0 and "released: 2 message(s)" in p.stdout, p

    # filters: by domain (without case), by recipient, by sender; all given must match
    p = ok(relay.ctl("queue", "hold", "--domain", "ONE.example"))
    assert "held: 2 message(s)" in p.stdout, p.stdout
    assert {i for i, m in queue_states(relay).items() if m["state"] == "held"} == {
        ids["a@one.example"], ids["b@one.example"]}
    p = ok(relay.ctl("queue", "release", "--recipient", "b@one.example"))
    assert "released: 1 message(s)" in p.stdout, p.stdout
    p = ok(relay.ctl("queue", "hold", "--sender", "news@app.example"))
    assert "held: 1 message(s)" in p.stdout
    p = ok(relay.ctl("queue", "hold", "--domain", "two.example", "--sender", APP_FROM))
    assert "held: 1 message(s)" in p.stdout     # c@two, not d@two (news@)
    p = ok(relay.ctl("queue", "delete", "--domain", "nowhere.example"))
    assert "deleted: 0 message(s)" in p.stdout
    p = ok(relay.ctl("queue", "delete", "--domain", "two.example"))
    assert "deleted: 2 message(s)" in p.stdout
    relay.wait_queue(3)
    assert set(queue_states(relay)) == {ids["a@one.example"], ids["b@one.example"],
                                        ids["e@three.example"]}

    # bad input: ids and a filter together (65), a filter without its value (64),
    # nothing to act on (64 from relayctl's usage)
    p = relay.ctl("queue", "hold", ids["a@one.example"], "--domain", "one.example")
    assert p.returncode == 65 and "not both" in p.stderr, p
    p = relay.ctl("queue", "hold", "--domain")
    assert p.returncode == 64, p
    p = relay.ctl("queue", "hold")
    assert p.returncode == 64 and "usage" in p.stderr, p
    p = relay.ctl("queue", "hold", "--bogus")
    assert p.returncode == 64, p


def test_exit_codes_by_kind_of_error(relay):
    """67 for an unknown queue id or account, 65 for bad input, 64 for usage, 69 when
    relayd cannot be reached; --help lists every exit code relayctl(8) lists."""
    p = relay.ctl("queue", "show", "0000000000000000")
    assert p.returncode == 67 and p.stderr.startswith("relayctl: queue show: no message"), p
    p = relay.ctl("queue", "delete", "0000000000000000")
    assert p.returncode == 67 and "queue-delete" not in p.stderr, p
    p = relay.ctl("enable", "nosuchaccount")
    assert p.returncode == 67 and "no account called" in p.stderr, p
    p = relay.ctl("frobnicate")
    assert p.returncode == 64, p

    man = (conftest.ROOT / "contrib" / "man" / "relayctl.8").read_text()
    section = man.split(".Sh EXIT STATUS", 1)[1].split(".Sh ", 1)[0]
    codes = re.findall(r"^\.It (\d+)$", section, re.M)
    assert {"0", "64", "65", "67", "69", "70"} <= set(codes), codes
    usage = ok(relay.ctl("--help")).stdout
    tail = usage.split("Exit status:", 1)[1]
    for c in codes:
        assert re.search(r"\b%s\b" % c, tail), (c, tail)
    relay.stop()
    p = relay.ctl("status")
    assert p.returncode == 69, p

"""relayd as a service: relayctl queue control, flush, reload (SIGHUP and relayctl),
SIGTERM during a transaction, systemd notifications, and /metrics.

Each test runs a real relayd against the aiosmtpd provider stand-in (see conftest.py).
"""

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

import conftest
from conftest import free_port, wait_until

APP_FROM = "crm@app.example"


def message(n=0, to=b"rcpt@example.org"):
    return (b"From: Shop <crm@app.example>\r\nTo: " + to + b"\r\n"
            b"Subject: order %d\r\nX-Seq: %d\r\n\r\nbody %d\r\n" % (n, n, n))


def queue_list(relay):
    """The queue as relayctl lists it; the spool is loaded by then (small queues are
    read before relayd serves anything)."""
    p = relay.ctl("queue", "list", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["loading"] is False, r
    return r["queue"]


def ok(p):
    assert p.returncode == 0, "relayctl exited %d: %s%s" % (p.returncode, p.stderr, p.stdout)
    return p


def test_queue_list_show_hold_release_delete(make_relay, provider):
    """With the provider down mail stays queued; relayctl sees, holds, releases and
    deletes it, and what was held or deleted is not sent."""
    provider.stop()
    relay = make_relay(provider, retry={"initial": 60, "max": 120, "lifetime": 3600})
    for i in range(3):
        relay.submit(message(i), APP_FROM, ["r%d@example.org" % i])
    relay.wait_queue(3)
    q = queue_list(relay)
    assert len(q) == 3
    assert [m["recipients"] for m in q] == [["r0@example.org"], ["r1@example.org"],
                                             ["r2@example.org"]], "oldest first"
    for m in q:
        assert m["sender"] == APP_FROM and m["size"] > 0 and m["state"] in (
            "waiting", "deferred", "inflight")
    held, deleted, kept = q[0]["id"], q[1]["id"], q[2]["id"]

    show = json.loads(ok(relay.ctl("queue", "show", held, "--json")).stdout)
    assert show["id"] == held and show["from"] == APP_FROM
    assert show["recipients"] == [{"address": "r0@example.org", "state": "pending"}]
    assert "Subject: order 0" in show["headers"]
    text = ok(relay.ctl("queue", "show", held)).stdout
    assert "history:" in text and "Subject: order 0" in text

    assert "held: 1" in ok(relay.ctl("queue", "hold", held)).stdout
    assert "deleted: 1" in ok(relay.ctl("queue", "delete", deleted)).stdout
    relay.wait_queue(2)
    states = {m["id"]: m["state"] for m in queue_list(relay)}
    assert states[held] == "held" and deleted not in states

    # unknown ids are an error, with a non-zero exit
    p = relay.ctl("queue", "show", "0000000000000000")
    assert p.returncode != 0 and "no message 0000000000000000" in p.stderr
    p = relay.ctl("queue", "frobnicate")
    assert p.returncode == 64 and "usage" in p.stderr

    # the provider comes back: flush sends what is not held, at once (retry is 60 s)
    provider.start()
    assert "flush:" in ok(relay.ctl("flush")).stdout
    got = provider.wait_for(1, timeout=15)
    assert [m.rcpt_tos for m in got] == [["r2@example.org"]]
    provider.expect_quiet(2, count=1)      # held or deleted mail is not sent

    # the hold survives a restart
    relay.restart()
    assert {m["id"]: m["state"] for m in queue_list(relay)} == {held: "held"}
    provider.expect_quiet(2, count=1)
    assert "released: 1" in ok(relay.ctl("queue", "release", held)).stdout
    got = provider.wait_for(2, timeout=15)
    assert got[1].rcpt_tos == ["r0@example.org"]
    relay.wait_queue(0)
    assert queue_list(relay) == []


def test_queue_hold_release_delete_all(make_relay, provider):
    provider.stop()
    relay = make_relay(provider, retry={"initial": 60, "max": 120, "lifetime": 3600})
    for i in range(4):
        relay.submit(message(i), APP_FROM, ["r%d@example.org" % i])
    relay.wait_queue(4)
    wait_until(lambda: all(m["state"] != "inflight" for m in queue_list(relay)), 10,
               "no attempt in flight")
    assert "held: 4" in ok(relay.ctl("queue", "hold", "--all")).stdout
    assert all(m["state"] == "held" for m in queue_list(relay))
    assert relay.status()["queue"]["held"] == 4
    assert "released: 4" in ok(relay.ctl("queue", "release", "--all")).stdout
    assert "deleted: 4" in ok(relay.ctl("queue", "delete", "--all")).stdout
    relay.wait_queue(0)
    provider.start()
    provider.expect_quiet(2)
    assert provider.messages == []


def test_reload_changed_limit(make_relay, provider):
    """A lower hourly limit holds mail back; raising it by reload lets it go, without
    a restart and without losing what is queued."""
    relay = make_relay(provider)
    relay.settings["accounts"][0]["limits"] = {"per_hour": 1}
    relay.write_config()
    ok(relay.ctl("reload"))
    assert relay.account_status()["hour"]["limit"] == 1
    for i in range(3):
        relay.submit(message(i), APP_FROM, ["r%d@example.org" % i])
    provider.wait_for(1)
    provider.expect_quiet(2, count=1)
    assert relay.account_status()["state"] == "exhausted"

    # a broken file changes nothing, and says why
    good = relay.config_text
    relay.write_config(good + "bogus_key = 1;\n")
    p = relay.ctl("reload")
    assert p.returncode != 0 and "bogus_key: unknown key" in p.stderr
    assert relay.account_status()["hour"]["limit"] == 1

    # SIGHUP reloads too
    relay.settings["accounts"][0]["limits"] = {"per_hour": 10}
    relay.write_config()
    relay.proc.send_signal(signal.SIGHUP)
    provider.wait_for(3, timeout=15)
    relay.wait_log(r"reload: .* loaded")
    assert relay.account_status()["hour"] == {"used": 3, "limit": 10, "remaining": 7}
    relay.wait_queue(0)


def test_reload_adds_and_removes_accounts(make_relay, provider):
    relay = make_relay(provider)
    second = relay.account_for(provider, name="second")
    relay.settings["accounts"] = [relay.settings["accounts"][0], second]
    relay.write_config()
    ok(relay.ctl("reload"))
    assert [a["name"] for a in relay.status()["accounts"]] == ["main", "second"]
    relay.settings["accounts"] = [second]
    relay.write_config()
    ok(relay.ctl("reload"))
    assert [a["name"] for a in relay.status()["accounts"]] == ["second"]
    relay.submit(message(1), APP_FROM, ["r@example.org"])
    provider.wait_for(1)
    relay.wait_log(r"to=<r@example\.org> account=second .*status=sent")


def test_sigterm_during_transaction(make_relay, provider):
    """SIGTERM while the provider is slow to answer the message: relayd exits 0 within
    a few seconds, the message stays queued and goes out after a restart."""
    provider.add_rule("data", "250 2.0.0 OK slow", delay=8.0, times=1)
    relay = make_relay(provider)
    relay.submit(message(7), APP_FROM, ["slow@example.org"])
    wait_until(lambda: any(e.what == "DATA" for e in provider.events) or None, 15,
               "the provider to get DATA")
    time.sleep(0.5)
    t = time.monotonic()
    relay.stop(timeout=10)          # SIGTERM; asserts exit status 0
    assert time.monotonic() - t < 5, "relayd took %.1fs to stop" % (time.monotonic() - t)
    assert len(relay.queue_files()) == 1, "the message must still be queued"
    provider.clear_rules()
    relay.start()
    msgs = provider.wait_for(1, timeout=20)
    assert any(b"X-Seq: 7" in m.data for m in msgs)
    relay.wait_queue(0)


def test_sigterm_tells_clients_421(make_relay, provider):
    relay = make_relay(provider)
    c = relay.raw()
    assert c.reply()[0] == 220
    assert c.cmd("EHLO app.test")[0] == 250
    relay.proc.send_signal(signal.SIGTERM)
    code, lines = c.reply()
    assert code == 421 and "4.3.2" in lines[0]
    relay.expect_exit = True
    assert relay.proc.wait(10) == 0


def test_notify_socket(make_relay, provider, tmp_path):
    """Type=notify: READY=1 once listening, RELOADING=1 then READY=1 on reload,
    STOPPING=1 on SIGTERM, and WATCHDOG=1 pings when WATCHDOG_USEC is set."""
    d = tempfile.mkdtemp(prefix="notify-")
    path = os.path.join(d, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(5)
    relay = make_relay(provider, start=False)
    relay.extra_env.update(NOTIFY_SOCKET=path, WATCHDOG_USEC="1000000")
    relay.start()

    def recv_until(want):
        got = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            msg = s.recv(4096).decode()
            got.append(msg)
            if want in msg.split("\n"):
                return got
        raise AssertionError("no %s; got %r" % (want, got))

    assert "READY=1" in recv_until("READY=1")[0].split("\n")
    recv_until("WATCHDOG=1")
    ok(relay.ctl("reload"))
    got = recv_until("READY=1")
    assert any("RELOADING=1" in g for g in got), got
    relay.stop()
    recv_until("STOPPING=1")
    s.close()


def test_metrics_after_traffic(make_relay, provider):
    port = free_port()
    relay = make_relay(provider, metrics_listen="127.0.0.1:%d" % port)
    provider.refuse_rcpt("dead@example.org")
    relay.submit(message(1), APP_FROM, ["a@example.org"])
    relay.submit(message(2), APP_FROM, ["b@example.org", "dead@example.org"])
    provider.wait_for(2)
    relay.wait_queue(0)

    def scrape():
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/plain")
            return r.read().decode()

    text = scrape()
    values = dict(re.findall(r"^(relayd_\S+) (\d+)$", text, re.M))
    assert values["relayd_messages_received_total"] == "2"
    assert values['relayd_messages_sent_total{account="main"}'] == "2"
    assert values["relayd_messages_failed_total"] == "1"
    assert values['relayd_queue_messages{state="waiting"}'] == "0"
    assert values['relayd_throttle_events_total{account="main"}'] == "0"
    assert values['relayd_bounces_total{kind="hard"}'] == "0"
    for name in ("relayd_messages_deferred_total", "relayd_queue_messages",
                 "relayd_quota_remaining", "relayd_bounces_total"):
        assert "# TYPE %s " % name in text
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen("http://127.0.0.1:%d/other" % port, timeout=5)
    assert e.value.code == 404

    # The queue gauges come from counters, not a scan: check them in each state.
    def queue_gauges():
        v = dict(re.findall(r'^relayd_queue_messages\{state="(\w+)"\} (\d+)$', scrape(),
                            re.M))
        return {k: int(x) for k, x in v.items()}

    provider.refuse_rcpt("later@example.org", "450 4.2.1 Mailbox busy")
    mark = relay.mark()
    relay.submit(message(3), APP_FROM, ["later@example.org"])
    relay.wait_log(r"to=<later@example.org>.*status=deferred", since=mark)
    wait_until(lambda: queue_gauges() == {"waiting": 0, "deferred": 1, "held": 0,
                                          "inflight": 0}, 10, "one deferred message",
               detail=lambda: str(queue_gauges()))
    assert "held: 1" in ok(relay.ctl("queue", "hold", "--all")).stdout
    assert queue_gauges() == {"waiting": 0, "deferred": 0, "held": 1, "inflight": 0}
    assert "released: 1" in ok(relay.ctl("queue", "release", "--all")).stdout
    g = queue_gauges()
    assert g["held"] == 0 and g["waiting"] + g["deferred"] + g["inflight"] == 1, g


def test_relayctl_help_and_errors(make_relay, provider):
    relay = make_relay(provider)
    p = relay.ctl("--help")
    assert p.returncode == 0
    for cmd in ("status", "queue list", "queue show", "hold", "flush", "reload", "enable",
                "bounce-parse"):
        assert cmd in p.stdout, cmd
    p = relay.ctl("queue", "--help")
    assert p.returncode == 0 and "queue list" in p.stdout
    p = relay.ctl("nonsense")
    assert p.returncode == 64 and "unknown command" in p.stderr
    p = relay.ctl("enable", "nosuchaccount")
    assert p.returncode == 67 and "no account called" in p.stderr
    relay.stop()
    p = relay.ctl("status")
    assert p.returncode == 69 and "is relayd running?" in p.stderr


def test_version_and_help_long_options():
    """--version and --help, as every command-line tool takes them (-V and -h too)."""
    for exe, name in ((conftest.RELAYD, "relayd"), (conftest.RELAYCTL, "relayctl")):
        for flag in ("--version", "-V"):
            p = subprocess.run([str(exe), flag], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=10)
            assert p.returncode == 0 and re.fullmatch(r"%s \d+\.\d+\S*\n" % name,
                                                      p.stdout), (exe, flag, p)
        p = subprocess.run([str(exe), "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=10)
        assert p.returncode == 0 and "usage: %s" % name in p.stdout, (exe, p)


def test_errors_name_the_command_as_typed(relay):
    """relayd's refusal is shown under the command the operator typed ("queue delete"),
    never the control protocol's internal name ("queue-delete")."""
    r = relay.ctl("queue", "delete", "0000000000000000")
    assert r.returncode != 0, r
    assert r.stderr.startswith("relayctl: queue delete: "), r.stderr
    assert "queue-delete" not in r.stderr, r.stderr


def test_enable_forgets_the_reply_that_disabled(relay, provider):
    """After relayctl enable, status shows the account ready without the old 535 next
    to it (it read as if the account were still refused)."""
    provider.password = "not-the-one-relayd-has"
    relay.submit(b"Subject: x\r\n\r\nx\r\n", to=["a@example.org"])
    wait_until(lambda: relay.status()["accounts"][0]["state"] == "disabled", 20,
               "the account disabled by 535")
    assert " 535 " in relay.status()["accounts"][0]["last_reply"], relay.status()
    provider.password = conftest.PASSWORD
    assert relay.ctl("enable", "main").returncode == 0
    a = relay.status()["accounts"][0]
    assert a["why"] is None and " 535 " not in (a["last_reply"] or ""), a
    provider.wait_for(1, timeout=20)

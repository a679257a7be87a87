"""relayctl as an operator with Postfix and msmtp habits uses it: queue hold, release
and delete over several ids, ids on stdin and filters (postsuper); exit codes by kind
of error; the queue's times and why waiting mail waits; relayctl config (postconf -n);
relayctl test ACCOUNT (msmtp --serverinfo).

Each test runs a real relayd against the aiosmtpd provider stand-in (see conftest.py).
"""

import json
import re
import time
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


ISO = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}"


def test_queue_says_why_mail_waits(make_relay, provider):
    """Mail the quota holds back says so, with when the next unit frees; held mail says
    held; status counts waiting, deferred and held as queue list does, and its text
    shows the held count and what is left of the hour and the day."""
    relay = make_relay(provider, start=False)
    relay.settings["accounts"] = [relay.account_for(provider, limits={
        "per_hour": 1, "per_day": 10, "count": "messages"})]
    relay.write_config()
    relay.start()
    for i in range(3):
        relay.submit(message(i), APP_FROM, ["q%d@example.org" % i])
    provider.wait_for(1, timeout=15)
    wait_until(lambda: all(m["state"] == "waiting" and m["why"]
                           for m in queue_states(relay).values()) or None, 10,
               "both waiting with a why")
    q = queue_states(relay)
    assert len(q) == 2, q
    for m in q.values():
        assert re.fullmatch(r"quota: main exhausted, next free in (59|60)m", m["why"]), m
        assert m["attempts"] == 0 and m["throttled"] == 0 and m["next_attempt"] is None, m
    held = sorted(q)[0]
    ok(relay.ctl("queue", "hold", held))
    assert queue_states(relay)[held]["why"].startswith("held"), queue_states(relay)
    st = relay.status()["queue"]
    states = [m["state"] for m in queue_states(relay).values()]
    for s in ("waiting", "deferred", "held", "inflight"):
        assert st[s] == states.count(s), (s, st, states)
    text = ok(relay.ctl("status")).stdout
    assert "LEFT" in text and re.search(r"^main +exhausted +1/1 +1/10 +0/9 ", text, re.M), text
    assert re.search(r"^queue: 2 message\(s\): 1 waiting, 0 in flight, 0 deferred, 1 held",
                     text, re.M), text
    show = ok(relay.ctl("queue", "show", held)).stdout
    assert re.search(r"^received:   %s \((?:now|\d+s ago)\) from " % ISO, show, re.M), show
    assert re.search(r"^why:        held", show, re.M), show
    lst = ok(relay.ctl("queue", "list")).stdout
    assert "quota: main exhausted, next free in" in lst, lst


def test_queue_shows_throttled_and_deferred_attempts(make_relay, provider):
    """An attempt that hit a throttle is in the history and counted (it was not); a
    deferred message says the reply and when it is retried; times read as ISO 8601."""
    provider.add_rule("mail", "553 5.7.1 The server does not want to send your message now",
                      times=1)
    relay = make_relay(provider, start=False,
                       retry={"initial": 600, "max": 1200, "lifetime": 36000})
    relay.settings["accounts"] = [relay.account_for(provider, backoff={"initial": 120,
                                                                        "max": 240})]
    relay.write_config()
    relay.start()
    relay.submit(message(1), APP_FROM, ["t@example.org"])
    wait_until(lambda: relay.account_status()["state"] == "throttled", 15, "throttled")
    (m,) = wait_until(lambda: [m for m in queue_states(relay).values()
                               if m["state"] != "inflight"] or None, 10, "back in the queue")
    assert m["attempts"] == 1 and m["throttled"] == 1, m
    assert re.fullmatch(r"main throttled by the provider, until in (2m|1\d\ds|\d\ds)", m["why"]), m
    show = json.loads(ok(relay.ctl("queue", "show", m["id"], "--json")).stdout)
    assert [h["event"] for h in show["history"]] == ["throttled"], show
    assert show["history"][0]["detail"].startswith("553 5.7.1"), show
    text = ok(relay.ctl("queue", "show", m["id"])).stdout
    assert re.search(r"^attempts:   1 \(1 of them hit a throttle\)", text, re.M), text
    # flush does not lift a throttle, and says so rather than "attempted now" alone
    p = ok(relay.ctl("flush"))
    assert re.search(r"^flush: account main is throttled \(in (2m|\d+s)\): it sends nothing "
                     r"until then \(relayctl enable lifts it\)$", p.stdout, re.M), p.stdout
    assert re.search(r"^  %s \((?:now|\d+s ago)\) throttled +553 5\.7\.1" % ISO, text, re.M), text
    # the history survives a restart
    relay.restart()
    show = json.loads(ok(relay.ctl("queue", "show", m["id"], "--json")).stdout)
    assert show["throttled"] == 1 and show["history"][0]["event"] == "throttled", show

    # a deferral: the reply, and when it is retried
    provider.add_rule("rcpt", "450 4.2.1 mailbox busy")
    ok(relay.ctl("enable", "main"))
    wait_until(lambda: queue_states(relay)[m["id"]]["state"] == "deferred" or None, 15,
               "deferred")
    d = queue_states(relay)[m["id"]]
    assert d["attempts"] == 2 and d["throttled"] == 1, d
    assert re.fullmatch(r"deferred: 450 4\.2\.1 mailbox busy; retry in \d+m", d["why"]), d
    text = ok(relay.ctl("queue", "show", m["id"])).stdout
    assert re.search(r"^next:       %s \(in \d+m\)" % ISO, text, re.M), text


def test_suppress_add_drops_queued_mail_at_once(make_relay, provider):
    """relayctl suppress add fails queued mail to that address at once (held mail too),
    with a log line; the rest stays queued (it waited until its turn came)."""
    relay, ids = queued_relay(make_relay, provider, [
        (APP_FROM, "gone@example.org"), (APP_FROM, "kept@example.org"),
        (APP_FROM, "Gone@Example.org")])
    ok(relay.ctl("queue", "hold", ids["Gone@Example.org"]))
    p = ok(relay.ctl("suppress", "add", "gone@example.org"))
    assert "added to the suppression list" in p.stdout, p.stdout
    assert "2 queued recipient(s) on the list dropped" in p.stdout, p.stdout
    relay.wait_queue(1, timeout=5)
    assert set(queue_states(relay)) == {ids["kept@example.org"]}
    assert relay.log_lines(r"%s: to=<gone@example\.org> .*status=failed" %
                           ids["gone@example.org"])
    st = relay.status()["queue"]
    assert (st["total"], st["held"]) == (1, 0), st
    p = ok(relay.ctl("suppress", "add", "gone@example.org"))
    assert "already on the suppression list" in p.stdout and "0 queued" in p.stdout, p.stdout


def test_flush_attempts_deferred_mail_now(make_relay, provider):
    """relayctl flush attempts every deferred message at once, as it says (the retry
    is an hour away), not minutes later."""
    relay, ids = queued_relay(make_relay, provider, [
        (APP_FROM, "f%d@example.org" % i) for i in range(4)])
    st = queue_states(relay)
    deferred = [m for m in st.values() if m["state"] == "deferred"]
    assert deferred and all(m["next_attempt"] > time.time() + 300 for m in deferred), st
    provider.start()
    p = ok(relay.ctl("flush"))
    assert "flush: %d deferred message(s)" % len(deferred) in p.stdout, (p.stdout, st)
    provider.wait_for(4, timeout=10)
    relay.wait_queue(0, timeout=10)


def test_config_dump_fills_presets_and_masks_secrets(tmp_path, certs):
    """relayctl -c FILE config: the effective configuration (postconf -n with the
    presets' values filled in), no relayd needed, every secret masked; --json too."""
    secrets = {"pw": "Pa55-main-S3cret", "pw2": "second-Acc0unt-pw",
               "imap": "imap-Only-pw77", "hook": "webhook-hmac-key-9",
               "redis": "redis-AUTH-pw-31"}
    for name, value in secrets.items():
        f = tmp_path / name
        f.write_text(value + "\n")
        f.chmod(0o600)
    conf = tmp_path / "relay.conf"
    conf.write_text("""
listen = [ "127.0.0.1:2525" ];
spool_dir = "%(d)s/spool";
control_socket = "%(d)s/control.sock";
events = { webhook = "http://127.0.0.1:9/hook"; secret_file = "%(d)s/hook"; };
domains = ( { match = "gmail.com"; per_hour = 20; } );
shared = { redis = "redis://127.0.0.1:6379/0"; password_file = "%(d)s/redis"; peers = 2; };
accounts = (
  { name = "main"; provider = "mail.ru"; username = "shop@mail.ru";
    password_file = "%(d)s/pw"; },
  { name = "spare"; host = "localhost"; port = 2465; tls = "implicit";
    username = "spare@example.org"; password_file = "%(d)s/pw2";
    limits = { per_hour = 7; per_day = 70; }; shared = true;
    bounces = { host = "localhost"; port = 993; password_file = "%(d)s/imap"; }; }
);
""" % {"d": tmp_path})
    conf.chmod(0o600)
    run = lambda *a: subprocess.run([str(conftest.RELAYCTL), "-c", str(conf), "config"] +
                                    list(a), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, timeout=10)
    text = run()
    assert text.returncode == 0, text
    js = run("--json")
    assert js.returncode == 0, js
    for out in (text.stdout + text.stderr, js.stdout + js.stderr):
        for value in secrets.values():
            assert value not in out, (value, out)
    lines = dict(l.split(" =", 1) for l in text.stdout.splitlines())
    lines = {k: v.strip() for k, v in lines.items()}
    assert lines["accounts.main.host"] == "smtp.mail.ru", lines      # from the preset
    assert lines["accounts.main.port"] == "465" and lines["accounts.main.tls"] == "implicit"
    assert lines["accounts.main.limits.per_day"] == "150", lines
    assert lines["accounts.main.learn.enabled"] == "true", lines
    assert any(k.startswith("accounts.main.rules.") for k in lines), lines
    assert lines["accounts.main.password"] == "********"
    assert lines["accounts.spare.password"] == "********"
    assert lines["accounts.spare.bounces.password"] == "********"
    assert lines["accounts.spare.limits.per_hour"] == "7"
    assert lines["events.secret"] == "********"
    assert lines["retry.initial"] == "60", lines           # a default, filled in
    assert lines["shared.password"] == "********" and lines["shared.peers"] == "2", lines
    assert lines["shared.prefix"] == "relayd:", lines      # a default, filled in
    assert lines["accounts.spare.shared"] == "true", lines
    cfg = json.loads(js.stdout)
    main = cfg["accounts"][0]
    assert (main["name"], main["host"], main["password"]) == ("main", "smtp.mail.ru",
                                                              "********"), main
    assert cfg["accounts"][1]["oauth"] is None and cfg["events"]["secret"] == "********"
    assert cfg["domains"] == [{"match": "gmail.com", "per_hour": 20, "per_day": None}], cfg
    assert cfg["shared"]["on_unavailable"] == "local_share", cfg["shared"]

    bad = tmp_path / "bad.conf"
    bad.write_text("accounts = ( { name = 1; } );\n")
    p = subprocess.run([str(conftest.RELAYCTL), "-c", str(bad), "config"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=10)
    assert p.returncode == 65 and "bad.conf:1" in p.stderr, p


def test_account_test_logs_in_without_mail(make_relay, provider, provider_starttls):
    """relayctl test ACCOUNT: connect, TLS (verified), EHLO, AUTH, QUIT, no mail; what
    it found is printed; a refused login or a server down exits 75 with the reason and
    changes nothing in the account; an unknown account exits 67."""
    relay = make_relay(provider)
    p = relay.ctl("test", "main")
    assert p.returncode == 0, p
    out = p.stdout
    assert re.search(r"^server: +localhost port %d \(localhost\[127\.0\.0\.1\]:%d\)" %
                     (provider.port, provider.port), out, re.M), out
    assert re.search(r"^TLS: +TLSv1\.[23], \S+, certificate verified", out, re.M), out
    assert re.search(r"^certificate: .*CN", out, re.M), out
    assert re.search(r"^expires: +%s \(in \d+d\d\dh\)" % ISO, out, re.M), out
    assert re.search(r"^EHLO: .*AUTH ", out, re.M), out
    assert re.search(r"^auth: +(PLAIN|LOGIN|SCRAM-\S+)$", out, re.M), out
    assert re.search(r"^result: +ok: 235", out, re.M), out
    js = json.loads(ok(relay.ctl("test", "main", "--json")).stdout)
    assert js["ok"] is True and js["tls"]["version"].startswith("TLSv1.") and \
        js["error"] is None and any(e.startswith("AUTH") for e in js["ehlo"]), js
    assert not [e for e in provider.events if e.what == "MAIL"], "a test sends no mail"
    assert provider.messages == []

    # a refused login: exit 75, the reason; the account is not disabled by a test
    provider.password = "not-the-one-relayd-has"
    p = relay.ctl("test", "main")
    assert p.returncode == 75 and "authentication as" in p.stderr and "535" in p.stderr, p
    assert relay.account_status()["state"] == "ready", relay.account_status()
    provider.password = conftest.PASSWORD

    p = relay.ctl("test", "nosuch")
    assert p.returncode == 67 and "no account called" in p.stderr, p

    # STARTTLS: the extensions are those said after TLS
    relay2 = make_relay(provider_starttls)
    js = json.loads(ok(relay2.ctl("test", "main", "--json")).stdout)
    assert js["ok"] and js["tls"] and "STARTTLS" not in js["ehlo"], js

    # the server down: exit 75, cannot connect
    provider.stop()
    p = relay.ctl("test", "main")
    assert p.returncode == 75 and "cannot connect" in p.stderr, p
    assert relay.account_status()["state"] == "ready", relay.account_status()


def test_account_test_checks_the_certificate(make_relay, provider):
    """The test verifies the server's certificate as sessions do: without the CA that
    signed the stand-in's certificate, it fails with the TLS reason, exit 75."""
    relay = make_relay(provider, start=False)
    acct = relay.account_for(provider)
    del acct["ca_file"]
    relay.settings["accounts"] = [acct]
    relay.write_config()
    relay.start()
    p = relay.ctl("test", "main")
    assert p.returncode == 75 and re.search(r"certificate|verify", p.stderr, re.I), p
    js = json.loads(relay.ctl("test", "main", "--json").stdout)
    assert js["ok"] is False and js["tls"] is None and js["auth_mechanism"] is None, js

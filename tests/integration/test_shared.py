"""Several relayd hosts sharing accounts through Redis (issue 20): a real redis-server
started by the test on loopback (no persistence), three relayd instances with their own
spools and ports, one provider stand-in that counts what it receives.

The Redis server is started and stopped by the RedisServer helper below; every test stops
it at teardown. Time: the per_hour windows are sliding hours; the tests never wait an hour
but show that the first hour holds (never more than the limit at the provider) and that
nothing is lost (what is not sent stays queued).
"""

import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import free_port, wait_until

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
APP_FROM = "crm@app.example"


class RedisServer:
    """redis-server on 127.0.0.1:PORT with its files in dir; no persistence."""

    def __init__(self, dir, port=None, password=None):
        self.dir = dir
        self.port = port or free_port()
        self.proc = None
        self.password = password
        self.url = "redis://127.0.0.1:%d/0" % self.port

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"] +
            (["--requirepass", self.password] if self.password else []),
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        wait_until(lambda: self.ping(), 10, "redis-server to answer on port %d" % self.port)
        return self

    def ping(self):
        try:
            return self.cmd("PING") in ("+PONG", "-NOAUTH Authentication required.")
        except OSError:
            return False

    def cmd(self, *args):
        """One command over RESP; the first reply line (enough for the tests)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            if self.password and args[0] != "PING":
                s.sendall(b"AUTH %s\r\n" % self.password.encode())
                s.recv(64)
            req = b"*%d\r\n" % len(args) + b"".join(
                b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in map(str, args))
            s.sendall(req)
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data.decode().split("\r\n")[0]

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None:
            self.log.close()
        self.proc = None


@pytest.fixture
def redis(tmp_path):
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    r = RedisServer(str(tmp_path / "redis")).start()
    yield r
    r.stop()


def shared_group(server, **over):
    g = {"redis": server.url, "prefix": "t:", "on_unavailable": "local_share", "peers": 3}
    g.update(over)
    return g


def shared_account(relay, provider, per_hour=20, **over):
    a = relay.account_for(provider, shared=True, limits={"per_hour": per_hour})
    a.update(over)
    return a


def make_shared(make_relay, provider, redis, per_hour=20, group=None, start=True,
                acct=None, **settings):
    r = make_relay(provider, start=False, shared=group or shared_group(redis), **settings)
    r.settings["accounts"] = [shared_account(r, provider, per_hour, **(acct or {}))]
    r.write_config()
    if start:
        r.start()
    return r


# ---- config -------------------------------------------------------------------------------

def test_shared_config_errors_name_file_line_key(make_relay, provider, redis):
    r = make_shared(make_relay, provider, redis, start=False,
                    group=shared_group(redis, redis="http://x", on_unavailable="maybe"))
    p = r.check()
    assert p.returncode != 0
    line = next(i for i, l in enumerate(r.config_text.splitlines(), 1) if "http://x" in l)
    assert "%s:%d: shared.redis: " % (r.conf, line) in p.stderr, p.stderr
    assert "shared.on_unavailable: \"maybe\" is not a choice" in p.stderr, p.stderr
    # shared = true without the group, and without limits
    r.settings["shared"] = None
    r.write_config()
    p = r.check()
    assert p.returncode != 0 and "accounts[0].shared: needs the top-level shared group" \
        in p.stderr, p.stderr
    r.settings["shared"] = shared_group(redis)
    r.settings["accounts"][0]["limits"] = None
    r.write_config()
    p = r.check()
    assert p.returncode != 0 and "shares its limits" in p.stderr, p.stderr
    # local_share needs peers
    r.settings["accounts"][0]["limits"] = {"per_hour": 5}
    r.settings["shared"] = shared_group(redis, peers=None)
    r.write_config()
    p = r.check()
    assert p.returncode != 0 and "shared: peers: missing" in p.stderr, p.stderr
    r.settings["shared"] = shared_group(redis, redis="unix:/run/redis.sock", peers=None,
                                        on_unavailable="stop")
    r.write_config()
    p = r.check()
    assert p.returncode == 0, p.stderr


def test_shared_connects_and_shows_in_status_and_metrics(make_relay, provider, redis):
    mport = free_port()
    r = make_shared(make_relay, provider, redis, start=False,
                    metrics_listen="127.0.0.1:%d" % mport)
    r.start()
    r.wait_log(r"shared: redis=redis://127\.0\.0\.1:%d/0 connected" % redis.port, timeout=5)
    st = r.status()
    assert st["shared"]["connected"] is True, st["shared"]
    assert st["shared"]["redis"] == redis.url
    a = r.account_status()
    assert a["shared"]["connected"] is True and a["shared"]["hour_all"] == 0, a
    p = r.ctl("status")             # the text view says it too
    assert p.returncode == 0 and "main" in p.stdout, p.stderr
    assert "shared: all hosts 0 this hour, 0 today; this host 0 and 0" in p.stdout, p.stdout
    assert "\nshared: %s connected since " % redis.url in p.stdout, p.stdout
    import urllib.request
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5).read()
    assert b"relayd_shared_connected 1" in body
    # Redis goes: logged once, status says so; it returns: logged once
    mark = r.mark()
    redis.stop()
    r.wait_log(r"shared: redis=\S+ unreachable", since=mark, timeout=5)
    wait_until(lambda: r.status()["shared"]["connected"] is False, 5, "status to say down")
    time.sleep(3)      # several reconnection attempts: still one line
    assert len(r.log_lines(r"shared: redis=\S+ unreachable", since=mark)) == 1
    redis.start()
    r.wait_log(r"shared: redis=\S+ connected again after", since=mark, timeout=10)
    assert r.status()["shared"]["connected"] is True


def test_shared_without_redis_configured_needs_none(make_relay, provider):
    r = make_relay(provider)
    st = r.status()
    assert st["shared"] is None
    assert not r.log_lines(r"shared:")


# ---- the shared ledger ------------------------------------------------------------------

def message(n, tag="s"):
    return (b"From: \"Shop\" <crm@app.example>\r\nTo: <rcpt@example.org>\r\n"
            b"Subject: shared " + tag.encode() + b" " + str(n).encode() + b"\r\n"
            b"Message-ID: <" + tag.encode() + b"." + str(n).encode() + b"@app.example>\r\n"
            b"X-Seq: " + tag.encode() + b"-" + str(n).encode() + b"\r\n\r\nHello.\r\n")


def submit(relay, numbers, tag="s"):
    with relay.smtp(timeout=30) as s:
        for n in numbers:
            assert not s.sendmail(APP_FROM, ["rcpt%d@example.org" % n], message(n, tag))
        s.quit()


def seqs(provider):
    out = []
    for m in provider.messages:
        v = m.header("X-Seq")
        assert len(v) == 1, v
        out.append(v[0])
    return out


def three(make_relay, provider, redis, per_hour=20, group=None, sessions=2, **settings):
    return [make_shared(make_relay, provider, redis, per_hour, group=group,
                        acct={"sessions": sessions}, **settings) for _ in range(3)]


def queued(relays):
    return sum(len(r.queue_files()) for r in relays)


def settle_at(provider, n, quiet=2.0, timeout=20):
    """Wait until the provider has n messages, then that no more come for quiet s."""
    wait_until(lambda: len(provider.messages) >= n, timeout,
               "%d messages at the provider (has %d)" % (n, len(provider.messages)))
    time.sleep(quiet)
    return len(provider.messages)


def check_no_duplicates(provider):
    s = seqs(provider)
    assert len(s) == len(set(s)), "sent twice: %r" % sorted(x for x in s if s.count(x) > 1)


@pytest.mark.deadline(120)
def test_shared_three_hosts_hold_one_hour_limit(make_relay, provider, redis):
    """90 messages over three relayd sharing per_hour = 20: 20 at the provider, not
    more, the other 70 queued; across a restart of one instance and one of Redis
    (which comes back empty: the hosts put their ledgers back). on_unavailable stop:
    local_share trades this strictness for sending while Redis is away (below)."""
    relays = three(make_relay, provider, redis, group=shared_group(redis,
                                                                   on_unavailable="stop"))
    for r in relays:
        r.wait_log(r"shared: redis=\S+ connected", timeout=5)
    threads = [threading.Thread(target=submit, args=(r, range(30 * i, 30 * i + 30)))
               for i, r in enumerate(relays)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert settle_at(provider, 20) == 20, seqs(provider)
    check_no_duplicates(provider)
    wait_until(lambda: queued(relays) == 70, 10, "70 queued", detail=lambda: str(
        [len(r.queue_files()) for r in relays]))
    st = [r.account_status() for r in relays]
    assert all(a["shared"]["connected"] for a in st), st
    assert sum(a["shared"]["hour_here"] for a in st) == 20, st
    # the last to learn may have seen fewer, never more
    assert max(a["shared"]["hour_all"] for a in st) == 20, st
    # one instance restarts: nothing more goes
    relays[1].restart()
    relays[1].wait_log(r"shared: redis=\S+ connected", timeout=5)
    time.sleep(2)
    assert len(provider.messages) == 20
    # Redis restarts empty: each host puts its own day back; still nothing more
    redis.stop()
    redis.start()
    for r in relays:
        r.wait_log(r"connected again after", timeout=10)
    time.sleep(3)
    assert len(provider.messages) == 20, seqs(provider)
    assert queued(relays) == 70
    assert redis.cmd("ZCARD", "t:quota:%s" % "shop@example.ru") == ":20"


@pytest.mark.deadline(90)
def test_shared_kill9_with_reservations_in_flight(make_relay, provider, redis):
    """A host killed mid-transaction: its reservations stay counted (as sent); the
    others never pass the limit together; its mail is still in its spool; restarted,
    it sends nothing more (its ledger, reservations without their end included, is
    what Redis has)."""
    provider.add_rule("data", None, delay=1.5)       # transactions stay in flight
    relays = three(make_relay, provider, redis, per_hour=10)
    for r in relays:
        r.wait_log(r"shared: redis=\S+ connected", timeout=5)
    submit(relays[0], range(0, 10))
    key = "t:quota:shop@example.ru"
    wait_until(lambda: redis.cmd("ZCARD", key) not in (":0", ":1"), 20,
               "two reservations of the first host in Redis")
    relays[0].kill9()
    n0 = len(provider.messages)
    held = int(redis.cmd("ZCARD", key)[1:])
    threads = [threading.Thread(target=submit, args=(r, range(100 * i, 100 * i + 10)))
               for i, r in enumerate(relays[1:], 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    time.sleep(8)
    # relays[0] reserved at least its in-flight units: the others had at most the rest
    got = len(provider.messages)
    assert got <= 10, seqs(provider)
    others = [s for s in seqs(provider) if int(s[2:]) >= 100]
    assert len(others) == 10 - held, (held, seqs(provider))
    assert n0 <= got
    check_no_duplicates(provider)
    # its mail is still in its spool (what the provider took is sent twice only if
    # its reply was lost: the conservative rule charged it)
    assert len(relays[0].queue_files()) >= 10 - (got - len(others))
    # it comes back: its ledger goes back into Redis as it was; still nothing more
    relays[0].start()
    relays[0].wait_log(r"shared: redis=\S+ connected", timeout=5)
    time.sleep(3)
    assert len(provider.messages) == got, seqs(provider)
    assert int(redis.cmd("ZCARD", key)[1:]) == 10


# ---- shared state -----------------------------------------------------------------------

@pytest.mark.deadline(90)
def test_shared_throttle_stops_the_others_and_enable_frees_all(make_relay, provider, redis):
    """A throttle one instance meets stops the other two within a second (published,
    not found out at their next try); relayctl enable on one enables all three."""
    relays = three(make_relay, provider, redis, per_hour=100, sessions=1,
                   group=shared_group(redis))
    for r in relays:
        r.settings["accounts"][0]["backoff"] = {"initial": 60, "max": 120}
        r.write_config()
        r.restart()
    for i, r in enumerate(relays):
        submit(r, [i])
    settle_at(provider, 3, quiet=0.5)
    provider.add_rule("mail", "553 5.7.1 The server does not want to send your message now",
                      times=1)
    marks = [r.mark() for r in relays]
    submit(relays[0], [10])
    relays[0].wait_log(r"account=main status=throttled until", since=marks[0])
    t0 = time.monotonic()
    for i in (1, 2):
        relays[i].wait_log(r"account=main status=throttled until=\S+ in=\S+ \(553 5\.7\.1 .*met by ",
                           since=marks[i], timeout=1.0)
    assert time.monotonic() - t0 <= 1.0
    for i in (1, 2):
        a = relays[i].account_status()
        assert a["state"] == "throttled" and "553" in a["why"], a
    # the others send nothing on it now
    submit(relays[1], [11])
    submit(relays[2], [12])
    time.sleep(1.5)
    assert len(provider.messages) == 3, seqs(provider)
    assert redis.cmd("EXISTS", "t:state:shop@example.ru") == ":1"
    # enabled on one host: on all, and everything goes
    p = relays[2].ctl("enable", "main")
    assert p.returncode == 0, p.stderr
    for i in (0, 1):
        relays[i].wait_log(r"account=main status=enabled \(by relayctl on ", since=marks[i],
                           timeout=2)
    settle_at(provider, 6, quiet=0.5)
    check_no_duplicates(provider)
    assert redis.cmd("EXISTS", "t:state:shop@example.ru") == ":0"


@pytest.mark.deadline(90)
def test_shared_throttle_is_taken_up_by_a_host_that_starts_later(make_relay, provider, redis):
    """The state key: an instance (re)started during another's throttle takes it up."""
    relays = three(make_relay, provider, redis, per_hour=100, sessions=1)
    for r in relays:
        r.settings["accounts"][0]["backoff"] = {"initial": 60, "max": 120}
        r.write_config()
    relays[0].restart()
    relays[2].stop()
    provider.add_rule("mail", "553 5.7.1 Slow down", times=1)
    submit(relays[0], [1])
    relays[0].wait_log(r"account=main status=throttled until")
    relays[2].start()
    relays[2].wait_log(r"account=main status=throttled until=\S+ in=\S+ \(553 5\.7\.1 Slow down "
                       r"\(met by ", timeout=3)
    submit(relays[2], [2])
    time.sleep(1)
    assert len(provider.messages) == 0


# ---- Redis away ---------------------------------------------------------------------------

def per_host(provider):
    """Messages at the provider by the instance they were submitted to (X-Seq s-N:
    N // 100 is the instance)."""
    out = [0, 0, 0]
    for s in seqs(provider):
        out[int(s[2:]) // 100] += 1
    return out


@pytest.mark.deadline(150)
def test_shared_redis_away_local_share_then_reconciled(make_relay, provider, redis):
    """Redis stopped mid-mailing, on_unavailable local_share with peers 3 and per_hour
    20: each instance sends at most its share (20/3 = 6 in the hour, its sends before
    included), nothing is lost, and when Redis returns (empty) the hosts put what they
    sent into it: all hosts together then reach the limit, not more."""
    relays = three(make_relay, provider, redis, sessions=1)
    for r in relays:
        r.wait_log(r"shared: redis=\S+ connected", timeout=5)
    for i, r in enumerate(relays):
        submit(r, range(100 * i, 100 * i + 2))
    settle_at(provider, 6, quiet=0.5, timeout=30)
    redis.stop()
    for r in relays:
        r.wait_log(r"shared: redis=\S+ unreachable \(.*\); shared accounts send their local "
                   r"share", timeout=5)
    for i, r in enumerate(relays):
        submit(r, range(100 * i + 2, 100 * i + 30))
    got = settle_at(provider, 18, quiet=3, timeout=30)
    assert got == 18 and per_host(provider) == [6, 6, 6], per_host(provider)
    assert queued(relays) == 90 - 18
    redis.start()
    for r in relays:
        r.wait_log(r"connected again after", timeout=10)
    # reconciled: the 18 sends are in Redis before anyone reserves (epoch hold)
    time.sleep(1)
    assert redis.cmd("ZCARD", "t:quota:shop@example.ru") == ":18"
    assert settle_at(provider, 20, quiet=3, timeout=30) == 20, per_host(provider)
    check_no_duplicates(provider)
    assert queued(relays) == 70
    assert redis.cmd("ZCARD", "t:quota:shop@example.ru") == ":20"


@pytest.mark.deadline(120)
def test_shared_redis_away_stop_sends_nothing_until_it_returns(make_relay, provider, redis):
    relays = three(make_relay, provider, redis, sessions=1,
                   group=shared_group(redis, on_unavailable="stop", peers=None))
    for r in relays:
        r.wait_log(r"shared: redis=\S+ connected", timeout=5)
    redis.stop()
    for r in relays:
        r.wait_log(r"shared: redis=\S+ unreachable \(.*\); shared accounts send nothing",
                   timeout=5)
    for i, r in enumerate(relays):
        submit(r, range(100 * i, 100 * i + 10))
    time.sleep(3)
    assert len(provider.messages) == 0
    assert queued(relays) == 30
    st = relays[0].account_status()
    assert st["shared"]["connected"] is False, st
    redis.start()
    assert settle_at(provider, 20, quiet=3, timeout=40) == 20, per_host(provider)
    check_no_duplicates(provider)
    assert queued(relays) == 10


@pytest.mark.deadline(120)
def test_shared_three_hosts_under_the_limit_send_everything(make_relay, provider, redis):
    """Under the limit, three instances sharing the account send everything, once."""
    relays = three(make_relay, provider, redis, per_hour=1000, sessions=4)
    threads = [threading.Thread(target=submit, args=(r, range(100 * i, 100 * i + 40)))
               for i, r in enumerate(relays)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert settle_at(provider, 120, quiet=1, timeout=60) == 120, per_host(provider)
    check_no_duplicates(provider)
    wait_until(lambda: queued(relays) == 0, 10, "empty queues")
    assert redis.cmd("ZCARD", "t:quota:shop@example.ru") == ":120"


def test_shared_reload(make_relay, provider, redis):
    """A reload keeps the connection and applies on_unavailable; adding or removing the
    group waits for a restart, as the log says."""
    r = make_shared(make_relay, provider, redis)
    r.wait_log(r"shared: redis=\S+ connected", timeout=5)
    r.settings["shared"] = shared_group(redis, on_unavailable="stop")
    r.write_config()
    mark = r.mark()
    p = r.ctl("reload")
    assert p.returncode == 0, p.stderr
    r.wait_log(r"reload: \S+ loaded", since=mark)
    redis.stop()
    r.wait_log(r"unreachable \(.*\); shared accounts send nothing", since=mark, timeout=5)
    redis.start()
    r.wait_log(r"connected again", since=mark, timeout=10)
    r.settings["shared"] = None
    r.settings["accounts"][0]["shared"] = None
    r.write_config()
    mark = r.mark()
    assert r.ctl("reload").returncode == 0
    r.wait_log(r"reload: shared turned on or off; that takes effect when relayd is restarted",
               since=mark)
    assert r.status()["shared"]["connected"] is True


@pytest.mark.deadline(150)
def test_shared_three_hosts_second_hour(make_relay, provider, redis):
    """The hour slides for all hosts together: 90 messages, per_hour 20; after the
    first 20, every instance restarts with its clock an hour on (libfaketime): 20 more
    go, never more than 20 in any sliding hour of the hosts' clock, and the rest waits."""
    from test_quota import max_in_window
    relays = three(make_relay, provider, redis, sessions=1)
    threads = [threading.Thread(target=submit, args=(r, range(100 * i, 100 * i + 30)))
               for i, r in enumerate(relays)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert settle_at(provider, 20, quiet=2, timeout=40) == 20
    shift_at = time.time()
    for r in relays:
        r.stop()
        r.set_clock_offset(3601)
        r.start()
    assert settle_at(provider, 40, quiet=3, timeout=60) == 40, per_host(provider)
    check_no_duplicates(provider)
    assert queued(relays) == 50
    times = [m.time + (3601 if m.time >= shift_at else 0) for m in provider.messages]
    assert max_in_window(times, 3600) == 20


@pytest.mark.deadline(90)
def test_shared_redis_hangs(make_relay, provider, redis):
    """Redis stops answering (SIGSTOP) with a reserve in flight: after 2 s the command
    counts as lost, relayd drops the connection (the loop never waited), sends under
    local_share, and reconnects when Redis answers again."""
    import signal as sig
    r = make_shared(make_relay, provider, redis)
    r.wait_log(r"shared: redis=\S+ connected", timeout=5)
    time.sleep(8.5)                 # past the epoch hold: the next message reserves
    mark = r.mark()
    redis.proc.send_signal(sig.SIGSTOP)
    try:
        t0 = time.monotonic()
        submit(r, [1])
        r.wait_log(r"shared: redis=\S+ unreachable \(a command went unanswered\)",
                   since=mark, timeout=6)
        assert r.status(timeout=2)["shared"]["connected"] is False   # the loop answers
        settle_at(provider, 1, quiet=0.5, timeout=10)
        assert time.monotonic() - t0 < 8
    finally:
        redis.proc.send_signal(sig.SIGCONT)
    r.wait_log(r"connected again after", since=mark, timeout=15)
    time.sleep(1)
    assert redis.cmd("ZCARD", "t:quota:shop@example.ru") == ":1"


def test_shared_redis_password(make_relay, provider, tmp_path):
    """password_file: AUTH on both connections; a wrong one is refused, logged, retried."""
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.skip("redis-server is not installed")
    server = RedisServer(str(tmp_path / "redis-auth"), password="s3cret-word").start()
    try:
        secret = tmp_path / "redis.secret"
        secret.write_text("wrong\n")
        secret.chmod(0o600)
        r = make_shared(make_relay, provider, server, start=False,
                        group=shared_group(server, password_file=str(secret)))
        r.start()
        r.wait_log(r"shared: redis=\S+ refused the connection: WRONGPASS", timeout=5)
        time.sleep(2)                   # several retries: one line
        assert len(r.log_lines(r"refused the connection")) == 1, r.log_tail()
        assert "s3cret" not in r.log() and "wrong" not in r.log().split("WRONGPASS")[0]
        secret.write_text("s3cret-word\n")
        r.restart()
        r.wait_log(r"shared: redis=\S+ connected \(host=", timeout=5)
        time.sleep(8.5)
        submit(r, [1])
        settle_at(provider, 1, quiet=0.5)
        assert server.cmd("ZCARD", "t:quota:shop@example.ru") == ":1"
    finally:
        server.stop()

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

    def __init__(self, dir, port=None):
        self.dir = dir
        self.port = port or free_port()
        self.proc = None
        self.url = "redis://127.0.0.1:%d/0" % self.port

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        wait_until(lambda: self.ping(), 10, "redis-server to answer on port %d" % self.port)
        return self

    def ping(self):
        try:
            return self.cmd("PING") == "+PONG"
        except OSError:
            return False

    def cmd(self, *args):
        """One command over RESP; the first reply line (enough for the tests)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
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

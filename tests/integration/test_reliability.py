"""Trying hard to break relayd: bad certificates, resource abuse, kill -9 under load, a full
spool, injected I/O faults, valgrind. Each test states the promise it checks.

Long tests (the real 120 s idle timeout, valgrind, a longer kill loop) run only with
RELAYD_TEST_LONG=1 (`make test-long`). Faults are injected with strace (attached to the
running relayd: fsync/syncfs/write/rename errors) and libfiu (fiu-run: random write
failures); the full spool is a 600 KB tmpfs in relayd's own mount namespace (unshare -m).
"""

import collections
import errno
import os
import random
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import conftest
from conftest import wait_until

LONG = os.environ.get("RELAYD_TEST_LONG") == "1"
long_only = pytest.mark.skipif(not LONG, reason="long test: set RELAYD_TEST_LONG=1 "
                               "(make test-long)")

APP_FROM = "crm@app.example"
RCPT = "rcpt@example.org"


def message(seq=0, body=None, subject=None, extra=b""):
    if body is None:
        body = b"Hello,\r\n\r\nmessage %d.\r\n" % seq
    if subject is None:
        subject = b"msg %d" % seq
    return (b"From: Shop <crm@app.example>\r\n"
            b"To: <rcpt@example.org>\r\n"
            b"Subject: " + subject + b"\r\n"
            b"X-Seq: %d\r\n" % seq + extra +
            b"\r\n" + body)


def random_body(rng, max_kb=40):
    """CRLF lines of random printable text, some starting with dots, some empty."""
    lines = []
    size = rng.randint(10, max_kb * 1024)
    n = 0
    while n < size:
        k = rng.choice([0, 1, 5, 40, 76, 200, 998])
        line = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz .,:;-=") for _ in range(k))
        if rng.random() < 0.05:
            line = "." + line[1:] if line else "."
        if line.startswith("."):    # dotted lines stay under 998 (a 998 one is tested below)
            line = line[:997]
        lines.append(line.encode())
        n += len(line) + 2
    return b"\r\n".join(lines) + b"\r\n"


def status_re(rcpt, status):
    return r"^relayd: .*\bto=<%s>.*\bstatus=%s\b" % (re.escape(rcpt), status)


def seq_of(m):
    v = m.header("X-Seq")
    return int(v[0]) if v else None


def spool_files(relay, sub):
    d = relay.spool / sub
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def smtp_transaction(relay, msg, rcpts=(RCPT,), timeout=15):
    """One message over smtplib; returns (code, text) of the end-of-data reply (or of the
    first refusal), never raises for an SMTP refusal."""
    try:
        with relay.smtp(timeout=timeout) as s:
            s.ehlo("app.test")
            code, resp = s.mail(APP_FROM)
            if code != 250:
                return code, resp
            for r in rcpts:
                code, resp = s.rcpt(r)
                if code != 250:
                    return code, resp
            code, resp = s.data(msg)
            try:
                s.quit()
            except smtplib.SMTPException:
                pass
            return code, resp
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error


def is_sanitized(path):
    """True if the relayd binary was built with a sanitizer (no LD_PRELOAD tricks then)."""
    try:
        out = subprocess.run(["ldd", str(path)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"libasan" in out or b"libubsan" in out or b"libtsan" in out


# ---- certificates --------------------------------------------------------------------------

CERT_CASES = [
    ("implicit", "not_yet_valid", r"certificate verify failed: certificate is not yet valid"),
    ("implicit", "unknown_ca",
     r"certificate verify failed: unable to get local issuer certificate"),
    ("implicit", "nul_in_name",
     r"certificate verify failed: the certificate does not cover the configured host name"),
    ("starttls", "not_yet_valid", r"certificate verify failed: certificate is not yet valid"),
    ("starttls", "unknown_ca",
     r"certificate verify failed: unable to get local issuer certificate"),
    ("starttls", "nul_in_name",
     r"certificate verify failed: the certificate does not cover the configured host name"),
]


@pytest.mark.parametrize("tls,which,why", CERT_CASES,
                         ids=["%s-%s" % (c[0], c[1]) for c in CERT_CASES])
def test_bad_certificate_refused_before_auth(make_relay, make_provider, certs, tls, which, why):
    """Not yet valid, unknown CA, NUL in the name: the session ends in the handshake, the log
    names the reason, no AUTH/MAIL byte reaches the server, the message stays queued."""
    p = make_provider(tls, cert=getattr(certs, which))
    relay = make_relay(p)
    relay.submit(message(1), APP_FROM, [RCPT])
    line = relay.wait_log(why).string
    assert "nothing was sent" in line, line
    relay.wait_log(status_re(RCPT, "deferred"))
    assert len(relay.queue_files()) == 1, "message not kept\n" + relay.log_tail()
    sent = [(e.conn, e.what, e.tls) for e in p.events
            if e.what not in ("CONNECT", "CLOSE", "EHLO", "STARTTLS")]
    assert sent == [], "relayd went on after a failed certificate check: %r" % sent
    assert p.messages == [] and p.logins == 0 and p.auth_failures == 0
    if which == "nul_in_name":
        # the certificate itself is fine for "localhost\0.evil.example": only the name fails
        out = subprocess.run(["openssl", "verify", "-CAfile", certs.ca, certs.nul_in_name.cert],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert out.returncode == 0, out.stdout


def test_starttls_refused_454_defers_without_auth(make_relay, make_provider):
    """A server that offers STARTTLS and answers it with 454: deferred, nothing in clear
    (the stand-in would take AUTH in clear: a trap), delivered once STARTTLS works."""
    p = make_provider("starttls", starttls_reply="454 4.7.0 TLS not available due to "
                      "temporary reason")
    relay = make_relay(p)
    relay.submit(message(1), APP_FROM, [RCPT])
    relay.wait_log(r"refused STARTTLS: 454 4\.7\.0 .*nothing is sent in clear")
    relay.wait_log(status_re(RCPT, "deferred"))
    clear = [e.what for e in p.events if not e.tls and e.what not in
             ("CONNECT", "CLOSE", "EHLO", "STARTTLS", "QUIT", "RSET", "NOOP")]
    assert clear == [], "relayd sent %r in clear after STARTTLS was refused" % clear
    assert p.messages == [] and len(relay.queue_files()) == 1
    p.starttls_reply = None
    m = p.wait_for(1, timeout=20)[0]
    assert m.tls and seq_of(m) == 1
    relay.wait_queue(0)


# ---- resource abuse ------------------------------------------------------------------------

def test_max_clients_421_then_served(make_relay, provider):
    """max_clients = 5, all held: the 6th connection is served, and the session idle
    longest is told 421 4.7.0 and closed to make room (issue 14: idle connections must
    not lock the apps out); the others are undisturbed; once they leave, mail is accepted
    and delivered."""
    relay = make_relay(provider, max_clients=5)
    conns = []
    try:
        for i in range(5):
            c = relay.raw()
            assert c.reply()[0] == 220
            if i > 0:
                assert c.cmd("NOOP")[0] == 250     # heard from: not the idlest
            conns.append(c)
        extra = relay.raw()
        conns.append(extra)
        assert extra.reply()[0] == 220, "the connection beyond max_clients was not served"
        code, lines = conns[0].reply()
        assert code == 421 and lines[0].startswith("4.7.0"), (code, lines)
        assert conns[0].closed(5), "the idlest session was not closed"
        relay.wait_log(r"closed in state cmd: the longest idle session makes room")
        assert conns[1].cmd("NOOP")[0] == 250, "a busier client was disturbed"
    finally:
        for c in conns:
            c.close()

    def accepted():
        try:
            return relay.submit(message(1), APP_FROM, [RCPT]) == {}
        except (smtplib.SMTPException, OSError):
            return False
    wait_until(accepted, 10, "relayd to accept mail again after the clients left")
    assert seq_of(provider.wait_for(1)[0]) == 1


def _idle_421(relay, timeout):
    c = relay.raw(timeout=timeout)
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO app.test")[0] == 250
        t0 = time.monotonic()
        code, lines = c.reply()
        waited = time.monotonic() - t0
        assert code == 421 and lines[0].startswith("4.4.2"), (code, lines)
        assert c.closed(5), "not closed after the idle 421"
        return waited
    finally:
        c.close()


def test_idle_timeout_fast_clock(make_relay, provider):
    """The inbound command timeout (120 s) on a clock running 40 times faster (libfaketime
    speeds up the monotonic clock libevent uses): 421 4.4.2 and close after ~3 s."""
    if conftest.LIBFAKETIME is None:
        pytest.skip("libfaketime is not installed")
    relay = make_relay(provider, start=False)
    relay.extra_env.update(LD_PRELOAD=conftest.LIBFAKETIME, FAKETIME="+0 x40",
                           ASAN_OPTIONS=conftest.ASAN_PRELOAD_OK)
    relay.start()
    waited = _idle_421(relay, timeout=20)
    assert 1.0 <= waited <= 10, "idle 421 after %.1f s real (120 s at x40 is 3 s)" % waited
    relay.wait_log(r"timeout in state cmd")
    assert relay.running


@long_only
@pytest.mark.deadline(200)
def test_idle_timeout_real_clock(relay):
    """The real thing: an idle client is told 421 4.4.2 after 120 s (RFC 5321 allows
    shorter inbound limits than its 5 minutes) and the connection is closed."""
    waited = _idle_421(relay, timeout=150)
    assert 115 <= waited <= 130, "idle 421 after %.1f s, want 120 s" % waited


def test_command_line_too_long_without_crlf_closes(relay, provider):
    """4 KB of command without CRLF: 500 5.5.2, then the connection is closed."""
    c = relay.raw()
    try:
        c.reply()
        c.send(b"MAIL FROM:<" + b"a" * 4096)
        code, lines = c.reply()
        assert code == 500 and lines[0].startswith("5.5.2"), (code, lines)
        assert c.closed(5), "connection not closed after an endless command line"
    finally:
        c.close()
    assert relay.submit(message(1), APP_FROM, [RCPT]) == {}
    provider.wait_for(1)


def test_command_line_over_512_refused(relay, provider):
    """A 600-octet command line with its CRLF: 500 5.5.2 (RFC 5321 4.5.3.1.4); the session
    ends or goes on, but nothing of the line is taken as a command."""
    c = relay.raw()
    try:
        c.reply()
        c.cmd("EHLO app.test")
        code, lines = c.cmd("MAIL FROM:<" + "a" * 580 + "@app.example>")
        assert code == 500 and lines[0].startswith("5.5.2"), (code, lines)
        try:
            code2, _ = c.cmd("RCPT TO:<rcpt@example.org>")
            assert code2 == 503, "RCPT accepted after a refused MAIL: %d" % code2
        except (ConnectionError, OSError):
            pass                                  # closed: also fine
    finally:
        c.close()


def test_header_block_over_256k_552(relay, provider):
    """A header block of 300 KB (lines within 998): 552 5.3.4, nothing stored, the session
    goes on."""
    hdr = b"".join(b"X-Pad-%05d: %s\r\n" % (i, b"h" * 90) for i in range(3000))
    msg = message(1, extra=hdr)
    c = relay.raw()
    try:
        c.reply()
        c.cmd("EHLO app.test")
        assert c.cmd("MAIL FROM:<%s>" % APP_FROM)[0] == 250
        assert c.cmd("RCPT TO:<%s>" % RCPT)[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(msg + b".\r\n")
        code, lines = c.reply()
        assert code == 552 and lines[0].startswith("5.3.4") and "header" in lines[0], \
            (code, lines)
        assert c.cmd("NOOP")[0] == 250
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()
    assert spool_files(relay, "incoming") == [] and relay.queue_files() == []
    time.sleep(0.5)
    assert provider.messages == []


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_max_message_size_enforced_while_streaming(make_relay, provider):
    """max_message_size = 100000 and a client streaming 40 MB without SIZE=: the spool file
    never grows past the limit, memory stays flat, 552 5.3.4 at the end, nothing stored."""
    limit = 100000
    relay = make_relay(provider, max_message_size=limit)
    rss0 = _rss_kb(relay.proc.pid)
    biggest = 0
    c = relay.raw(timeout=30)
    try:
        c.reply()
        c.cmd("EHLO app.test")
        assert c.cmd("MAIL FROM:<%s>" % APP_FROM)[0] == 250
        assert c.cmd("RCPT TO:<%s>" % RCPT)[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(message(1, body=b""))
        chunk = (b"y" * 78 + b"\r\n") * 800            # 64 KB
        for i in range(640):
            c.send(chunk)
            if i % 16 == 0:
                for p in (relay.spool / "incoming").iterdir():
                    try:
                        biggest = max(biggest, p.stat().st_size)
                    except FileNotFoundError:
                        pass
        rss1 = _rss_kb(relay.proc.pid)
        c.send(b".\r\n")
        code, lines = c.reply()
        assert code == 552 and lines[0].startswith("5.3.4"), (code, lines)
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()
    assert biggest <= limit + 4096, "spool file grew to %d octets (limit %d)" % (biggest, limit)
    if not is_sanitized(conftest.RELAYD):      # ASan's quarantine keeps freed buffers
        assert rss1 - rss0 < 16 * 1024, "relayd grew by %d KB while refusing 40 MB" % (
            rss1 - rss0)
    assert spool_files(relay, "incoming") == [] and relay.queue_files() == []
    relay.submit(message(2), APP_FROM, [RCPT])
    assert [seq_of(m) for m in provider.wait_for(1)] == [2]


def test_max_recipients_452(make_relay, provider):
    """max_recipients = 3: the 4th RCPT gets 452 4.5.3, the message goes to the first 3."""
    relay = make_relay(provider, max_recipients=3)
    c = relay.raw()
    try:
        c.reply()
        c.cmd("EHLO app.test")
        assert c.cmd("MAIL FROM:<%s>" % APP_FROM)[0] == 250
        for i in range(3):
            assert c.cmd("RCPT TO:<r%d@example.org>" % i)[0] == 250
        code, lines = c.cmd("RCPT TO:<r3@example.org>")
        assert code == 452 and lines[0].startswith("4.5.3"), (code, lines)
        assert c.cmd("DATA")[0] == 354
        c.send(message(1) + b".\r\n")
        assert c.reply()[0] == 250
        c.cmd("QUIT")
    finally:
        c.close()
    m = provider.wait_for(1)[0]
    assert sorted(m.rcpt_tos) == ["r0@example.org", "r1@example.org", "r2@example.org"]


@pytest.mark.deadline(90)
def test_flood_and_half_open_do_not_stop_legit_mail(relay, provider):
    """200 half-open connections (connected, silent or mid-command) and 20 connections
    spraying random bytes (also inside DATA): a legitimate message is still accepted within
    a few seconds and delivered; relayd survives."""
    rng = random.Random(6)
    half = []
    try:
        for i in range(200):
            s = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
            if i % 3 == 1:
                s.sendall(b"EHLO half.open\r\nMAIL FROM:<slow@")
            elif i % 3 == 2:
                s.sendall(b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nSubj")
            half.append(s)

        def spray(k):
            r = random.Random(k)
            try:
                s = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
                s.settimeout(5)
                if k % 4 == 0:
                    s.sendall(b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n")
                for _ in range(16):
                    s.sendall(bytes(r.getrandbits(8) for _ in range(4096)))
                s.close()
            except OSError:
                pass                             # relayd closed on us: fine
        threads = [threading.Thread(target=spray, args=(k,), daemon=True) for k in range(20)]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        code, resp = smtp_transaction(relay, message(1), timeout=10)
        took = time.monotonic() - t0
        assert code == 250, "legit message refused during the flood: %d %r" % (code, resp)
        assert took < 5, "legit message took %.1f s during the flood" % took
        for t in threads:
            t.join(20)
        m = provider.wait_for(1)[0]
        assert seq_of(m) == 1
    finally:
        for s in half:
            s.close()
    assert relay.running
    time.sleep(0.5)
    assert [seq_of(m) for m in provider.messages] == [1], "something of the flood was sent"
    del rng


# ---- crashes -------------------------------------------------------------------------------

class Submitter(threading.Thread):
    """Submits numbered messages until stopped; records what got 250 and what got an
    explicit refusal."""

    def __init__(self, relay, ident, counter, lock, acked, refused):
        super().__init__(daemon=True)
        self.relay, self.num = relay, ident
        self.counter, self.lock = counter, lock
        self.acked, self.refused = acked, refused
        self.stop = threading.Event()
        self.rng = random.Random(ident)
        self.errors = 0

    def next_seq(self):
        with self.lock:
            self.counter[0] += 1
            return self.counter[0]

    def run(self):
        while not self.stop.is_set():
            try:
                with self.relay.smtp(timeout=10) as s:
                    for _ in range(self.rng.randint(1, 5)):
                        if self.stop.is_set():
                            break
                        seq = self.next_seq()
                        body = random_body(self.rng, 30)
                        msg = message(seq, body=body)
                        try:
                            s.sendmail(APP_FROM, [RCPT], msg)
                        except smtplib.SMTPResponseException as e:
                            with self.lock:
                                self.refused[seq] = (e.smtp_code, e.smtp_error[:60])
                            raise
                        with self.lock:
                            self.acked[seq] = body
                        time.sleep(self.rng.uniform(0.1, 0.5))   # below the delivery rate
                    s.quit()
            except (smtplib.SMTPException, OSError):
                self.errors += 1
                time.sleep(0.05)


def _kill_loop(relay, provider, kills, span, threads=4, seed=1):
    rng = random.Random(seed)
    lock = threading.Lock()
    counter, acked, refused = [0], {}, {}
    subs = [Submitter(relay, i, counter, lock, acked, refused) for i in range(threads)]
    for t in subs:
        t.start()
    try:
        for _ in range(kills):
            time.sleep(rng.uniform(0.2, 2 * span / kills - 0.2))
            relay.kill9()
            time.sleep(rng.uniform(0, 0.3))
            relay.start()
        time.sleep(1.0)
    finally:
        for t in subs:
            t.stop.set()
        for t in subs:
            t.join(15)
    with lock:
        acked = dict(acked)
        refused = dict(refused)
    want = set(acked)

    def all_there():
        got = {seq_of(m) for m in provider.messages}
        return want <= got
    deadline = time.monotonic() + 90
    while not all_there() and time.monotonic() < deadline:
        time.sleep(0.2)
    relay.wait_queue(0, timeout=30)
    time.sleep(1.0)
    msgs = provider.messages
    by_seq = {}
    for m in msgs:
        by_seq.setdefault(seq_of(m), []).append(m)
    lost = sorted(want - set(by_seq))
    changed = sorted(s for s in want & set(by_seq)
                     if any(m.body != acked[s] for m in by_seq[s]))
    dups = len(msgs) - len(by_seq)
    unacked = sorted(set(by_seq) - want)
    refused_sent = sorted(s for s in refused if s in by_seq and refused[s][0] >= 400)
    summary = ("kill -9 x%d under %d clients: acked %d delivered %d duplicates %d lost %d "
               "(also delivered without a 250 seen: %d; explicit refusals: %s)"
               % (kills, threads, len(want), len(want & set(by_seq)), dups, len(lost),
                  len(unacked), sorted(collections.Counter(refused.values()).items())))
    print(summary)
    return dict(lost=lost, changed=changed, refused_sent=refused_sent, summary=summary,
                acked=len(want), dups=dups)


def _check_kill_loop(relay, res):
    assert res["acked"] > 20, "too few messages acked to mean anything: " + res["summary"]
    assert not res["lost"], "LOST acknowledged messages %s\n%s\n%s" % (
        res["lost"][:20], res["summary"], relay.log_tail())
    assert not res["changed"], "delivered bodies differ from what was acked: %s" % (
        res["changed"][:20])
    assert not res["refused_sent"], "refused (4xx/5xx) messages were delivered: %s" % (
        res["refused_sent"][:20])
    assert relay.deaths == [], "relayd died on its own: %r" % relay.deaths


@pytest.mark.deadline(180)
def test_kill9_loop_under_load_loses_nothing(relay, provider):
    """10 x kill -9 at random moments over ~30 s, 4 clients submitting numbered messages,
    relayd delivering all the while: every message that got 250 arrives byte-identical;
    duplicates are counted (at least once is allowed), loss fails."""
    res = _kill_loop(relay, provider, kills=10, span=30)
    _check_kill_loop(relay, res)


@long_only
@pytest.mark.deadline(600)
def test_kill9_loop_long(relay, provider):
    """The same for 60 kills over ~3 minutes with 6 clients."""
    res = _kill_loop(relay, provider, kills=60, span=180, threads=6, seed=2)
    _check_kill_loop(relay, res)


@pytest.mark.deadline(90)
def test_kill9_mid_transaction_keeps_quota_reservation(make_relay, provider):
    """limits { per_hour = 100 }: kill -9 while the provider sits on the DATA of a message;
    after the restart the ledger still counts that reservation (hour.used never below what
    the provider received, and the resend is counted on top)."""
    provider.add_rule("data", None, delay=4, times=1)
    relay = make_relay(provider, start=False)
    relay.settings["accounts"][0]["limits"] = {"per_hour": 100}
    relay.write_config()
    relay.start()
    relay.submit(message(1), APP_FROM, [RCPT])
    provider.wait_event(lambda e: e.what == "DATA", timeout=15)
    time.sleep(0.3)
    relay.kill9()                                       # the provider has not answered yet
    provider.stop()                                     # (keep the resend until we looked)
    relay.start()
    relay.wait_log(status_re(RCPT, "deferred"))
    used = relay.account_status()["hour"]["used"]
    got = len(provider.messages)
    assert used >= max(1, got), "after kill -9 mid-transaction hour.used=%d, provider " \
        "received %d: the reservation was lost" % (used, got)
    provider.start()
    wait_until(lambda: any(seq_of(m) == 1 for m in provider.messages), 20, "the resend")
    relay.wait_queue(0)
    used2 = relay.account_status()["hour"]["used"]
    got = len(provider.messages)
    assert used2 >= got and used2 >= 2, "hour.used=%d after the resend, provider received %d" \
        " (the crashed attempt must stay counted)" % (used2, got)
    print("quota after kill -9 mid-DATA: used %d then %d, provider received %d"
          % (used, used2, got))


# ---- faults: full spool --------------------------------------------------------------------

TMPFS_KB = 600


def _tmpfs_relay(make_relay, provider):
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) missing")
    probe = subprocess.run(["unshare", "-m", "true"], stderr=subprocess.PIPE, timeout=10)
    if probe.returncode != 0:
        pytest.skip("no mount namespaces here: %s" % probe.stderr.decode(errors="replace"))
    relay = make_relay(provider, start=False)
    relay.spool.mkdir()
    relay.wrapper = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                     'mount -t tmpfs -o size=%dk,mode=0700 relayd-spool "$0" && exec "$@"'
                     % TMPFS_KB, str(relay.spool)]
    relay.start()
    return relay


def _inside(relay, *parts):
    """A path in relayd's own mount namespace (its tmpfs spool), via /proc/PID/root."""
    return Path("/proc/%d/root" % relay.proc.pid).joinpath(str(relay.spool).lstrip("/"), *parts)


def _fill(path):
    """Write zeros to path until ENOSPC; returns the octets written."""
    n = 0
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                n += f.write(b"\0" * 4096)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                return n


@pytest.mark.deadline(90)
def test_full_spool_452_never_250_then_recovers(make_relay, provider):
    """The spool on a 600 KB tmpfs of its own: once it is full, every submission gets
    452 4.3.1 (never 250) and leaves no file behind; relayd keeps running; when space
    returns, mail is accepted and delivered."""
    relay = _tmpfs_relay(make_relay, provider)
    mounts = Path("/proc/%d/mountinfo" % relay.proc.pid).read_text()
    assert " %s " % relay.spool in mounts, "spool is not a mount point in relayd's namespace"
    assert smtp_transaction(relay, message(1))[0] == 250
    provider.wait_for(1)
    wait_until(lambda: os.listdir(_inside(relay, "queue")) == [], 10, "queue/ empty")
    provider.stop()                                 # from now on mail stays queued
    # Message 1's file went to free/ for reuse, and a small message could be written
    # over it without new space. Take it away: relayd then finds its pool entry gone,
    # falls back to a new file, and that is what must fail here.
    for name in os.listdir(_inside(relay, "free")):
        os.unlink(os.path.join(_inside(relay, "free"), name))
    filler = _inside(relay, "filler")
    written = _fill(filler)
    assert written < TMPFS_KB * 1024
    results = []
    for i, size in enumerate((0, 2, 50, 300)):       # KB of body
        body = b"z" * 76 + b"\r\n"
        results.append(smtp_transaction(relay, message(10 + i, body=body * (size * 13))))
    # space for a small message, not for a big one: the big one fails mid-file
    with open(filler, "r+b") as f:
        f.truncate(max(0, written - 80 * 1024))
    results.append(smtp_transaction(relay, message(20, body=(b"w" * 76 + b"\r\n") * 5000)))
    for code, resp in results:
        assert code == 452 and resp.startswith(b"4.3.1"), \
            "full spool answered %d %r (want 452 4.3.1)\n%s" % (code, resp, relay.log_tail())
    assert relay.running, "relayd died on a full spool\n" + relay.log_tail()
    assert os.listdir(_inside(relay, "incoming")) == [], "a refused message left a file"
    assert os.listdir(_inside(relay, "queue")) == []
    relay.wait_log(r"message not stored: No space left on device|spool file.*No space")
    # space returns
    os.unlink(filler)
    assert smtp_transaction(relay, message(30))[0] == 250
    assert smtp_transaction(relay, message(31, body=(b"v" * 76 + b"\r\n") * 2000))[0] == 250
    provider.start()
    msgs = provider.wait_for(3)
    time.sleep(1.0)
    assert sorted(seq_of(m) for m in provider.messages) == [1, 30, 31]


# ---- faults: injected I/O errors -----------------------------------------------------------

class Strace:
    """strace attached to a running relayd (all its threads) injecting syscall errors;
    detach() lets it run on untouched."""

    def __init__(self, pid, injects, trace):
        if shutil.which("strace") is None:
            pytest.skip("strace is not installed")
        self.pid = pid
        args = ["strace", "-f", "-qq", "-o", "/dev/null", "-p", str(pid),
                "-e", "trace=" + ",".join(trace)]
        for inj in injects:
            args += ["-e", "inject=" + inj]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        wait_until(lambda: self._traced(), 10, "strace to attach to relayd",
                   detail=self._out)

    def _tracers(self):
        out = []
        for t in Path("/proc/%d/task" % self.pid).iterdir():
            try:
                for line in (t / "status").read_text().splitlines():
                    if line.startswith("TracerPid:"):
                        out.append(int(line.split()[1]))
            except FileNotFoundError:
                pass
        return out

    def _traced(self):
        if self.proc.poll() is not None:
            raise AssertionError("strace exited: " + self._out())
        tr = self._tracers()
        return tr and all(t == self.proc.pid for t in tr)

    def _out(self):
        return "strace %s" % self.proc.args

    def detach(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        wait_until(lambda: all(t == 0 for t in self._tracers()), 10, "strace to detach")


@pytest.mark.deadline(90)
@pytest.mark.parametrize("fault", ["sync", "write", "pwrite"])
def test_injected_io_error_451_nothing_delivered(make_relay, provider, fault):
    """EIO from syncfs+fsync (the group commit), from write (the message octets) or from
    pwrite (the size/crc seal): the client gets 451 4.3.0, never 250; no half message is
    delivered, also after kill -9 and recovery; relayd keeps running and takes the next
    message once the fault is gone."""
    relay = make_relay(provider)
    if is_sanitized(conftest.RELAYD) and fault != "sync":
        pytest.skip("the sanitizer runtime writes through write() too")
    assert smtp_transaction(relay, message(1))[0] == 250
    provider.wait_for(1)
    relay.wait_queue(0)
    inject = {
        "sync": (["syncfs:error=EIO", "fsync:error=EIO", "fdatasync:error=EIO"],
                 ["syncfs", "fsync", "fdatasync"]),
        # the log line to stderr fails too; replies go out with writev/sendmsg
        "write": (["write:error=EIO"], ["write"]),
        "pwrite": (["pwrite64:error=EIO"], ["pwrite64"]),
    }[fault]
    st = Strace(relay.proc.pid, *inject)
    try:
        body = (b"half " * 15 + b"\r\n") * 400
        code, resp = smtp_transaction(relay, message(2, body=body))
    finally:
        st.detach()
    assert code == 451 and resp.startswith(b"4.3.0"), \
        "with %s failing: %d %r (want 451 4.3.0)\n%s" % (fault, code, resp, relay.log_tail())
    assert relay.running
    assert spool_files(relay, "incoming") == [] and relay.queue_files() == []
    assert smtp_transaction(relay, message(3))[0] == 250
    wait_until(lambda: 3 in {seq_of(m) for m in provider.messages}, 15, "message 3")
    relay.kill9()
    relay.start()
    time.sleep(1.5)
    assert sorted(seq_of(m) for m in provider.messages) == [1, 3], \
        "the refused message 2 was delivered"
    relay.wait_queue(0)


@pytest.mark.deadline(90)
def test_sigterm_during_slow_commit_answers_250_then_421(make_relay, provider):
    """SIGTERM 0.5 s after the final dot while the group commit's sync takes 3 s: the commit
    finishes, the client gets 250 and then 421 4.3.2 and the close (it would resend a
    message it got no answer for, so a restart under load duplicated mail); relayd exits
    0, and the message is delivered once after the restart."""
    relay = make_relay(provider, start=False)
    if is_sanitized(conftest.RELAYD):   # LeakSanitizer fails the exit under strace
        relay.extra_env["ASAN_OPTIONS"] = ":".join(
            x for x in (os.environ.get("ASAN_OPTIONS"), "detect_leaks=0") if x)
    relay.start()
    c = relay.raw(timeout=20)
    st = None
    try:
        assert c.reply()[0] == 220
        c.cmd("EHLO app.test")
        assert c.cmd("MAIL FROM:<%s>" % APP_FROM)[0] == 250
        assert c.cmd("RCPT TO:<%s>" % RCPT)[0] == 250
        assert c.cmd("DATA")[0] == 354
        st = Strace(relay.proc.pid, ["syncfs:delay_enter=3000000",
                                     "fsync:delay_enter=3000000"], ["syncfs", "fsync"])
        c.send(message(1) + b".\r\n")
        time.sleep(0.5)
        relay.expect_exit = True
        relay.proc.send_signal(signal.SIGTERM)
        code, lines = c.reply()
        assert code == 250, "the message being committed at SIGTERM: %d %r\n%s" % (
            code, lines, relay.log_tail())
        code, lines = c.reply()
        assert code == 421 and lines[0].startswith("4.3.2"), (code, lines)
        assert c.closed(5), "not closed after the 421"
    finally:
        c.close()
        if st is not None:
            try:
                st.proc.wait(20)         # strace ends with relayd
            except subprocess.TimeoutExpired:
                st.proc.kill()
                st.proc.wait(5)
    assert relay._reap(20) == 0, relay.log_tail()
    assert not relay.log_lines(r"client left before 250")
    relay.start()
    assert seq_of(provider.wait_for(1)[0]) == 1
    relay.wait_queue(0)
    time.sleep(1.0)
    assert [seq_of(m) for m in provider.messages] == [1]


@pytest.mark.deadline(90)
def test_injected_rename_error_still_durable(make_relay, provider):
    """EIO from renameat after the group commit: the message is already durable in
    incoming/, so 250 is right; it is delivered once, and after kill -9 recovery moves it
    into queue/ and delivers it."""
    relay = make_relay(provider)
    provider.stop()
    st = Strace(relay.proc.pid, ["renameat:error=EIO", "renameat2:error=EIO"],
                ["renameat", "renameat2", "rename"])
    try:
        code, resp = smtp_transaction(relay, message(1))
    finally:
        st.detach()
    assert code == 250, (code, resp)
    relay.wait_log(r"rename into queue/ failed")
    assert len(spool_files(relay, "incoming")) == 1 and relay.queue_files() == []
    relay.kill9()
    relay.start()
    relay.wait_log(r"recovered a committed message from incoming/")
    provider.start()
    assert seq_of(provider.wait_for(1, timeout=20)[0]) == 1
    relay.wait_queue(0)
    time.sleep(1.0)
    assert len(provider.messages) == 1
    assert spool_files(relay, "incoming") == []


@pytest.mark.deadline(120)
def test_libfiu_random_write_failures(make_relay, provider):
    """libfiu makes 3% of write() calls fail with EIO (fiu-run -x: the spool writes, the
    log, whatever uses write()) over 40 submissions: every message that got 250 is
    delivered intact, none that got 451 is delivered, relayd never dies."""
    if shutil.which("fiu-run") is None:
        pytest.skip("fiu-run missing (apt-get install fiu-utils)")
    if is_sanitized(conftest.RELAYD):
        pytest.skip("libfiu's preload crashes an ASan build at start (its own interposition)")
    relay = make_relay(provider, start=False)
    # Faults start once relayd runs (fiu-ctrl on its control fifo): a failed write at
    # start-up makes relayd refuse to start, rightly, and is not what this tests.
    relay.wrapper = ["fiu-run", "-x"]
    relay.start()
    # The port is bound before the spool's other files (bounce store, events) are
    # opened: wait for the end of start-up, not just the listening socket.
    relay.wait_log(r"relayd \S+ started: ")
    p = subprocess.run(["fiu-ctrl", "-c",
                        "enable_random name=posix/io/rw/write,probability=0.03,failinfo=%d"
                        % errno.EIO, str(relay.proc.pid)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=10)
    assert p.returncode == 0, "fiu-ctrl: %s" % p.stdout
    rng = random.Random(3)
    acked, refused = {}, {}
    for seq in range(1, 41):
        body = random_body(rng, 20)
        try:
            code, resp = smtp_transaction(relay, message(seq, body=body), timeout=10)
        except (smtplib.SMTPException, OSError):
            continue
        if code == 250:
            acked[seq] = body
        else:
            refused[seq] = (code, resp)
    assert relay.running, relay.log_tail()
    wait_until(lambda: set(acked) <= {seq_of(m) for m in provider.messages}, 30,
               "every acked message at the provider")
    relay.wait_queue(0)
    time.sleep(1.0)
    got = {}
    for m in provider.messages:
        got.setdefault(seq_of(m), []).append(m)
    bad = [s for s in acked if any(m.body != acked[s] for m in got[s])]
    assert not bad, "delivered bodies differ: %s" % bad
    assert not [s for s in refused if s in got], "refused messages delivered: %s" % [
        s for s in refused if s in got]
    assert all(c in (451, 452) or c >= 500 for c, _ in refused.values()), refused
    print("libfiu write faults: %d acked, %d refused %s, %d delivered"
          % (len(acked), len(refused), sorted({c for c, _ in refused.values()}), len(got)))


# ---- valgrind ------------------------------------------------------------------------------

@long_only
@pytest.mark.deadline(300)
def test_valgrind_no_leaks_no_errors(make_relay, make_provider, tmp_path):
    """relayd under valgrind memcheck over a representative run: messages delivered, a
    refused recipient, a 4xx retry, a bare-LF client, relayctl status, a reload (SIGHUP),
    more mail, SIGTERM: no errors, no definite leaks."""
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind missing")
    if is_sanitized(conftest.RELAYD):
        pytest.skip("valgrind does not run sanitizer builds")
    p = make_provider("implicit")
    p.refuse_rcpt("nobody@example.org", "550 5.1.1 No such user")
    p.add_rule("mail", "451 4.3.0 later", times=1)
    vlog = tmp_path / "valgrind.log"
    relay = make_relay(p, start=False)
    relay.wrapper = ["valgrind", "--tool=memcheck", "--leak-check=full",
                     "--errors-for-leak-kinds=definite", "--error-exitcode=99",
                     "--track-fds=no", "--log-file=%s" % vlog]
    relay.start(timeout=60)
    for i in range(5):
        relay.submit(message(i), APP_FROM, [RCPT, "nobody@example.org"])
    p.wait_for(5, timeout=60)
    c = relay.raw()
    try:
        c.reply()
        c.cmd("EHLO app.test")
        c.cmd("MAIL FROM:<a@b.c>")
        c.cmd("RCPT TO:<d@e.f>")
        c.cmd("DATA")
        c.send(b"Subject: x\r\n\r\nbare\nlf\r\n.\r\n")
        c.reply()
    finally:
        c.close()
    assert relay.ctl("status").returncode == 0
    assert relay.ctl("status", "--json").returncode == 0
    mark = relay.mark()
    relay.proc.send_signal(signal.SIGHUP)
    relay.wait_log(r"(?i)reload", since=mark, timeout=30)
    relay.submit(message(9), APP_FROM, [RCPT])
    wait_until(lambda: 9 in {seq_of(m) for m in p.messages}, 60, "message 9 after reload")
    relay.wait_queue(0, timeout=60)
    relay.stop(timeout=60)           # asserts exit 0: valgrind exits 99 on any error
    text = vlog.read_text()
    print("valgrind:", " | ".join(l.split("== ", 1)[-1] for l in text.splitlines()
                                  if re.search(r"lost:|ERROR SUMMARY|in use at exit|"
                                               r"heap blocks were freed", l)))
    assert "ERROR SUMMARY: 0 errors" in text, text[-4000:]
    assert re.search(r"definitely lost: 0 bytes|All heap blocks were freed", text) or \
        "definitely lost" not in text, text[-4000:]


# ---- found while breaking it ---------------------------------------------------------------

def _raw_data(relay, payload):
    c = relay.raw()
    try:
        c.reply()
        c.cmd("EHLO app.test")
        assert c.cmd("MAIL FROM:<%s>" % APP_FROM)[0] == 250
        assert c.cmd("RCPT TO:<%s>" % RCPT)[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(payload + b".\r\n")
        code, lines = c.reply()
        c.cmd("QUIT")
        return code, lines
    finally:
        c.close()


def test_998_octet_line_accepted(relay, provider):
    """Control for the next test: a 998-octet line (1000 with CRLF) is legal and accepted."""
    line = b"a" * 998
    code, lines = _raw_data(relay, message(1, body=line + b"\r\n"))
    assert code == 250, (code, lines)
    assert provider.wait_for(1)[0].body == line + b"\r\n"


def test_998_octet_line_starting_with_dot_accepted(relay, provider):
    """A 998-octet line that begins with '.', sent dot-stuffed as any client does (smtplib,
    Postfix): legal (RFC 5321 4.5.3.1.6), must be accepted and arrive unstuffed."""
    line = b"." + b"a" * 997
    code, lines = _raw_data(relay, message(1, body=b"." + line + b"\r\n"))
    assert code == 250, "998-octet dotted line refused: %d %r" % (code, lines)
    assert provider.wait_for(1)[0].body == line + b"\r\n"


# ---- secrets -------------------------------------------------------------------------------

SECRET = "Zq9-unlikely-password-7Kx"


def _secret_relay(make_relay, provider, mode):
    relay = make_relay(provider, start=False, log_level="debug")
    pw = relay.dir / "main.secret"
    pw.write_text(SECRET + "\n")
    os.chmod(pw, mode)
    acct = relay.settings["accounts"][0]
    del acct["password"]
    acct["password_file"] = str(pw)
    provider.password = SECRET
    relay.write_config()
    return relay, pw


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o602])
def test_password_file_open_to_others_refused(make_relay, provider, mode):
    """A password file others may read or write: relayd -t and the daemon refuse it, say
    which file and what to do, and never print the password."""
    relay, pw = _secret_relay(make_relay, provider, mode)
    p = relay.check()
    assert p.returncode == 1, p.stderr
    assert str(pw) in p.stderr and "chmod 600" in p.stderr, p.stderr
    assert SECRET not in p.stdout + p.stderr
    d = subprocess.run([str(conftest.RELAYD), "-c", str(relay.conf)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=10)
    assert d.returncode != 0 and "chmod 600" in d.stdout and SECRET not in d.stdout, d.stdout


def test_password_never_logged_or_shown_core_dumps_off(make_relay, provider):
    """With log_level debug, a good login, a refused login and relayctl status: the password
    is nowhere in the log or relayctl's output; the daemon cannot dump core."""
    relay, _ = _secret_relay(make_relay, provider, 0o600)
    relay.start()
    relay.submit(message(1), APP_FROM, [RCPT])
    provider.wait_for(1)
    provider.add_rule("auth", "535 5.7.8 Authentication credentials invalid")
    provider.restart()                                  # next session logs in again: refused
    relay.submit(message(2), APP_FROM, [RCPT])
    relay.wait_log(r"535")
    outs = [relay.ctl("status").stdout, relay.ctl("status", "--json").stdout]
    limits = Path("/proc/%d/limits" % relay.proc.pid).read_text()
    core = [l for l in limits.splitlines() if l.startswith("Max core file size")]
    assert core and core[0].split()[4:6] == ["0", "0"], core
    relay.stop()
    log = relay.log()
    assert SECRET not in log, "password in the log: %r" % [l for l in log.splitlines()
                                                           if SECRET in l]
    import base64
    for enc in (base64.b64encode(b"\0" + conftest.USER.encode() + b"\0" + SECRET.encode()),
                base64.b64encode(SECRET.encode())):
        assert enc.decode() not in log, "AUTH payload in the log"
    assert not any(SECRET in o for o in outs), "password shown by relayctl"


def _long_rcpt(i):
    """A 250-octet address (64-octet local part, three long labels)."""
    return "r%05d%s@%s.%s.%s.org" % (i, "x" * 58, "a" * 63, "b" * 63, "c" * 53)


@pytest.mark.deadline(120)
def test_big_envelope_survives_restart(make_relay, provider):
    """max_recipients = 10000 (the config's maximum) and 9000 recipients of 250 octets
    (legal: RFC 5321 allows 256-octet paths): the envelope is 2.3 MB. relayd acks it;
    after a restart it must still be queued and then delivered to every recipient."""
    n = 9000
    relay = make_relay(provider, max_recipients=10000)
    provider.stop()
    c = relay.raw(timeout=30)
    try:
        c.reply()
        c.cmd("EHLO app.test")
        cmds = ["MAIL FROM:<%s>" % APP_FROM] + ["RCPT TO:<%s>" % _long_rcpt(i) for i in range(n)]
        c.send(("\r\n".join(cmds) + "\r\n").encode())
        codes = [c.reply()[0] for _ in cmds]
        assert codes == [250] * len(cmds), sorted(set(codes))
        assert c.cmd("DATA")[0] == 354
        c.send(message(1) + b".\r\n")
        code, lines = c.reply()
        assert code == 250, (code, lines)
        c.cmd("QUIT")
    finally:
        c.close()
    files = relay.queue_files()
    assert len(files) == 1 and files[0].stat().st_size > 2 * 1024 * 1024
    mark = relay.mark()
    relay.restart()
    relay.wait_log(r"relayd \S+ started:", since=mark)
    assert not relay.log_lines(r"unreadable queue file", since=mark), \
        "acked message not loaded after a restart:\n" + "\n".join(
            relay.log_lines(r"unreadable queue file|started:", since=mark))
    provider.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if sum(len(m.rcpt_tos) for m in provider.messages) >= n:
            break
        time.sleep(0.5)
    got = {r for m in provider.messages for r in m.rcpt_tos}
    assert len(got) == n, "%d of %d recipients got the message" % (len(got), n)

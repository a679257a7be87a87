"""Integration harness: real relayd, real TLS provider stand-in, real clients, loopback only.

Fixtures
  certs            (session) test PKI from tests/certs.py: .ca, .good, .wrong_host,
                   .self_signed, .expired (each .cert/.key)
  make_provider    factory: make_provider(tls="implicit"|"starttls"|"none", cert=certs.X,
                   start=True, **Provider kwargs) -> started tests/provider.py Provider,
                   user USER / password PASSWORD; all stopped at teardown
  provider         an implicit-TLS provider with the good certificate
  provider_starttls  a STARTTLS provider with the good certificate
  make_relay       factory: make_relay(provider=None, start=True, accounts=None, **settings)
                   -> Relay (config in tmp_path, account pointing at provider, ca_file = test
                   CA, retry initial=1 max=2); settings override top-level config keys (None
                   drops a key). Every relayd started is stopped at teardown and its log printed
                   (pytest shows it for failing tests).
  relay            make_relay(provider) with the implicit provider, started

Relay extras: relay.wrapper = [argv...] is put before relayd's command line from the next
start() on (the wrapper must exec relayd, keeping its pid); relay.set_clock_offset(S) runs relayd from its next start() with its wall
clock S seconds ahead (libfaketime); relay.ctl(*args) runs relayctl against it (-s its
socket, or config=/sock=); relay.status() / relay.account_status(name) parse
`relayctl status --json`.

Every test has a deadline (SIGALRM, default 60 s, @pytest.mark.deadline(N) to change), so no
test can hang; all waits in the helpers have their own shorter timeouts.
"""

import atexit
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from certs import make_certs  # noqa: E402
from provider import Provider  # noqa: E402

# RELAYD=/path/to/relayd runs the suite against another build (sanitizers, installed copy)
RELAYD = Path(os.environ.get("RELAYD") or ROOT / "build" / "relayd")
RELAYCTL = Path(os.environ.get("RELAYCTL") or ROOT / "build" / "relayctl")
# libfaketime (Debian package libfaketime): relayd can run with its clock shifted
LIBFAKETIME = next((str(p) for p in sorted(
    Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), None)
# an ASan build refuses to start under LD_PRELOAD (libfaketime, libfiu) unless told it is fine
ASAN_PRELOAD_OK = ":".join(x for x in (os.environ.get("ASAN_OPTIONS"),
                                        "verify_asan_link_order=0") if x)
USER = "shop@example.ru"
PASSWORD = "secret"
DEADLINE = 60
START_TIMEOUT = 10.0
DELIVERY_TIMEOUT = 15.0

_running = set()   # every relayd Popen still alive, killed at exit whatever happens


@atexit.register
def _kill_leftovers():
    for p in list(_running):
        if p.poll() is None:
            p.kill()


# ---- generic plumbing ----------------------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line("markers", "deadline(seconds): per-test time limit (default 60)")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


class DeadlineExceeded(Exception):
    pass


@pytest.fixture(autouse=True)
def _deadline(request):
    m = request.node.get_closest_marker("deadline")
    secs = int(m.args[0]) if m else DEADLINE

    def expired(signum, frame):
        raise DeadlineExceeded("test exceeded its %d s deadline" % secs)

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(secs)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def free_port():
    """A TCP port free on both 127.0.0.1 and ::1 (checked by binding both)."""
    for _ in range(100):
        a = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        b = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            b.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            b.bind(("::1", port))
            return port
        except OSError:
            continue
        finally:
            a.close()
            b.close()
    raise RuntimeError("no free port")


def wait_until(pred, timeout, what, interval=0.05, detail=None):
    """Poll pred() until true; AssertionError naming `what` (and detail()) on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            msg = "timed out after %.1fs waiting for %s" % (timeout, what)
            if detail:
                msg += "\n" + detail()
            raise AssertionError(msg)
        time.sleep(interval)


# ---- libconfig rendering -----------------------------------------------------------------

def _cfg_value(v, indent):
    pad = "  " * indent
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, Raw):
        return v.text
    if isinstance(v, dict):
        # one setting per line: tests compute the line a key is on
        inner = "".join("%s  %s = %s;\n" % (pad, k, _cfg_value(x, indent + 1))
                        for k, x in v.items() if x is not None)
        return "{\n" + inner + pad + "}"
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(x, dict) for x in v):      # list of groups
            return ("(\n" + ",\n".join(pad + "  " + _cfg_value(x, indent + 1) for x in v)
                    + "\n" + pad + ")")
        return "[ " + ", ".join(_cfg_value(x, indent) for x in v) + " ]"
    raise TypeError("cannot render %r" % (v,))


class Raw:
    """A value written into the config verbatim (e.g. Raw('70000'), Raw('"a" "b"'))."""

    def __init__(self, text):
        self.text = text


def render_config(settings):
    """dict -> libconfig text, one `key = value;` per line, groups expanded."""
    out = []
    for k, v in settings.items():
        if v is None:
            continue
        if k == "retry" and isinstance(v, dict):   # short groups on one line
            out.append("retry = { %s };" % " ".join("%s = %s;" % (a, _cfg_value(b, 0))
                                                   for a, b in v.items() if b is not None))
        else:
            out.append("%s = %s;" % (k, _cfg_value(v, 0)))
    return "\n".join(out) + "\n"


def line_of(text, needle):
    """1-based number of the first line of text containing needle."""
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError("%r not in config:\n%s" % (needle, text))


# ---- SMTP helpers ------------------------------------------------------------------------

class RawSMTP:
    """A byte-exact SMTP client on a plain socket (for what smtplib would fix up)."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.transcript = []

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by relayd; got so far: %r"
                                      % self.transcript)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        self.transcript.append(("S", line))
        return line.decode("utf-8", "replace")

    def reply(self):
        """Read one reply: (code, [text lines])."""
        lines = []
        while True:
            line = self._line()
            if not re.match(r"^\d{3}[ -]", line + " "):
                raise AssertionError("malformed reply line %r" % line)
            lines.append(line[4:])
            if line[3:4] != "-":
                return int(line[:3]), lines

    def send(self, data: bytes):
        self.transcript.append(("C", data))
        self.sock.sendall(data)

    def cmd(self, line: str):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def closed(self, timeout=5.0):
        """True if the server closes the connection within timeout (remaining data dropped)."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Relay:
    """One relayd under test: config, process, log, spool, clients."""

    def __init__(self, tmp, certs, provider=None, accounts=None, **settings):
        self.dir = Path(tmp)
        self.certs = certs
        self.port = free_port()
        self.spool = self.dir / "spool"
        self.queue = self.spool / "queue"
        self._sockdir = tempfile.mkdtemp(prefix="relayd-")   # short path for the socket
        self.control_socket = os.path.join(self._sockdir, "control.sock")
        self.conf = self.dir / "relayd.conf"
        self.log_path = self.dir / "relayd.log"
        self.proc = None
        self.expect_exit = False      # set while we stop/kill it on purpose
        self.deaths = []              # unexpected exits: (returncode, when)
        self.clock_offset = 0         # seconds relayd's clock is ahead (set_clock_offset)
        self.extra_env = {}           # environment added for relayd (start)
        self.wrapper = []             # argv put before relayd's (unshare, strace...) at start
        if accounts is None:
            accounts = [self.account_for(provider)] if provider is not None else []
        self.settings = {
            "listen": ["127.0.0.1:%d" % self.port, "[::1]:%d" % self.port],
            "spool_dir": str(self.spool),
            "control_socket": self.control_socket,
            "max_message_size": 31457280,
            "retry": {"initial": 1, "max": 2, "lifetime": 3600},
            "accounts": accounts,
        }
        self.settings.update(settings)
        self.write_config()

    def account_for(self, provider, **over):
        acct = {"name": "main", "host": "localhost", "port": provider.port,
                "tls": provider.tls if provider.tls != "none" else "starttls",
                "username": USER, "password": PASSWORD, "ca_file": self.certs.ca,
                "sessions": 1,
                # throttle replies suspend the account for its backoff (default 300 s)
                "backoff": {"initial": 1, "max": 2}}
        acct.update(over)
        return acct

    # -- config

    def write_config(self, text=None):
        self.config_text = text if text is not None else render_config(self.settings)
        self.conf.write_text(self.config_text)
        return self.conf

    def check(self, conf=None, timeout=10):
        """relayd -c CONF -t -> CompletedProcess (text stdout/stderr)."""
        return subprocess.run([str(RELAYD), "-c", str(conf or self.conf), "-t"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout)

    # -- process

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=START_TIMEOUT, wait_listen=True):
        assert not self.running, "relayd already running"
        if not os.access(RELAYD, os.X_OK):
            pytest.fail("%s is missing: run make first" % RELAYD)
        self._logf = open(self.log_path, "ab")
        self._logf.write(b"--- harness: starting %s -c %s\n" % (bytes(RELAYD), bytes(self.conf)))
        self._logf.flush()
        self.expect_exit = False
        env = dict(os.environ, **self.extra_env) if self.extra_env else None
        self.proc = subprocess.Popen(list(self.wrapper) + [str(RELAYD), "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=self._logf,
                                     stderr=self._logf, cwd=str(self.dir), env=env)
        _running.add(self.proc)
        if wait_listen:
            addrs = [("127.0.0.1", self.port), ("::1", self.port)]

            def listening():
                if self.proc.poll() is not None:
                    raise AssertionError("relayd exited with status %s during start-up\n%s"
                                         % (self.proc.returncode, self.log_tail()))
                return all(_accepts(a) for a in addrs)
            wait_until(listening, timeout, "relayd to listen on 127.0.0.1 and ::1 port %d"
                       % self.port, detail=self.log_tail)
        return self

    def set_clock_offset(self, seconds):
        """From the next start() on, relayd runs with its wall clock `seconds` ahead
        (libfaketime via LD_PRELOAD; monotonic clock untouched, so timers keep real
        durations). 0 runs it on the real clock again."""
        for k in ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC", "ASAN_OPTIONS"):
            self.extra_env.pop(k, None)
        self.clock_offset = seconds
        if seconds:
            if LIBFAKETIME is None:
                pytest.skip("libfaketime is not installed (apt-get install faketime)")
            self.extra_env.update(LD_PRELOAD=LIBFAKETIME, FAKETIME="%+ds" % seconds,
                                  FAKETIME_DONT_FAKE_MONOTONIC="1")
            self.extra_env.update(ASAN_OPTIONS=ASAN_PRELOAD_OK)

    def _reap(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        finally:
            _running.discard(self.proc)
            self._logf.close()
        return rc

    def stop(self, timeout=10):
        """SIGTERM; asserts that relayd exits 0 within timeout."""
        assert self.proc is not None, "relayd not started"
        self._note_death()
        self.expect_exit = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self._reap(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self._reap(5)
            raise AssertionError("relayd did not exit within %ss of SIGTERM\n%s"
                                 % (timeout, self.log_tail()))
        assert rc == 0, "relayd exited %s after SIGTERM (expected 0)\n%s" % (rc, self.log_tail())
        return rc

    def kill9(self):
        assert self.running, "relayd not running\n" + self.log_tail()
        self.expect_exit = True
        self.proc.kill()
        self._reap(10)

    def restart(self, timeout=START_TIMEOUT):
        if self.running:
            self.stop()
        return self.start(timeout)

    def _note_death(self):
        if self.proc is not None and not self.expect_exit and self.proc.poll() is not None:
            if (self.proc.returncode, self.proc.pid) not in self.deaths:
                self.deaths.append((self.proc.returncode, self.proc.pid))

    def teardown(self):
        """Stop whatever is still running; return a problem report ('' if none)."""
        problems = []
        if self.proc is not None:
            self._note_death()
            if self.proc.poll() is None:
                self.expect_exit = True
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self._reap(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self._reap(5)
                    problems.append("relayd ignored SIGTERM for 10 s at teardown (killed)")
            else:
                self._reap(1)
        for rc, pid in self.deaths:
            if rc is not None and rc < 0:
                problems.append("relayd (pid %d) died of signal %d during the test" % (pid, -rc))
        log = self.log()
        for pat in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if pat in log:
                problems.append("sanitizer report in relayd log: %s" % pat)
        shutil.rmtree(self._sockdir, ignore_errors=True)
        return "\n".join(problems)

    # -- log

    def log(self):
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        lines = self.log().splitlines()
        return "----- relayd log (last %d lines of %d) -----\n%s" % (
            min(n, len(lines)), len(lines), "\n".join(lines[-n:]))

    def mark(self):
        """Position in the log; pass as since= to look only at what follows."""
        return len(self.log())

    def log_lines(self, pattern, since=0, flags=0):
        rx = re.compile(pattern, flags)
        return [l for l in self.log()[since:].splitlines() if rx.search(l)]

    def wait_log(self, pattern, timeout=DELIVERY_TIMEOUT, since=0, flags=0):
        """Wait for a log line matching the regex; returns the re.Match."""
        rx = re.compile(pattern, flags)

        def found():
            for line in self.log()[since:].splitlines():
                m = rx.search(line)
                if m:
                    return m
            if self.proc is not None and self.proc.poll() is not None and not self.expect_exit:
                raise AssertionError("relayd exited (status %s) while waiting for log /%s/\n%s"
                                     % (self.proc.returncode, pattern, self.log_tail()))
            return None
        return wait_until(found, timeout, "relayd log line /%s/" % pattern,
                          detail=self.log_tail)

    # -- relayctl

    def ctl(self, *args, sock=None, config=None, timeout=10):
        """Run relayctl (-s this relay's socket, or -c config / -s sock if given) with
        args; CompletedProcess with text stdout/stderr."""
        if config is not None:
            where = ["-c", str(config)]
        else:
            where = ["-s", str(sock or self.control_socket)]
        return subprocess.run([str(RELAYCTL)] + where + [str(a) for a in args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout)

    def status(self, timeout=10):
        """`relayctl status --json`, parsed; AssertionError if relayctl fails."""
        p = self.ctl("status", "--json", timeout=timeout)
        assert p.returncode == 0, "relayctl status --json exited %d: %s%s" % (
            p.returncode, p.stderr, p.stdout)
        return json.loads(p.stdout)

    def account_status(self, name="main"):
        """The status entry of one account."""
        st = self.status()
        for a in st["accounts"]:
            if a["name"] == name:
                return a
        raise AssertionError("no account %r in relayctl status: %r" % (name, st))

    # -- spool

    def queue_files(self):
        """Regular files anywhere under SPOOL/queue (one per queued message)."""
        if not self.queue.is_dir():
            return []
        return sorted(p for p in self.queue.rglob("*") if p.is_file())

    def _queue_detail(self):
        return "queue: %s\n%s" % ([str(p.relative_to(self.queue)) for p in self.queue_files()],
                                  self.log_tail())

    def wait_queue(self, n, timeout=DELIVERY_TIMEOUT):
        """Wait until exactly n files are under SPOOL/queue."""
        return wait_until(lambda: len(self.queue_files()) == n or None, timeout,
                          "%d file(s) under %s" % (n, self.queue), detail=self._queue_detail)

    # -- clients

    def smtp(self, host="127.0.0.1", timeout=15):
        """A connected smtplib.SMTP (caller quits)."""
        return smtplib.SMTP(host, self.port, local_hostname="app.test", timeout=timeout)

    def submit(self, msg, from_addr="app@crm.example", to=("rcpt@example.org",),
               host="127.0.0.1", timeout=15):
        """Send one message through smtplib; returns sendmail's refused-recipients dict."""
        if isinstance(to, str):
            to = [to]
        with self.smtp(host, timeout) as s:
            refused = s.sendmail(from_addr, list(to), msg)
            s.quit()
        return refused

    def raw(self, host="127.0.0.1", timeout=10.0):
        return RawSMTP(host, self.port, timeout)

    def swaks(self, *args, timeout=30):
        """Run swaks against relayd; CompletedProcess with text output."""
        cmd = ["swaks", "--server", "127.0.0.1", "--port", str(self.port),
               "--helo", "app.test", "--timeout", "15"] + list(args)
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout)


def _accepts(addr):
    try:
        with socket.create_connection(addr, timeout=0.5):
            return True
    except OSError:
        return False


# ---- fixtures ----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return make_certs(str(tmp_path_factory.mktemp("certs")))


@pytest.fixture
def make_provider(certs):
    made = []

    def make(tls="implicit", cert=None, start=True, **kw):
        ck = cert if cert is not None else certs.good
        kw.setdefault("user", USER)
        kw.setdefault("password", PASSWORD)
        p = Provider(tls=tls, cert=ck.cert, key=ck.key, **kw)
        made.append(p)
        if start:
            p.start()
        return p

    yield make
    for p in made:
        print(p.describe())
        p.stop()


@pytest.fixture
def provider(make_provider):
    return make_provider("implicit")


@pytest.fixture
def provider_starttls(make_provider):
    return make_provider("starttls")


@pytest.fixture
def make_relay(tmp_path, certs):
    made = []

    def make(provider=None, start=True, accounts=None, **settings):
        sub = tmp_path / ("relay%d" % len(made))
        sub.mkdir()
        r = Relay(sub, certs, provider=provider, accounts=accounts, **settings)
        made.append(r)
        if start:
            r.start()
        return r

    yield make
    problems = []
    for r in made:
        p = r.teardown()
        print("===== relayd config %s =====\n%s" % (r.conf, r.config_text))
        print("===== relayd log %s =====\n%s" % (r.log_path, r.log()))
        if p:
            problems.append(p)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def relay(make_relay, provider):
    return make_relay(provider)

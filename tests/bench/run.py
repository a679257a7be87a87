#!/usr/bin/python3
"""relayd against Postfix, side by side, on loopback (make bench; see tests/bench/run.sh).

Every figure of issue 7 (and issue 18's: accepts with the event journal on, and events
delivered per second by the webhook): durable accepts (smtp-source, one connection per message, i.e.
without -d) at 1/10/50 sessions, end-to-end to smtp-sink, 1 MB messages, peak RSS/PSS at
50 sessions, CPU per message, idle connections, start-up and `relayctl status` with a
large queue, and the disk's own fsync rates. relayd and Postfix alternate, each run with a
fresh spool; medians of --runs runs with the spread. Writes OUT/results.md and prints it.

Every child runs in its own process group and is killed at the end, also on error or
SIGTERM; every wait has a timeout.
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
from certs import make_certs   # noqa: E402  (the test suite's certificate maker)

CHILDREN = []          # Popen objects, each the leader of its own process group
NOTES = []


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


# ---- processes ------------------------------------------------------------------------

def spawn(cmd, env=None, stdout=None, stderr=None, stdin=subprocess.DEVNULL, nofile=None):
    """Start cmd in a new session (its own process group); remembered for cleanup."""
    def pre():
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    p = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=stderr, stdin=stdin,
                         start_new_session=True, preexec_fn=pre)
    CHILDREN.append(p)
    return p


def kill_group(p, grace=5.0):
    """SIGTERM the process group of p, then SIGKILL what is left after grace seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        t = time.time() + wait
        while time.time() < t:
            if p.poll() is not None and not group_pids(p.pid):
                break
            time.sleep(0.05)
    try:
        p.wait(timeout=1)
    except subprocess.TimeoutExpired:
        pass
    if p in CHILDREN:
        CHILDREN.remove(p)


def cleanup():
    for p in list(CHILDREN):
        kill_group(p, grace=2.0)


def on_signal(sig, frame):
    raise SystemExit(f"bench: stopped by signal {sig}")


def group_pids(pgid):
    """Every live process whose process group is pgid."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(d))
    return pids


def cpu_ticks(pids):
    """utime+stime+cutime+cstime of pids (cutime: children they reaped), in seconds."""
    hz = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        total += sum(int(x) for x in fields[11:15])
    return total / hz


def memory(pids):
    """(RSS, PSS) in KiB summed over pids, from smaps_rollup."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


class MemSampler(threading.Thread):
    """Peak RSS/PSS (and process count) of pids_fn() every period seconds."""

    def __init__(self, pids_fn, period=0.25):
        super().__init__(daemon=True)
        self.pids_fn, self.period = pids_fn, period
        self.peak_rss = self.peak_pss = self.peak_procs = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            pids = self.pids_fn()
            rss, pss = memory(pids)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_procs = max(self.peak_procs, len(pids))
            self.stop.wait(self.period)

    def finish(self):
        self.stop.set()
        self.join(timeout=5)


def wait_port(port, timeout, proc=None):
    """Poll until 127.0.0.1:port answers with its 220 greeting; seconds waited or None.
    (A bound socket accepts connections into its backlog before the daemon serves them:
    only the greeting says it is ready.)"""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            return None
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as c:
                c.settimeout(max(0.1, timeout - (time.monotonic() - t0)))
                if c.recv(512).startswith(b"220"):
                    return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.002)
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the MTAs ---------------------------------------------------------------------------

class MTA:
    """What the two relays under test share: a process group started once, its log."""

    def _start(self, cmd, log, timeout, **kw):
        self.errf = open(os.path.join(self.work, log), "ab")
        t0 = time.monotonic()
        self.proc = spawn(cmd, stdout=self.errf, stderr=self.errf, **kw)
        if wait_port(self.port, timeout, self.proc) is None:
            raise RuntimeError(f"{self.name} did not listen within {timeout}s; see "
                               f"{self.work}/{log}")
        return time.monotonic() - t0

    def pids(self):
        return group_pids(self.proc.pid)

    def stop(self):
        if self.proc is not None:
            kill_group(self.proc, grace=10)
            self.proc = None
            self.errf.close()


class Relayd(MTA):
    name = "relayd"

    def __init__(self, a, work, sink_port, max_clients=1000, log_level="warning", spool=None,
                 tls=None, events=None, shared=None):
        self.a, self.work, self.port = a, work, free_port()
        # events: None (no journal), or the text inside events = { ... } (the events runs)
        # shared: a Redis URL: the account is shared (issue 20), limits out of reach
        top = (f'shared = {{ redis = "{shared}"; prefix = "bench:"; on_unavailable = "stop"; '
               f'}};\n') if shared else ""
        account_shared = ('shared = true; limits = { per_hour = 1000000; '
                          'per_day = 10000000; };') if shared else ""
        # tls: None (in clear, no AUTH), or the CA file: implicit TLS + AUTH (the TLS run)
        account = (f'tls = "implicit"; username = "bench"; password = "secret"; '
                   f'ca_file = "{tls}";') if tls else 'tls = "none";'

        os.makedirs(work, exist_ok=True)
        self.spool = spool or os.path.join(work, "spool")
        self.conf = os.path.join(work, "relay.conf")
        self.sock = os.path.join(work, "control.sock")
        with open(self.conf, "w") as f:
            f.write(f'''listen = [ "127.0.0.1:{self.port}" ];
spool_dir = "{self.spool}";
control_socket = "{self.sock}";
max_clients = {max_clients};
max_message_size = 31457280;
hostname = "bench.relayd.test";
log_level = "{log_level}";
accounts = ( {{ name = "sink"; host = "127.0.0.1"; port = {sink_port}; {account}
               address = "bench@relayd.test"; sessions = 16; {account_shared} }} );
{top}''')
            if events is not None:
                f.write(f"events = {{ {events} }};\n")
        self.proc = None

    def start(self, wrapper=(), nofile=None, timeout=60):
        return self._start(list(wrapper) + [self.a.relayd, "-c", self.conf], "relayd.log",
                           timeout, nofile=nofile)


class Postfix(MTA):
    name = "Postfix"

    def __init__(self, a, work, sink_port, tls=None):
        self.a, self.work, self.port = a, work, free_port()
        root = a.postfix_root
        # tls: None (in clear), or the CA file: TLS on connect (465-style), encrypt, AUTH
        tls_conf = f"""smtp_tls_security_level = encrypt
smtp_tls_wrappermode = yes
smtp_tls_CAfile = {tls}
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = static:bench:secret
smtp_sasl_security_options = noanonymous
smtp_sasl_tls_security_options = noanonymous
""" if tls else "smtp_tls_security_level = none\n"
        self.root = root
        self.conf = os.path.join(work, "etc")
        self.queue = os.path.join(work, "queue")
        self.data = os.path.join(work, "data")
        shutil.rmtree(work, ignore_errors=True)
        for d in (self.conf, self.queue, self.data):
            os.makedirs(d)
        libdir = os.path.join(root, "usr/lib/postfix")
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(f"""# relay-only Postfix for the benchmark; everything on loopback
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.data}
command_directory = {root}/usr/sbin
daemon_directory = {libdir}/sbin
shlib_directory = {libdir}
meta_directory = {root}/etc/postfix
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH={libdir}
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.postfix.test
mydomain = postfix.test
myorigin = $myhostname
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery in this benchmark
alias_maps =
alias_database =
relay_domains =
relayhost = [127.0.0.1]:{sink_port}
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
{tls_conf}smtpd_tls_security_level = none
smtp_dns_support_level = disabled
biff = no
maillog_file = {work}/maillog
maillog_file_prefixes = /
""")
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(f"""# service type private unpriv chroot wakeup maxproc command
127.0.0.1:{self.port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
""")
        # The queue layout postfix-files would create (owner postfix, group postdrop).
        import grp
        import pwd
        uid, gid = pwd.getpwnam("postfix").pw_uid, grp.getgrnam("postdrop").gr_gid
        for d in ("active", "bounce", "corrupt", "defer", "deferred", "flush", "hold",
                  "incoming", "private", "saved", "trace"):
            os.mkdir(os.path.join(self.queue, d), 0o700)
            os.chown(os.path.join(self.queue, d), uid, -1)
        for d, mode in (("maildrop", 0o730), ("public", 0o710)):
            os.mkdir(os.path.join(self.queue, d))
            os.chmod(os.path.join(self.queue, d), mode)
            os.chown(os.path.join(self.queue, d), uid, gid)
        os.mkdir(os.path.join(self.queue, "pid"), 0o755)
        os.chown(self.data, uid, -1)
        os.chmod(self.data, 0o700)
        self.env = dict(os.environ, MAIL_CONFIG=self.conf, LD_LIBRARY_PATH=libdir)
        self.proc = None

    def start(self, timeout=60):
        # (master's own messages; the daemons log to maillog in the same directory)
        return self._start([os.path.join(self.root, "usr/lib/postfix/sbin/master"), "-c",
                            self.conf, "-d"], "master.log", timeout, env=self.env)


# ---- load -------------------------------------------------------------------------------

def pf_tool(a, name):
    return os.path.join(a.postfix_root, "usr/sbin", name)


def pf_env(a):
    return dict(os.environ, LD_LIBRARY_PATH=os.path.join(a.postfix_root, "usr/lib/postfix"))


def start_sink(a, port, count, work):
    """smtp-sink on 127.0.0.1:port that exits after count messages."""
    cmd = [pf_tool(a, "smtp-sink"), "-4", "-M", str(count)]
    if os.getuid() == 0:
        cmd += ["-u", "nobody"]
    cmd += [f"127.0.0.1:{port}", "1024"]
    p = spawn(cmd, env=pf_env(a), stdout=subprocess.DEVNULL,
              stderr=open(os.path.join(work, "sink.log"), "ab"))
    if wait_port(port, 10, p) is None:
        raise RuntimeError("smtp-sink did not start")
    # The probe connection above counts as a session, not a message: nothing to undo.
    return p


def run_source(a, port, sessions, count, size, work, timeout):
    """smtp-source, one connection per message (no -d). Returns seconds, or raises."""
    cmd = [pf_tool(a, "smtp-source"), "-4", "-s", str(sessions), "-m", str(count),
           "-l", str(size), "-f", "app@example.org", "-t", "rcpt@example.net",
           "-M", "client.example.org", f"127.0.0.1:{port}"]
    errf = open(os.path.join(work, "source.log"), "ab")
    t0 = time.monotonic()
    p = spawn(cmd, env=pf_env(a), stdout=errf, stderr=errf)
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(p)
        raise RuntimeError(f"smtp-source did not finish {count} messages in {timeout}s")
    dt = time.monotonic() - t0
    CHILDREN.remove(p)
    errf.close()
    if rc != 0:
        raise RuntimeError(f"smtp-source failed (exit {rc}); see {work}/source.log")
    return dt


def start_tls_terminator(a, port, sink_port, work):
    """stunnel: TLS on 127.0.0.1:port (certificate for 127.0.0.1), in clear to the sink."""
    certs = make_certs(os.path.join(a.work, "certs"))
    conf = os.path.join(work, "stunnel.conf")
    with open(conf, "w") as f:
        f.write(f"""foreground = yes
pid =
debug = 3
output = {work}/stunnel.log
[smtps]
accept = 127.0.0.1:{port}
connect = 127.0.0.1:{sink_port}
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
cert = {certs.good.cert}
key = {certs.good.key}
""")
    p = spawn(["stunnel4", conf], stdout=subprocess.DEVNULL,
              stderr=open(os.path.join(work, "stunnel.err"), "ab"))
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10:        # it speaks TLS: wait for the port only
        if p.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return p, certs.ca
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"stunnel did not start; see {work}/stunnel.err")


ALL_EVENTS = 'types = [ "queued", "sent", "deferred", "failed", "bounced", "suppressed", ' \
    '"account" ];'


def journal_records(spool):
    """The records in a relayd spool's event journal (lines of its segments)."""
    d = os.path.join(spool, "events")
    n = 0
    for name in os.listdir(d) if os.path.isdir(d) else ():
        if len(name) == 16:
            with open(os.path.join(d, name), "rb") as f:
                n += f.read().count(b"\n")
    return n


def one_run(a, kind, sessions, count, size, sample_mem=False, tls=False, events=False):
    """One measured run on a fresh MTA: accept time, end-to-end time, CPU, memory. tls:
    the MTA forwards over TLS with AUTH to stunnel in front of the sink; events (relayd):
    the event journal on with every type (no webhook)."""
    work = os.path.join(a.work, f"{kind}-{sessions}-{size}{'-tls' if tls else ''}"
                        f"{'-events' if events else ''}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    sink_port = free_port()
    sink = start_sink(a, sink_port, count, work)
    term, ca, to_port = None, None, sink_port
    if tls:
        to_port = free_port()
        term, ca = start_tls_terminator(a, to_port, sink_port, work)
    mta = Relayd(a, os.path.join(work, "mta"), to_port, tls=ca,
                 events=ALL_EVENTS if events else None) if kind == "relayd" else \
        Postfix(a, os.path.join(work, "mta"), to_port, tls=ca)
    try:
        mta.start()
        time.sleep(0.3)
        cpu0 = cpu_ticks(mta.pids())
        sampler = MemSampler(mta.pids) if sample_mem else None
        if sampler:
            sampler.start()
        t0 = time.monotonic()
        limit = a.step_timeout
        accept = run_source(a, mta.port, sessions, count, size, work, limit)
        try:
            sink.wait(timeout=limit)
            e2e = time.monotonic() - t0
        except subprocess.TimeoutExpired:
            e2e = None
            NOTES.append(f"{kind} {sessions} sessions {size} B: the sink did not get all "
                         f"{count} messages within {limit}s")
        cpu = cpu_ticks(mta.pids()) - cpu0
        if sampler:
            sampler.finish()
        r = {"accept": count / accept, "e2e": count / e2e if e2e else None,
             "cpu_ms": 1000 * cpu / count}
        if sampler:
            r.update(rss=sampler.peak_rss / 1024, pss=sampler.peak_pss / 1024,
                     procs=sampler.peak_procs)
        if kind == "relayd":
            r["events"] = journal_records(mta.spool)
        return r
    finally:
        mta.stop()
        kill_group(sink, grace=1)
        if term is not None:
            kill_group(term, grace=1)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


# ---- several hosts (issue 20) --------------------------------------------------------------

def start_redis(a, work):
    """redis-server on a free loopback port, no persistence. Returns (Popen, port)."""
    port = free_port()
    os.makedirs(work, exist_ok=True)
    p = spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", work],
              stdout=open(os.path.join(work, "redis.log"), "ab"), stderr=subprocess.STDOUT)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10 and p.poll() is None:     # it answers PING with +PONG
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as c:
                c.sendall(b"PING\r\n")
                if c.recv(64).startswith(b"+PONG"):
                    return p, port
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError("redis-server did not start")


def shared_reserve(a):
    """sharedbench: the reservation round trip to a local Redis, ledgers of 100 and
    --shared-count records a day."""
    work = os.path.join(a.work, "shared-rtt")
    redis, port = start_redis(a, work)
    try:
        out = {}
        for n in (100, a.shared_count):
            p = subprocess.run([os.path.join(a.bin, "sharedbench"), "127.0.0.1", str(port),
                                str(n)], capture_output=True, text=True, timeout=300)
            if p.returncode != 0:
                raise RuntimeError(f"sharedbench failed: {p.stderr.strip()}")
            out[n] = json.loads(p.stdout)
        return out
    finally:
        kill_group(redis, grace=1)


def shared_rate(a, instances, count, shared=True):
    """End-to-end rate of `instances` relayd sharing one account through one Redis
    (each gets count / instances messages at once, 10 sessions each) into one sink."""
    count -= count % instances          # the sink waits for exactly this many
    work = os.path.join(a.work, f"shared-{instances}-{int(shared)}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    redis, port = start_redis(a, os.path.join(work, "redis")) if shared else (None, None)
    sink_port = free_port()
    sink = start_sink(a, sink_port, count, work)
    mtas = [Relayd(a, os.path.join(work, f"mta{i}"), sink_port,
                   shared=f"redis://127.0.0.1:{port}/0" if shared else None)
            for i in range(instances)]
    try:
        for m in mtas:
            m.start()
        time.sleep(9 if shared else 0.3)    # the shared ledger's epoch hold (8 s)
        t0 = time.monotonic()
        errs = []

        def src(m, i):
            try:
                run_source(a, m.port, 10, count // instances, 2048,
                           os.path.join(work, f"mta{i}"), a.step_timeout)
            except Exception as e:
                errs.append(e)
        th = [threading.Thread(target=src, args=(m, i)) for i, m in enumerate(mtas)]
        for x in th:
            x.start()
        for x in th:
            x.join()
        if errs:
            raise errs[0]
        sink.wait(timeout=a.step_timeout)
        return count / (time.monotonic() - t0)
    finally:
        for m in mtas:
            m.stop()
        kill_group(sink, grace=1)
        if redis is not None:
            kill_group(redis, grace=1)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


# ---- the other figures --------------------------------------------------------------------

def write_journal(spool, n):
    """A journal of n "sent" events (ids 1..n) in spool/events, as relayd writes it
    (events_file.h: "1 CRC32 JSON" lines), none delivered yet."""
    d = os.path.join(spool, "events")
    os.makedirs(d, exist_ok=True)
    now = int(time.time())
    with open(os.path.join(d, "%016x" % 1), "wb") as f:
        for i in range(1, n + 1):
            js = json.dumps({"id": i, "time": now, "type": "sent",
                             "queue_id": "6B035255%08X" % i,
                             "message_id": "order-%d@crm.example" % i,
                             "recipient": "r%d@example.org" % i, "account": "main",
                             "reply": "250 2.0.0 OK queued as P%07d" % i,
                             "provider_id": "P%07d" % i,
                             "relay": "smtp.provider.test[127.0.0.1]:465"},
                            separators=(",", ":")).encode()
            f.write(b"1 %08x %s\n" % (zlib.crc32(js), js))


def webhook_rate(a, n, batch):
    """Events delivered per second to a local receiver (tests/webhook_server.py, plain
    HTTP on loopback, checking every signature): relayd starts with n undelivered events
    in its journal; time from its start until the receiver has taken them all."""
    from webhook_server import WebhookServer
    work = os.path.join(a.work, f"webhook-{batch}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    secret = "whsec_bench"
    sf = os.path.join(work, "webhook.secret")
    with open(sf, "w") as f:
        f.write(secret + "\n")
    os.chmod(sf, 0o600)
    hook = WebhookServer(secret).start()
    mta = Relayd(a, os.path.join(work, "mta"), free_port(),
                 events=f'webhook = "{hook.url}"; secret_file = "{sf}"; batch = {batch};')
    write_journal(mta.spool, n)
    try:
        t0 = time.monotonic()
        mta.start()
        cpu0 = cpu_ticks(mta.pids())
        while True:
            with hook.lock:
                got = len(hook.taken)
            if got >= n:
                break
            if time.monotonic() - t0 > a.step_timeout:
                raise RuntimeError(f"the receiver took {got} of {n} events in "
                                   f"{a.step_timeout}s")
            time.sleep(0.01)
        dt = time.monotonic() - t0
        cpu = cpu_ticks(mta.pids()) - cpu0
        ids = hook.by_id()
        if sorted(ids) != list(range(1, n + 1)) or hook.bad_signatures:
            raise RuntimeError(f"events missing or badly signed: {len(ids)} distinct, "
                               f"{hook.bad_signatures} bad signatures")
        return {"rate": n / dt, "posts": hook.posts, "cpu_us": 1e6 * cpu / n}
    finally:
        mta.stop()
        hook.stop()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


def sink_baseline(a, sessions, count):
    """smtp-source straight into smtp-sink: what the load generator can do at all."""
    work = os.path.join(a.work, "baseline")
    os.makedirs(work, exist_ok=True)
    port = free_port()
    sink = start_sink(a, port, count + 10, work)
    try:
        return count / run_source(a, port, sessions, count, 2048, work, a.step_timeout)
    finally:
        kill_group(sink, grace=1)


def fsync_rates(a):
    d = os.path.join(a.work, "fsync")
    os.makedirs(d, exist_ok=True)
    out = subprocess.run([os.path.join(a.bin, "fsyncbench"), d, str(a.fsync_secs)],
                         capture_output=True, text=True, timeout=4 * a.fsync_secs + 60,
                         check=True).stdout
    rates = {}
    for line in out.splitlines():
        k, _, _, rate = line.split()
        rates[k] = float(rate)
    return rates


def idle_connections(a, n):
    """relayd's memory with n idle connections (greeting read), per connection."""
    work = os.path.join(a.work, "idle")
    shutil.rmtree(work, ignore_errors=True)
    nofile = n + 1024
    r = Relayd(a, work, free_port(), max_clients=n + 100)
    try:
        r.start(nofile=nofile)
        time.sleep(0.3)
        rss0, pss0 = memory(r.pids())
        p = spawn([os.path.join(a.bin, "idleconns"), "127.0.0.1", str(r.port), str(n),
                   str(a.step_timeout), "120"], stdin=subprocess.PIPE,
                  stdout=subprocess.PIPE, nofile=nofile)
        line = p.stdout.readline().decode()
        m = re.match(r"connected (\d+) greeted (\d+)", line)
        if not m or int(m.group(2)) < n:
            raise RuntimeError(f"idle connections: {line.strip() or 'no answer'}")
        time.sleep(1.0)
        rss1, pss1 = memory(r.pids())
        p.stdin.close()
        kill_group(p, grace=5)
        return {"rss": rss1 / 1024, "pss": pss1 / 1024,
                "per_conn_kb": (pss1 - pss0) / n, "base_pss": pss0 / 1024}
    finally:
        r.stop()
        shutil.rmtree(work, ignore_errors=True)


def big_queue(a, n, runs):
    """Start-up time and relayctl status latency with n messages queued, provider down.
    The spool is generated once and kept in OUT/bigspool-N for the next bench (removing a
    million files takes minutes on a discard-mounted ext4); relayd only appends one
    deferred record to it per start, since nothing can drain."""
    work = os.path.join(a.work, "bigqueue")
    shutil.rmtree(work, ignore_errors=True)
    spool = os.path.join(a.out, f"bigspool-{n}")
    done = os.path.join(a.out, f"bigspool-{n}.complete")
    gen = 0.0
    if not os.path.exists(done):
        shutil.rmtree(spool, ignore_errors=True)
        t0 = time.monotonic()
        subprocess.run([os.path.join(a.bin, "spoolgen"), spool, str(n)], check=True,
                       timeout=a.step_timeout * 2, stdout=subprocess.DEVNULL)
        gen = time.monotonic() - t0
        open(done, "w").close()
        log(f"big queue: generated {n} messages in {gen:.1f}s (kept in {spool})")
    r = Relayd(a, work, free_port(), spool=spool)   # nothing listens there: nothing drains

    def one_status():
        """One relayctl status: its wall time, the queue's total, and whether the
        spool is still being loaded."""
        t = time.monotonic()
        out = subprocess.run([a.relayctl, "-s", r.sock, "status", "--json"],
                             capture_output=True, text=True, timeout=60)
        dt = time.monotonic() - t
        if out.returncode != 0:
            raise RuntimeError(f"relayctl status failed: {out.stderr.strip()}")
        q = json.loads(out.stdout)["queue"]
        return dt, q.get("total"), q.get("loading", False)

    def status10():
        """Ten relayctl status calls: the median wall time and the last total."""
        res = [one_status() for _ in range(10)]
        return statistics.median(x[0] for x in res), res[-1][1]

    starts, loaded, during, status, rss = [], [], [], [], []
    first = None
    try:
        # One more start than runs: the first reads the spool from the disk as far as
        # the page cache does not hold it (a 1M spool is ~4 GB); it is reported on
        # its own, and the timed runs that follow find the cache warm.
        for i in range(runs + 1):
            t0 = time.monotonic()
            starts.append(r.start(timeout=a.step_timeout))
            # relayd answers while it loads the queue in the background
            d, total = status10()
            if total is not None and total < n:
                during.append(d)
            loading = True
            while loading and time.monotonic() - t0 < a.step_timeout:
                time.sleep(0.1)     # (status is cheap: counters, no scan)
                _, total, loading = one_status()
            if total != n:
                NOTES.append(f"large queue: relayctl status says total={total}, "
                             f"expected {n}")
            if i == 0:
                first = time.monotonic() - t0
                r.stop()
                continue
            loaded.append(time.monotonic() - t0)
            st, total = status10()
            status.append(st)
            rss.append(memory(r.pids())[0] / 1024)
            r.stop()
    finally:
        r.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {"start": starts, "loaded": loaded, "during": during, "status": status,
            "rss": rss, "gen": gen, "first": first}


def callgrind_total(path):
    """Total instructions of a callgrind output file, and its inclusive annotation."""
    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", path],
                         capture_output=True, text=True, timeout=120).stdout
    m = re.search(r"([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS", ann) or \
        re.search(r"([\d,]+)\s+PROGRAM TOTALS", ann)
    return (int(m.group(1).replace(",", "")) if m else None), ann


def callgrind_per_msg(a, count, sessions, sink_up):
    """relayd's user-space instructions per message (callgrind), accept (provider down)
    or accept+delivery (sink up), less those of a start and stop with no mail; the
    annotated profile is kept under OUT."""
    tag = "e2e" if sink_up else "accept"
    totals = {}
    for what in ("idle", tag):
        work = os.path.join(a.work, f"callgrind-{what}")
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        sink_port = free_port()
        sink = start_sink(a, sink_port, count, work) if sink_up and what != "idle" else None
        r = Relayd(a, os.path.join(work, "mta"), sink_port)
        out = os.path.join(a.out, f"callgrind.{what}.out")
        try:
            r.start(wrapper=["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                             "--dump-instr=no"], timeout=120)
            if what != "idle":
                run_source(a, r.port, sessions, count, 2048, work, a.step_timeout)
            if sink:
                try:
                    sink.wait(timeout=a.step_timeout)
                except subprocess.TimeoutExpired:
                    NOTES.append("callgrind e2e: the sink did not get every message")
            else:
                time.sleep(1)
            r.stop()        # SIGTERM: callgrind writes its file
        finally:
            r.stop()
            if sink:
                kill_group(sink, grace=1)
            shutil.rmtree(work, ignore_errors=True)
        totals[what], ann = callgrind_total(out)
        if what != "idle":
            with open(os.path.join(a.out, f"profile.callgrind.{tag}.txt"), "w") as f:
                f.write(ann)
    if totals.get(tag) is None or totals.get("idle") is None:
        return None
    return (totals[tag] - totals["idle"]) / count


def perf_profile(a, count, sessions, sink_up):
    """perf record (cpu-clock, kernel included) of relayd; top symbols to a file."""
    tag = "e2e" if sink_up else "accept"
    work = os.path.join(a.work, f"perf-{tag}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    sink_port = free_port()
    sink = start_sink(a, sink_port, count, work) if sink_up else None
    r = Relayd(a, os.path.join(work, "mta"), sink_port)
    data = os.path.join(work, "perf.data")
    try:
        r.start()
        pr = spawn(["perf", "record", "-q", "-g", "-e", "cpu-clock", "-p", str(r.proc.pid),
                    "-o", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        run_source(a, r.port, sessions, count, 2048, work, a.step_timeout)
        if sink:
            try:
                sink.wait(timeout=a.step_timeout)
            except subprocess.TimeoutExpired:
                pass
        os.kill(pr.pid, signal.SIGINT)
        pr.wait(timeout=60)
        CHILDREN.remove(pr)
        rep = []
        for args in (["--no-children", "--sort", "dso,sym"], ["--children", "--sort", "sym"]):
            rep.append(subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none",
                                       "--percent-limit", "0.7"] + args,
                                      capture_output=True, text=True, timeout=300).stdout)
        with open(os.path.join(a.out, f"profile.perf.{tag}.txt"), "w") as f:
            f.write("\n".join(rep))
    finally:
        r.stop()
        if sink:
            kill_group(sink, grace=1)
        shutil.rmtree(work, ignore_errors=True)


# ---- report -------------------------------------------------------------------------------

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(xs, unit="", digits=0):
    """median (min-max) of a list of numbers."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    f = f"{{:.{digits}f}}"
    m = f.format(statistics.median(xs))
    if len(xs) > 1:
        return f"{m} ({f.format(min(xs))}–{f.format(max(xs))}){unit}"
    return m + unit


def ratio(r, p):
    return f"{r / p:.2f}×" if r and p else "n/a"


def machine(a):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    fs = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,OPTIONS", "-T", a.work],
                        capture_output=True, text=True).stdout.strip()
    pv = subprocess.run([pf_tool(a, "postconf"), "-d", "-h", "mail_version"],
                        capture_output=True, text=True, env=pf_env(a)).stdout.strip()
    rev = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "fs": re.sub(r"\s+", " (", fs, 1) + ")" if fs else "?",
            "postfix": pv or "?", "rev": rev or "?",
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M %Z").strip(),
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def report(a, M, R, load_end):
    L = []
    w = L.append
    w(f"relayd benchmark, {M['date']} — relayd {M['rev']} vs Postfix {M['postfix']}\n")
    w(f"Machine: {M['nproc']} cores, {M['cpu']}, Linux {M['kernel']}, spool on "
      f"{M['fs']}. Load average at start {M['load']}, at end {load_end} (a shared "
      f"machine: other work ran at the same time, so rates are noisy).\n")
    w(f"Method: smtp-source (Postfix's) without -d, i.e. one connection per message, "
      f"{a.count} messages of 2 KB per run (`-l 2048`), 1 MB: {a.big_count} messages; "
      f"provider: smtp-sink, in clear on loopback (relayd: tls = \"none\", no AUTH, "
      f"16 sessions allowed; Postfix: relayhost, smtp_tls_security_level = none, stock "
      f"process limits). Fresh spool per run; relayd and Postfix alternate; "
      f"median (min–max) of {a.runs} runs. Accept = messages / time until smtp-source has "
      f"its last reply; end-to-end = messages / time until the sink has them all.\n")
    w("| figure | relayd | Postfix | relayd/Postfix | target | met |")
    w("|---|---:|---:|---:|---|---|")
    disk = R.get("fsync", {})
    for s in a.sessions:
        rr, pp = R["relayd"][s], R["Postfix"][s]
        ra, pa = [x["accept"] for x in rr], [x["accept"] for x in pp]
        tgt, met = "", ""
        if s in (10, 50):
            ok = med(ra) and med(pa) and med(ra) >= 3 * med(pa) and disk.get("file") and \
                med(ra) >= 1.5 * disk["file"]
            tgt = "≥ 3× Postfix and ≥ 1.5× disk file+fsync rate"
            met = "met" if ok else "not met"
            if disk.get("file") and med(ra):
                tgt += f" (relayd = {med(ra) / disk['file']:.2f}× disk)"
        w(f"| durable accepts/s, 2 KB, {s} session{'s' if s > 1 else ''} | {fmt(ra)} | "
          f"{fmt(pa)} | {ratio(med(ra), med(pa))} | {tgt} | {met} |")
    for s in a.sessions:
        rr, pp = R["relayd"][s], R["Postfix"][s]
        re_, pe = [x["e2e"] for x in rr], [x["e2e"] for x in pp]
        tgt = "≥ 2× Postfix" if s == 10 else ""
        met = ("met" if med(re_) and med(pe) and med(re_) >= 2 * med(pe) else "not met") \
            if s == 10 else ""
        w(f"| end-to-end msgs/s to the sink, 2 KB, {s} session{'s' if s > 1 else ''} | "
          f"{fmt(re_)} | {fmt(pe)} | {ratio(med(re_), med(pe))} | {tgt} | {met} |")
    if "tls" in R:
        rt, pt = R["tls"]["relayd"], R["tls"]["Postfix"]
        for k, lab in (("accept", "accepts/s"), ("e2e", "end-to-end msgs/s"),
                       ("cpu_ms", "CPU ms per message")):
            x, y = [v[k] for v in rt if v.get(k)], [v[k] for v in pt if v.get(k)]
            w(f"| TLS + AUTH to the sink (stunnel), 2 KB, {lab}, {a.tls_sessions} sessions | "
              f"{fmt(x, digits=2 if k == 'cpu_ms' else 0)} | "
              f"{fmt(y, digits=2 if k == 'cpu_ms' else 0)} | {ratio(med(x), med(y))} | | |")
    if "big" in R:
        rb, pb = R["big"]["relayd"], R["big"]["Postfix"]
        for k, lab in (("accept", "accepts/s"), ("e2e", "end-to-end msgs/s")):
            x, y = [v[k] for v in rb], [v[k] for v in pb]
            w(f"| 1 MB messages, {lab}, {a.big_sessions} sessions | {fmt(x, digits=1)} | "
              f"{fmt(y, digits=1)} | {ratio(med(x), med(y))} | | |")
    s50 = 50 if 50 in a.sessions else a.sessions[-1]
    rr, pp = R["relayd"][s50], R["Postfix"][s50]
    for k, lab in (("rss", "peak RSS, MB"), ("pss", "peak PSS, MB")):
        x, y = [v.get(k) for v in rr], [v.get(k) for v in pp]
        tgt = met = ""
        if k == "pss":
            tgt = "≤ 1/20 of Postfix"
            met = "met" if med(x) and med(y) and med(x) * 20 <= med(y) else "not met"
        w(f"| {lab}, all processes, {s50} sessions | {fmt(x, digits=1)} | {fmt(y, digits=1)} "
          f"| {ratio(med(x), med(y))} | {tgt} | {met} |")
    x, y = [v.get("procs") for v in rr], [v.get("procs") for v in pp]
    w(f"| processes at peak, {s50} sessions | {fmt(x)} | {fmt(y)} | | | |")
    s10 = 10 if 10 in a.sessions else a.sessions[0]
    x = [v["cpu_ms"] for v in R["relayd"][s10]]
    y = [v["cpu_ms"] for v in R["Postfix"][s10]]
    met = "met" if med(x) and med(y) and med(x) * 4 <= med(y) else "not met"
    w(f"| CPU ms per message (user+sys, accept+delivery), {s10} sessions | "
      f"{fmt(x, digits=2)} | {fmt(y, digits=2)} | {ratio(med(x), med(y))} | "
      f"≤ 1/4 of Postfix | {met} |")
    if R.get("callgrind"):
        cg = R["callgrind"]
        w(f"| relayd user-space instructions per message (callgrind, start-up "
          f"subtracted), accept / accept+delivery | {cg.get('accept', 0) / 1000:.0f}k / {cg.get('e2e', 0) / 1000:.0f}k "
          f"| n/a | | | |")
    if "idle" in R:
        i = R["idle"]
        met = "met" if i["pss"] < 100 else "not met"
        w(f"| {a.idle} idle connections: relayd PSS / RSS, MB | {i['pss']:.1f} / "
          f"{i['rss']:.1f} ({i['per_conn_kb']:.2f} KB per connection) | n/a (one smtpd "
          f"process per connection, process_limit 100) | | < 100 MB | {met} |")
    if "bigq" in R:
        b = R["bigq"]
        met = "met" if med(b["start"]) < 10 else "not met"
        w(f"| {a.queued} queued: start-up until the first 220 greeting, s | {fmt(b['start'], digits=2)} "
          f"| n/a | | < 10 s | {met} |")
        w(f"| {a.queued} queued: start-up until all are loaded (accepting meanwhile), s | "
          f"{fmt(b['loaded'], digits=1)} | n/a | | < 10 s | "
          f"{'met' if b['loaded'] and med(b['loaded']) < 10 else 'not met'} |")
        if b.get("first") is not None:
            w(f"| {a.queued} queued: the same, first start (spool partly or wholly read from "
              f"the disk), s | {b['first']:.1f} | n/a | | | |")
        dur = [x * 1000 for x in b["during"]]
        st = [x * 1000 for x in b["status"]]
        met = "met" if med(st) < 100 and (not dur or med(dur) < 100) else "not met"
        w(f"| {a.queued} queued: `relayctl status` wall time, ms (median of 10 per start), "
          f"all loaded / while loading | {fmt(st, digits=1)} / {fmt(dur, digits=1)} | n/a "
          f"| | < 100 ms | {met} |")
        w(f"| {a.queued} queued: relayd RSS when all are loaded, MB | {fmt(b['rss'])} | n/a "
          f"| | | |")
    if "events" in R:
        ev = R["events"]
        off, on = [x["accept"] for x in ev["off"]], [x["accept"] for x in ev["on"]]
        if med(off) and med(on):
            ok = med(on) >= 0.9 * med(off)
            w(f"| durable accepts/s, 2 KB, {a.events_sessions} sessions: events off / all "
              f"types on (journal, no webhook) | {fmt(off)} / {fmt(on)} | n/a | "
              f"on = {med(on) / med(off):.2f}× off | on ≥ 0.9× off | "
              f"{'met' if ok else 'not met'} |")
        off, on = [x["cpu_ms"] for x in ev["off"]], [x["cpu_ms"] for x in ev["on"]]
        w(f"| CPU ms per message, events off / on, {a.events_sessions} sessions | "
          f"{fmt(off, digits=2)} / {fmt(on, digits=2)} | n/a | | | |")
        w(f"| events journaled per run (events on) | "
          f"{fmt([x.get('events', 0) for x in ev['on']])} | | | | |")
    if R.get("webhook"):
        wh = R["webhook"]
        rates = [x["rate"] for x in wh]
        ok = med(rates) and med(rates) >= 10000
        w(f"| webhook: events/s delivered to a local receiver (HTTP, signatures checked), "
          f"{a.webhook_events} events, batch {a.webhook_batch} | {fmt(rates)} | n/a | | "
          f"≥ 10,000 | {'met' if ok else 'not met'} |")
        w(f"| webhook: relayd CPU µs per event delivered | "
          f"{fmt([x['cpu_us'] for x in wh], digits=1)} | | | | |")
    if disk:
        runs = R["fsync_runs"]
        w(f"| disk: new file + 2 KB + fsync + rename + fsync dir, ops/s (start, end of "
          f"the bench) | {fmt([x['file'] for x in runs])} | | | reference | |")
        w(f"| disk: append 2 KB + fdatasync, ops/s (start, end) | "
          f"{fmt([x['append'] for x in runs])} | | | reference | |")
    if R.get("baseline"):
        w(f"| smtp-source straight into smtp-sink, {s10} sessions, msgs/s | "
          f"{fmt(R['baseline'])} | | | load generator's ceiling | |")
    if "shared" in R:
        sh = R["shared"]
        for n, x in sorted(sh.get("rtt", {}).items()):
            ok = "met" if x["median_us"] < 1000 else "not met"
            w(f"| shared ledger: reservation round trip to a local Redis, {n} records a day, "
              f"µs (median / p90 / p99) | {x['median_us']:.0f} / {x['p90_us']:.0f} / "
              f"{x['p99_us']:.0f} | n/a | | median < 1 ms | {ok} |")
        for k, label in (("one_plain", "one relayd, account not shared"),
                         ("one", "one relayd, shared account"),
                         ("three", "three relayd sharing the account")):
            if sh.get(k):
                w(f"| {label}: end-to-end msgs/s, {a.shared_count} messages, 2 KB | "
                  f"{fmt(sh[k])} | n/a | | | |")
    if NOTES:
        w("\nNotes: " + "; ".join(NOTES))
    return "\n".join(L) + "\n"


# ---- main ---------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sessions", default="1 10 50")
    ap.add_argument("--tls-count", type=int, default=5000)
    ap.add_argument("--tls-sessions", type=int, default=10)
    ap.add_argument("--big-count", type=int, default=200)
    ap.add_argument("--big-size", type=int, default=1048576)
    ap.add_argument("--big-sessions", type=int, default=10)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--queued", type=int, default=1000000)
    ap.add_argument("--profile-count", type=int, default=2000)
    ap.add_argument("--fsync-secs", type=float, default=3.0)
    ap.add_argument("--events-sessions", type=int, default=10)
    ap.add_argument("--webhook-events", type=int, default=100000)
    ap.add_argument("--webhook-batch", type=int, default=100)
    ap.add_argument("--step-timeout", type=int, default=300)
    ap.add_argument("--shared-count", type=int, default=2000)
    ap.add_argument("--only", default="", help="comma list: accept,tls,big,idle,bigq,fsync,"
                    "profile,baseline,events,webhook,shared (default: all)")
    ap.add_argument("--keep", action="store_true", help="keep each run's directory")
    ap.add_argument("--out", default=os.path.join(REPO, "build/bench"))
    ap.add_argument("--relayd", default=os.path.join(REPO, "build/bench/bin/relayd"))
    ap.add_argument("--relayctl", default=os.path.join(REPO, "build/bench/bin/relayctl"))
    ap.add_argument("--postfix-root", default=os.path.join(REPO, "build/bench/postfix"))
    a = ap.parse_args()
    a.sessions = [int(x) for x in a.sessions.split()]
    a.out = os.path.abspath(a.out)
    a.work = os.path.join(a.out, "work")
    a.bin = os.path.join(a.out, "bin")
    only = set(a.only.split(",")) if a.only else None

    def want(k):
        return only is None or k in only

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    os.makedirs(a.work, exist_ok=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = a.idle + 2048
    if hard < need and os.getuid() == 0:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
    M = machine(a)
    R = {"relayd": {s: [] for s in a.sessions}, "Postfix": {s: [] for s in a.sessions}}
    t_start = time.monotonic()
    def section(name, fn):
        if not want(name):
            return
        try:
            fn()
        except Exception as e:          # one broken part must not lose the others
            NOTES.append(f"{name}: failed: {e}")
            log(f"{name}: FAILED: {e}")
        finally:
            cleanup()

    def s_fsync():
        # At the start and again at the end: the disk is shared and its rate drifts.
        R.setdefault("fsync_runs", []).append(fsync_rates(a))
        R["fsync"] = {k: med([x[k] for x in R["fsync_runs"]]) for k in ("file", "append")}
        log(f"disk: {R['fsync_runs'][-1]}")

    def s_baseline():
        R["baseline"] = [sink_baseline(a, 10, a.count) for _ in range(a.runs)]
        log(f"baseline: {R['baseline']}")

    def s_accept():
        for s in a.sessions:
            for i in range(a.runs):
                order = ("relayd", "Postfix") if i % 2 == 0 else ("Postfix", "relayd")
                for kind in order:
                    r = one_run(a, kind, s, a.count, 2048, sample_mem=(s == max(a.sessions)))
                    R[kind][s].append(r)
                    log(f"{kind} {s} sessions run {i + 1}: " +
                        ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in r.items()))

    def s_tls():
        R["tls"] = {"relayd": [], "Postfix": []}
        for i in range(a.runs):
            order = ("relayd", "Postfix") if i % 2 == 0 else ("Postfix", "relayd")
            for kind in order:
                r = one_run(a, kind, a.tls_sessions, a.tls_count, 2048, tls=True)
                R["tls"][kind].append(r)
                log(f"{kind} TLS {a.tls_sessions} sessions run {i + 1}: {r}")

    def s_big():
        R["big"] = {"relayd": [], "Postfix": []}
        for i in range(a.runs):
            order = ("relayd", "Postfix") if i % 2 == 0 else ("Postfix", "relayd")
            for kind in order:
                r = one_run(a, kind, a.big_sessions, a.big_count, a.big_size)
                R["big"][kind].append(r)
                log(f"{kind} 1 MB run {i + 1}: {r}")

    def s_events():
        # relayd alone, events off and on alternating, each on a fresh spool.
        R["events"] = {"off": [], "on": []}
        for i in range(a.runs):
            for on in ((False, True) if i % 2 == 0 else (True, False)):
                r = one_run(a, "relayd", a.events_sessions, a.count, 2048, events=on)
                R["events"]["on" if on else "off"].append(r)
                log(f"relayd events {'on' if on else 'off'} run {i + 1}: {r}")

    def s_webhook():
        R["webhook"] = []
        for i in range(a.runs):
            r = webhook_rate(a, a.webhook_events, a.webhook_batch)
            R["webhook"].append(r)
            log(f"webhook run {i + 1}: {r}")

    def s_idle():
        R["idle"] = idle_connections(a, a.idle)
        log(f"idle: {R['idle']}")

    def s_bigq():
        R["bigq"] = big_queue(a, a.queued, a.runs)
        log(f"big queue: {R['bigq']}")

    def s_profile():
        R["callgrind"] = {}
        for up in (False, True):
            R["callgrind"]["e2e" if up else "accept"] = \
                callgrind_per_msg(a, a.profile_count, 10, up)
            perf_profile(a, a.count, 10, up)
        log(f"callgrind: {R['callgrind']}")

    def s_shared():
        sh = R["shared"] = {"rtt": shared_reserve(a)}
        log(f"shared: reservation round trip: {sh['rtt']}")
        for k, n, shared in (("one_plain", 1, False), ("one", 1, True), ("three", 3, True)):
            sh[k] = [shared_rate(a, n, a.shared_count, shared) for _ in range(a.runs)]
            log(f"shared: {k}: {sh[k]}")

    for name, fn in (("fsync", s_fsync), ("baseline", s_baseline), ("accept", s_accept),
                     ("tls", s_tls), ("big", s_big), ("events", s_events),
                     ("webhook", s_webhook), ("idle", s_idle), ("bigq", s_bigq),
                     ("profile", s_profile), ("shared", s_shared), ("fsync", s_fsync)):
        section(name, fn)
    for k in ("relayd", "Postfix"):         # sections not run: empty, reported as n/a
        for s in a.sessions:
            R[k].setdefault(s, [])
    text = report(a, M, R, " ".join(f"{x:.2f}" for x in os.getloadavg()))
    text += f"\n(bench took {time.monotonic() - t_start:.0f} s)\n"
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()

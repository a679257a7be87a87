#!/usr/bin/python3
"""A mail provider's submission server, stand-in for smtp.mail.ru & co, built on aiosmtpd.

In-process (pytest):

    p = Provider(tls="implicit", cert=certs.good.cert, key=certs.good.key,
                 user="shop@example.ru", password="secret")
    p.start()                       # listens on 127.0.0.1 and ::1, same port; p.port
    ... relayd delivers ...
    msgs = p.wait_for(1, timeout=15)  # list of Received, AssertionError on timeout
    msgs[0].mail_from, .rcpt_tos, .data (bytes as received, dot-unstuffed), .login, .tls
    p.connections, p.logins, p.auth_failures, p.max_concurrent, p.events
    p.rcpt_domains()                # recipients received per domain {"gmail.com": 4}
    p.add_rule("rcpt", "550 5.1.1 No such user", match="bad@example.org")
    p.add_rule("mail", "553 5.7.1 Quota exceeded", after=3, duration=5)
    p.add_rule("connect", "421 4.3.2 Busy", times=2)
    p.restart(cert=..., key=...)   # stop (dropping live sessions) and listen again, same port
    p.stop()

  tls: "implicit" (TLS from the first byte), "starttls" (STARTTLS required before AUTH/MAIL),
  "none" (clear text, no STARTTLS offered, AUTH allowed in clear: a trap for clients that
  would send credentials without TLS).
  starttls_reply="454 4.7.0 ..." (any time, also as an attribute): STARTTLS is offered but
  answered with that reply, the session staying in clear text (AUTH allowed in clear: a trap).

  Rules (add_rule): stage is one of connect, auth, mail, rcpt, data. When a rule applies, the
  stage is answered with `reply` instead of the normal answer (for connect: the reply
  replaces the greeting and the connection is closed). Options: match (address, compared
  case-insensitively, or a compiled regex searched in it; for mail/rcpt), after (applies only
  once at least that many messages were accepted in total), duration (the rule expires that
  many seconds after it first applied), times (expires after applying that many times),
  delay (seconds to wait before answering; with reply=None only delays the normal answer).
  The first live matching rule for a stage wins.
  More rule options: early=True (stage data only): the reply is sent right after the 354,
  in the same write, before the client sent the message; the real answer, after the
  message, is then "554 5.5.0 ..." and the message is not kept (a client that took the
  early reply as the answer has lost it). trickle=N (with interval=S, default 0.01): before
  its reply the stage sends N continuation lines ("250-trickle 1", ...) S seconds apart,
  stopping when the client goes (a provider holding the client with an endless reply).

  Reply forms (constructor arguments, also attributes to change at any time):
  multiline=True: every reply, also the normal ones, is sent as several lines the way
  Gmail does (`550-5.4.5 Daily user sending` / `550 5.4.5 limit exceeded`: the code on
  every line, the enhanced code repeated; never for 334 challenges). charset="cp1251"
  (or "koi8-r", ...): replies are encoded in that charset instead of ASCII/UTF-8, as
  Russian providers do (rule replies can then carry Russian text). The environment
  variables PROVIDER_MULTILINE=1 and PROVIDER_CHARSET=cp1251 set the defaults.

As a program (manual runs, benchmarks):

    /usr/bin/python3 tests/provider.py --port 4650 --tls implicit --cert good.pem --key good.key \
        --user shop@example.ru --password secret --maildir /tmp/md \
        [--rule 'rcpt,match=bad@example.org:550 5.1.1 No such user'] \
        [--rule 'mail,after=180,duration=300:553 5.7.1 Sending quota exceeded']
        [--multiline] [--charset cp1251]

  Accepted messages go to MAILDIR/new (with X-Envelope-From/X-Envelope-To/X-Auth-Login/X-TLS
  lines prepended); one line per message on stdout; counters on exit (SIGINT/SIGTERM).
"""

import argparse
import asyncio
import errno
import logging
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import List, Optional

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

# aiosmtpd logs every command at INFO and some harmless warnings; keep it quiet unless asked.
if not os.environ.get("PROVIDER_DEBUG"):
    logging.getLogger("mail.log").setLevel(logging.ERROR)

STAGES = ("connect", "auth", "mail", "rcpt", "data")


@dataclass
class Received:
    """One message the provider accepted."""
    seq: int
    conn: int                 # connection number (1, 2, ...) it came in on
    mail_from: str
    rcpt_tos: List[str]
    mail_options: List[str]
    data: bytes               # message as transmitted after dot-unstuffing, CRLF line ends
    login: Optional[str]      # AUTH identity of the session
    tls: bool                 # TLS in use on the session (implicit or after STARTTLS)
    tls_version: Optional[str]
    peer: tuple
    time: float

    @property
    def head(self) -> bytes:
        """Header block (up to, not including, the empty line)."""
        i = self.data.find(b"\r\n\r\n")
        return self.data if i < 0 else self.data[:i + 2]

    @property
    def body(self) -> bytes:
        """Everything after the first empty line (exact bytes)."""
        i = self.data.find(b"\r\n\r\n")
        return b"" if i < 0 else self.data[i + 4:]

    def header_fields(self):
        """[(name, raw field bytes incl. folded continuation lines and final CRLF)]."""
        return split_header_fields(self.head)

    def header(self, name: str) -> List[str]:
        """Unfolded values of every field called name (case-insensitive), as str."""
        out = []
        for n, raw in self.header_fields():
            if n.lower() == name.lower():
                v = raw.split(b":", 1)[1]
                v = re.sub(rb"\r?\n(?=[ \t])", b"", v).strip()
                out.append(v.decode("utf-8", "surrogateescape"))
        return out


def split_header_fields(head: bytes):
    """Split a header block into [(name, raw bytes)] keeping folding and line ends."""
    fields = []
    for line in re.split(rb"(?<=\n)", head):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            n, raw = fields[-1]
            fields[-1] = (n, raw + line)
        else:
            name = line.split(b":", 1)[0].decode("ascii", "replace").strip()
            fields.append((name, line))
    return fields


@dataclass
class Event:
    """One SMTP command seen (or connect/disconnect), for checking what a client did."""
    time: float
    conn: int
    what: str                 # CONNECT, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, QUIT, ..., CLOSE
    arg: Optional[str]        # argument (AUTH: mechanism only)
    tls: bool


@dataclass
class Rule:
    stage: str
    reply: Optional[str]
    match: object = None
    after: int = 0
    duration: Optional[float] = None
    times: Optional[int] = None
    delay: float = 0.0
    early: bool = False
    trickle: int = 0
    interval: float = 0.01
    fired: int = 0
    first_fired: Optional[float] = None
    fired_times: List[float] = field(default_factory=list)   # wall clock, each time applied

    def expired(self, now):
        if self.times is not None and self.fired >= self.times:
            return True
        return (self.duration is not None and self.first_fired is not None
                and now - self.first_fired >= self.duration)

    def matches(self, addr, accepted):
        if accepted < self.after:
            return False
        if self.match is None:
            return True
        if addr is None:
            return False
        if isinstance(self.match, re.Pattern):
            return self.match.search(addr) is not None
        return addr.lower() == str(self.match).lower()


@dataclass
class _Conn:
    id: int
    peer: tuple
    opened: float
    closed: Optional[float] = None
    login: Optional[str] = None
    trigger: bool = False     # aiosmtpd Controller's own start-up probe: not counted


class _ProviderSMTP(SMTP):
    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"

    def __init__(self, provider, handler, **kw):
        self._provider = provider
        self.conn = None
        super().__init__(handler, **kw)
        for name, meth in list(self._smtp_methods.items()):
            self._smtp_methods[name] = self._recorded(name, meth)

    def _recorded(self, name, meth):
        async def wrapper(arg):
            shown = arg
            if name == "AUTH" and arg:
                shown = arg.split()[0]
            self._provider._event(self, name, shown)
            if name == "STARTTLS" and self._provider.starttls_reply:
                return await self.push(self._provider.starttls_reply)
            # STARTTLS enforcement here rather than by aiosmtpd's require_starttls, which
            # answers before a command is dispatched, so that refused attempts are recorded.
            if (self._provider.tls == "starttls" and self.tls_version is None
                    and name not in ("EHLO", "HELO", "NOOP", "STARTTLS", "QUIT", "RSET")):
                return await self.push("530 5.7.0 Must issue a STARTTLS command first")
            return await meth(arg)
        return wrapper

    tls_version = None        # set once the session is encrypted
    _early = False            # an early DATA reply was sent in this transaction

    async def push(self, status):
        p = self._provider
        if isinstance(status, str):
            if status.startswith("354"):
                rule = p._take_rule("data", None, early=True)
                if rule is not None:
                    self._early = True
                    status = status + "\r\n" + rule.reply   # one write: "354", reply
            if p.multiline:
                status = "\r\n".join(multiline_reply(x) for x in status.split("\r\n"))
            status = status.encode(p.charset or "utf-8", "replace")
        return await super().push(status)

    def connection_made(self, transport):
        first = self.transport is None
        super().connection_made(transport)
        so = transport.get_extra_info("ssl_object")
        if so is not None:
            self.tls_version = so.version()
        if first:
            self._provider._conn_open(self, transport.get_extra_info("peername"))

    def connection_lost(self, error):
        self._provider._conn_closed(self)
        super().connection_lost(error)

    # ---- OAuth 2.0 (issue 19) begin: XOAUTH2 and OAUTHBEARER, offered when named in the
    # provider's mechanisms; Provider._oauth_auth decides.
    async def auth_XOAUTH2(self, _, args):
        return await self._provider._oauth_auth(self, "XOAUTH2", args)

    async def auth_OAUTHBEARER(self, _, args):
        return await self._provider._oauth_auth(self, "OAUTHBEARER", args)
    # ---- OAuth 2.0 (issue 19) end

    async def _handle_client(self):
        rule = None
        if self.conn is not None and not self.conn.trigger:
            rule = self._provider._take_rule("connect", None)
        if rule is not None:
            if rule.delay:
                await asyncio.sleep(rule.delay)
            if rule.reply is not None:
                await self.push(rule.reply)
                self.transport.close()
                return
        await super()._handle_client()


def multiline_reply(line):
    """One reply line as several, Gmail's way: "550 5.4.5 Daily user sending limit" ->
    "550-5.4.5 Daily user\r\n550 5.4.5 sending limit". Continuation lines ("250-..."),
    334 challenges and anything without a code stay as they are."""
    m = re.match(r"^([2-5]\d\d) ((?:[245]\.\d{1,3}\.\d{1,3} )?)(.*)$", line + " ")
    if m is None or m.group(1) == "334":
        return line
    code, enh, words = m.group(1), m.group(2), m.group(3).split()
    half = len(words) // 2
    return "%s\r\n%s" % (("%s-%s%s" % (code, enh, " ".join(words[:half]))).rstrip(),
                          ("%s %s%s" % (code, enh, " ".join(words[half:]))).rstrip())


class _Handler:
    def __init__(self, provider):
        self.p = provider

    async def _apply(self, stage, addr, server=None):
        rule = self.p._take_rule(stage, addr)
        if rule is None:
            return None
        if rule.delay:
            await asyncio.sleep(rule.delay)
        if rule.trickle and server is not None:
            code = (rule.reply or "250")[:3]
            for i in range(rule.trickle):
                if server.transport is None or server.transport.is_closing():
                    break
                try:
                    await server.push("%s-trickle %d" % (code, i + 1))
                except (ConnectionError, OSError):
                    break
                await asyncio.sleep(rule.interval)
        return rule.reply

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        reply = await self._apply("mail", address, server)
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = await self._apply("rcpt", address, server)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server, session, envelope):
        if server._early:         # it already answered; this answer comes too late
            server._early = False
            return "554 5.5.0 Transaction failed: the answer was given before the message"
        reply = await self._apply("data", None, server)
        if reply is not None:
            return reply
        seq = self.p._record(server, envelope)
        return "250 2.0.0 OK queued as P%06d" % seq


class _Servers:
    """Several asyncio servers (one per listen address) looking like one to Controller."""

    def __init__(self, servers):
        self.servers = servers

    def close(self):
        for s in self.servers:
            s.close()

    async def wait_closed(self):
        for s in self.servers:
            await s.wait_closed()


class _Controller(Controller):
    def __init__(self, provider, handler, socks, ssl_context, smtp_kwargs):
        self._provider = provider
        self._socks = socks
        host, port = socks[0].getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, ssl_context=ssl_context,
                         ready_timeout=10.0, **smtp_kwargs)

    def factory(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # auth_require_tls=False: we know
            return _ProviderSMTP(self._provider, self.handler, **self.SMTP_kwargs)

    def _create_server(self):
        async def create():
            servers = []
            for s in self._socks:
                servers.append(await self.loop.create_server(
                    self._factory_invoker, sock=s, ssl=self.ssl_context))
            return _Servers(servers)
        return create()

    def _trigger_server(self):
        # Like aiosmtpd's, but from a source port we note first, so that the probe
        # neither counts as a connection nor consumes a rule.
        fam = socket.AF_INET6 if ":" in self.hostname else socket.AF_INET
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.settimeout(2.0)
            s.bind((self.hostname, 0))
            self._provider._trigger_ports.add(s.getsockname()[1])
            s.connect((self.hostname, self.port))
            if self.ssl_context:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                with ctx.wrap_socket(s) as t:
                    t.recv(1024)
            else:
                s.recv(1024)

    def abort_sessions(self):
        """Drop every live client connection at once (provider "goes down")."""
        def abort():
            for smtp in list(self._provider._live):
                for t in (smtp._original_transport, smtp.transport):
                    if t is not None:
                        t.abort()
        if self._thread is not None:
            done = threading.Event()
            self.loop.call_soon_threadsafe(lambda: (abort(), done.set()))
            done.wait(5)


class Provider:
    def __init__(self, *, tls="implicit", cert=None, key=None, user="shop@example.ru",
                 password="secret", hosts=("127.0.0.1", "::1"), port=0, maildir=None,
                 hostname="smtp.provider.test", data_size_limit=35 * 1024 * 1024,
                 idle_timeout=300.0, mechanisms=("PLAIN", "LOGIN"), starttls_reply=None,
                 multiline=None, charset=None):
        if tls not in ("implicit", "starttls", "none"):
            raise ValueError("tls must be implicit, starttls or none")
        if tls != "none" and not (cert and key):
            raise ValueError("TLS needs cert and key")
        self.tls, self.cert, self.key = tls, cert, key
        self.user, self.password = user, password
        self.hosts = tuple(hosts)
        self.port = port
        self.maildir = maildir
        self.hostname = hostname
        self.data_size_limit = data_size_limit
        self.idle_timeout = idle_timeout
        self.mechanisms = tuple(m.upper() for m in mechanisms)
        self.starttls_reply = starttls_reply    # e.g. "454 4.7.0 TLS not available"
        if multiline is None:
            multiline = os.environ.get("PROVIDER_MULTILINE", "") not in ("", "0")
        self.multiline = multiline              # every reply on several lines
        self.charset = charset or os.environ.get("PROVIDER_CHARSET") or None
        self._cond = threading.Condition()
        self._messages: List[Received] = []
        self._events: List[Event] = []
        self._conns: List[_Conn] = []
        self._count_from = 0
        self._rules: List[Rule] = []
        self._live = set()
        self._trigger_ports = set()
        self._logins = 0
        self._auth_failures = 0
        self._concurrent = 0
        self._max_concurrent = 0
        self._controller = None
        self._maildir_n = 0
        if maildir:
            for sub in ("tmp", "new", "cur"):
                os.makedirs(os.path.join(maildir, sub), exist_ok=True)

    # ---- lifecycle --------------------------------------------------------------

    @property
    def running(self):
        return self._controller is not None

    def _ssl_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def _bind(self):
        last = None
        for _ in range(50):
            socks = []
            port = self.port
            try:
                for h in self.hosts:
                    fam = socket.AF_INET6 if ":" in h else socket.AF_INET
                    s = socket.socket(fam, socket.SOCK_STREAM)
                    socks.append(s)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    if fam == socket.AF_INET6:
                        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    s.bind((h, port))
                    port = s.getsockname()[1]
                    s.listen(128)
                    s.setblocking(False)
                self.port = port
                return socks
            except OSError as e:
                for s in socks:
                    s.close()
                last = e
                if self.port or e.errno != errno.EADDRINUSE:
                    raise
        raise last

    def start(self):
        """Listen (again) on every host, same port as before if it had one."""
        if self._controller is not None:
            raise RuntimeError("provider already running")
        socks = self._bind()
        kw = dict(server_hostname=self.hostname, data_size_limit=self.data_size_limit,
                  timeout=self.idle_timeout, authenticator=self._authenticate,
                  auth_required=True,
                  auth_exclude_mechanism=[m for m in ("PLAIN", "LOGIN", "XOAUTH2",
                                                      "OAUTHBEARER")
                                          if m not in self.mechanisms])
        ssl_ctx = None
        if self.tls == "implicit":
            ssl_ctx = self._ssl_context()
            # aiosmtpd only knows STARTTLS as "TLS": its auth_require_tls check would refuse
            # AUTH on an implicit-TLS connection. Everything is TLS here anyway.
            kw.update(auth_require_tls=False)
        elif self.tls == "starttls":
            kw.update(tls_context=self._ssl_context(), require_starttls=False,
                      auth_require_tls=True)     # STARTTLS is enforced in _recorded()
        else:
            kw.update(auth_require_tls=False)
        c = _Controller(self, _Handler(self), socks, ssl_ctx, kw)
        try:
            c.start()
        except BaseException:
            try:
                c.stop(no_assert=True)
            except Exception:
                pass
            for s in socks:
                s.close()
            raise
        self._controller = c
        return self

    def stop(self):
        """Stop listening and drop live sessions (the provider "goes down")."""
        c, self._controller = self._controller, None
        if c is None:
            return
        c.abort_sessions()
        c.stop(no_assert=True)
        with self._cond:
            self._live.clear()
            self._concurrent = 0

    def restart(self, **changes):
        """stop(), change attributes (cert=, key=, tls=, user=, password=...), start()."""
        self.stop()
        for k, v in changes.items():
            if not hasattr(self, k):
                raise AttributeError(k)
            setattr(self, k, v)
        self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    # ---- scripting --------------------------------------------------------------

    def add_rule(self, stage, reply, *, match=None, after=0, duration=None, times=None,
                 delay=0.0, early=False, trickle=0, interval=0.01):
        if stage not in STAGES:
            raise ValueError("stage must be one of %s" % (STAGES,))
        if reply is not None and not re.match(r"^[2-5]\d\d[ -]", reply + " "):
            raise ValueError("reply must start with a 3-digit code: %r" % reply)
        if early and (stage != "data" or reply is None):
            raise ValueError("early is for a data rule with a reply")
        r = Rule(stage, reply, match, after, duration, times, delay, early, trickle,
                 interval)
        with self._cond:
            self._rules.append(r)
        return r

    def refuse_rcpt(self, addr, reply="550 5.1.1 No such user here"):
        return self.add_rule("rcpt", reply, match=addr)

    def clear_rules(self):
        with self._cond:
            self._rules.clear()

    def _take_rule(self, stage, addr, early=False):
        now = time.monotonic()
        with self._cond:
            self._rules = [r for r in self._rules if not r.expired(now)]
            for r in self._rules:
                if (r.stage == stage and r.early == early
                        and r.matches(addr, len(self._messages))):
                    r.fired += 1
                    r.fired_times.append(time.time())
                    if r.first_fired is None:
                        r.first_fired = now
                    return r
        return None

    # ---- recording (loop thread) -----------------------------------------------

    def _conn_open(self, smtp, peer):
        with self._cond:
            trigger = peer is not None and peer[1] in self._trigger_ports
            n = 0 if trigger else 1 + sum(1 for c in self._conns if not c.trigger)
            c = _Conn(n, peer, time.time(), trigger=trigger)
            self._conns.append(c)
            smtp.conn = c
            if not trigger:
                self._live.add(smtp)
                self._concurrent += 1
                self._max_concurrent = max(self._max_concurrent, self._concurrent)
                self._events.append(Event(time.time(), c.id, "CONNECT", str(peer),
                                          smtp.tls_version is not None))
            self._cond.notify_all()

    def _conn_closed(self, smtp):
        with self._cond:
            c = smtp.conn
            if c is None or c.closed is not None:
                return
            c.closed = time.time()
            if not c.trigger:
                if smtp in self._live:
                    self._live.discard(smtp)
                    self._concurrent -= 1
                self._events.append(Event(time.time(), c.id, "CLOSE", None,
                                          smtp.tls_version is not None))
            self._cond.notify_all()

    def _event(self, smtp, what, arg):
        c = smtp.conn
        if c is None or c.trigger:
            return
        with self._cond:
            self._events.append(Event(time.time(), c.id, what, arg,
                                      smtp.tls_version is not None))
            self._cond.notify_all()

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        rule = self._take_rule("auth", None)
        if rule is not None and rule.reply is not None:
            with self._cond:
                self._auth_failures += 1
                self._cond.notify_all()
            return AuthResult(success=False, handled=False, message=rule.reply)
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == self.user.encode()
              and auth_data.password == self.password.encode())
        with self._cond:
            if ok:
                self._logins += 1
                if server.conn is not None:
                    server.conn.login = auth_data.login.decode("utf-8", "replace")
            else:
                self._auth_failures += 1
            self._cond.notify_all()
        if ok:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Authentication credentials invalid")

    # ---- OAuth 2.0 (issue 19) begin ------------------------------------------------------
    # oauth_check(user, token) -> bool says whether an access token is currently valid
    # (OAuthServer.valid). A refused token gets what Gmail and Outlook send: 334 with a
    # base64 JSON error, then, after the client's empty line (or ^A), 535.
    oauth_check = None

    async def _oauth_auth(self, smtp, mech, args):
        import base64
        import json
        from aiosmtpd.smtp import MISSING
        if len(args) > 1:
            try:
                raw = b"" if args[1] == "=" else base64.b64decode(args[1], validate=True)
            except ValueError:
                return AuthResult(success=False, handled=False,
                                  message="501 5.5.2 Cannot decode response")
        else:
            raw = await smtp.challenge_auth("")
            if raw is MISSING:
                return AuthResult(success=False, handled=True)
        user, token, fields = "", "", raw.split(b"\x01")
        if mech == "OAUTHBEARER":
            for part in fields[0].split(b","):
                if part.startswith(b"a="):
                    user = part[2:].replace(b"=2C", b",").replace(b"=3D", b"=").decode()
            fields = fields[1:]
        for f in fields:
            if f.startswith(b"user="):
                user = f[5:].decode()
            elif f.startswith(b"auth=Bearer "):
                token = f[12:].decode()
        rule = self._take_rule("auth", None)
        ok = (rule is None and user == self.user and bool(token)
              and self.oauth_check is not None and self.oauth_check(user, token))
        with self._cond:
            if ok:
                self._logins += 1
                if smtp.conn is not None:
                    smtp.conn.login = user
            else:
                self._auth_failures += 1
            self._cond.notify_all()
        if ok:
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        if rule is not None and rule.reply is not None:
            return AuthResult(success=False, handled=False, message=rule.reply)
        err = json.dumps({"status": "401", "schemes": "bearer",
                          "scope": "https://mail.google.com/"})
        if await smtp.challenge_auth(err) is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Username and Password not accepted")
    # ---- OAuth 2.0 (issue 19) end

    def _record(self, smtp, env):
        with self._cond:
            m = Received(
                seq=len(self._messages) + 1,
                conn=smtp.conn.id if smtp.conn else 0,
                mail_from=env.mail_from, rcpt_tos=list(env.rcpt_tos),
                mail_options=list(env.mail_options), data=bytes(env.original_content),
                login=smtp.conn.login if smtp.conn else None,
                tls=smtp.tls_version is not None, tls_version=smtp.tls_version,
                peer=smtp.conn.peer if smtp.conn else None, time=time.time())
            self._messages.append(m)
            self._cond.notify_all()
        if self.maildir:
            self._to_maildir(m)
        return m.seq

    def _to_maildir(self, m):
        self._maildir_n += 1
        name = "%d.%d_%d.provider" % (int(m.time), os.getpid(), self._maildir_n)
        tmp = os.path.join(self.maildir, "tmp", name)
        pre = ("X-Envelope-From: <%s>\r\nX-Envelope-To: %s\r\nX-Auth-Login: %s\r\nX-TLS: %s\r\n"
               % (m.mail_from, ", ".join("<%s>" % r for r in m.rcpt_tos), m.login,
                  m.tls_version or "no")).encode()
        with open(tmp, "wb") as f:
            f.write(pre + m.data)
        os.rename(tmp, os.path.join(self.maildir, "new", name))

    # ---- reading (any thread) --------------------------------------------------

    @property
    def messages(self) -> List[Received]:
        with self._cond:
            return list(self._messages)

    def rcpt_domains(self) -> dict:
        """Recipients received per domain (lower case): {"gmail.com": 4, ...}."""
        counts = {}
        for m in self.messages:
            for r in m.rcpt_tos:
                d = r.rsplit("@", 1)[-1].lower()
                counts[d] = counts.get(d, 0) + 1
        return counts

    @property
    def events(self) -> List[Event]:
        with self._cond:
            return list(self._events)

    @property
    def connections(self) -> int:
        """Client sessions opened (for implicit TLS: those whose handshake succeeded)."""
        with self._cond:
            return sum(1 for c in self._conns[self._count_from:] if not c.trigger)

    @property
    def logins(self) -> int:
        """Successful AUTH exchanges."""
        with self._cond:
            return self._logins

    @property
    def auth_failures(self) -> int:
        with self._cond:
            return self._auth_failures

    @property
    def max_concurrent(self) -> int:
        """Most client sessions open at the same time."""
        with self._cond:
            return self._max_concurrent

    @property
    def concurrent(self) -> int:
        with self._cond:
            return self._concurrent

    def reset(self):
        """Forget messages, events and counters (rules stay)."""
        with self._cond:
            self._messages.clear()
            self._events.clear()
            self._count_from = len(self._conns)
            self._logins = self._auth_failures = 0
            self._max_concurrent = self._concurrent = len(self._live)

    def wait_for(self, count, timeout=15.0) -> List[Received]:
        """Wait until at least count messages were accepted; return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "provider: %d message(s) after %.1fs, wanted %d\n%s"
                        % (len(self._messages), timeout, count, self._describe()))
                self._cond.wait(left)
            return list(self._messages)

    def wait_event(self, pred, timeout=15.0) -> Event:
        """Wait for an Event satisfying pred(event); return it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self._events:
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("provider: no such event within %.1fs\n%s"
                                         % (timeout, self._describe()))
                self._cond.wait(left)

    def expect_quiet(self, seconds, count=0):
        """Wait `seconds`, then assert that exactly `count` messages have arrived."""
        time.sleep(seconds)
        with self._cond:
            if len(self._messages) != count:
                raise AssertionError("provider: %d message(s), expected %d\n%s"
                                     % (len(self._messages), count, self._describe()))

    def _describe(self, last=40):
        lines = ["provider %s port %s (%s): %d connections, %d logins, %d auth failures"
                 % (self.tls, self.port, "up" if self._controller else "down",
                    sum(1 for c in self._conns[self._count_from:] if not c.trigger),
                    self._logins,
                    self._auth_failures)]
        for e in self._events[-last:]:
            lines.append("  conn %d %s %s%s" % (e.conn, e.what, e.arg or "",
                                                " [tls]" if e.tls else ""))
        for m in self._messages[-10:]:
            lines.append("  message %d from=<%s> to=%s" % (m.seq, m.mail_from, m.rcpt_tos))
        return "\n".join(lines)

    def describe(self):
        with self._cond:
            return self._describe()


def _parse_rule(text):
    """'STAGE[,key=value...]:REPLY' -> add_rule kwargs."""
    spec, _, reply = text.partition(":")
    parts = spec.split(",")
    kw = {"stage": parts[0].strip(), "reply": reply.strip() or None}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        k = k.strip()
        if k in ("after", "times", "trickle"):
            kw[k] = int(v)
        elif k == "early":
            kw[k] = v.strip() not in ("0", "no", "false")
        elif k in ("duration", "delay", "interval"):
            kw[k] = float(v)
        elif k == "match":
            kw[k] = v.strip()
        else:
            raise ValueError("unknown rule option %r" % k)
    return kw


def main(argv=None):
    ap = argparse.ArgumentParser(description="SMTP submission provider stand-in")
    ap.add_argument("--host", action="append", help="listen address (repeatable); "
                    "default 127.0.0.1 and ::1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls", choices=("implicit", "starttls", "none"), default="implicit")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--user", default="shop@example.ru")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--maildir")
    ap.add_argument("--rule", action="append", default=[],
                    help="STAGE[,match=ADDR][,after=N][,duration=S][,times=K][,delay=S]:REPLY")
    ap.add_argument("--multiline", action="store_true",
                    help="send every reply as several lines (as Gmail does)")
    ap.add_argument("--charset", help="encode replies in this charset (cp1251, koi8-r)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    p = Provider(tls=a.tls, cert=a.cert, key=a.key, user=a.user, password=a.password,
                 hosts=tuple(a.host or ("127.0.0.1", "::1")), port=a.port, maildir=a.maildir,
                 multiline=a.multiline or None, charset=a.charset)
    for r in a.rule:
        kw = _parse_rule(r)
        p.add_rule(kw.pop("stage"), kw.pop("reply"), **kw)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    p.start()
    print("provider: listening on %s port %d, tls=%s" % (", ".join(p.hosts), p.port, p.tls),
          flush=True)
    seen = 0
    while not stop.wait(0.2):
        msgs = p.messages
        if not a.quiet:
            for m in msgs[seen:]:
                print("provider: message %d conn=%d login=%s tls=%s from=<%s> to=%s size=%d"
                      % (m.seq, m.conn, m.login, m.tls_version or "no", m.mail_from,
                         ",".join(m.rcpt_tos), len(m.data)), flush=True)
        seen = len(msgs)
    p.stop()
    print("provider: %d messages, %d connections, %d logins, %d auth failures, "
          "max %d concurrent" % (len(p.messages), p.connections, p.logins, p.auth_failures,
                                 p.max_concurrent), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

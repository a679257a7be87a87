"""Who may submit mail: no open relay on a non-loopback listener, STARTTLS with the
plaintext injection defence (CVE-2011-0411 class), SMTP AUTH over TLS only, and
allow_networks.

The tests run in the suite's private network namespace, so they may add addresses
to its loopback device to stand in for a LAN address and LAN clients.
"""

import base64
import smtplib
import socket
import ssl
import statistics
import subprocess
import threading
import time
import warnings

import pytest

from conftest import RawSMTP, free_port

LAN = "10.99.0.1"          # relayd's "LAN" address
ALLOWED = "10.99.0.7"      # a client in allow_networks
STRANGER = "10.99.0.9"     # any other client


GUESSERS = ["10.99.1.%d" % i for i in range(1, 61)]   # one fresh address per sample


@pytest.fixture(scope="module", autouse=True)
def lan_addresses():
    for a in [LAN, ALLOWED, STRANGER] + GUESSERS:
        p = subprocess.run(["ip", "addr", "add", a + "/32", "dev", "lo"],
                           stderr=subprocess.PIPE, text=True)
        if p.returncode != 0 and "File exists" not in p.stderr:
            pytest.skip("cannot add test addresses to lo: %s" % p.stderr.strip())


@pytest.fixture
def users(tmp_path):
    h = subprocess.run(["openssl", "passwd", "-6", "lanpass"], stdout=subprocess.PIPE,
                       text=True, check=True).stdout.strip()
    f = tmp_path / "users"
    f.write_text("# relayd users\nlanuser:%s\n" % h)
    f.chmod(0o600)
    return str(f)


@pytest.fixture
def make_lan_relay(make_relay, provider, certs, users):
    """make_lan_relay(**settings): relayd listening on loopback and on LAN, started."""
    def make(**settings):
        port = free_port()
        settings.setdefault("auth_users", users)
        relay = make_relay(provider, start=False,
                           listen=["127.0.0.1:%d" % port, "%s:%d" % (LAN, port)],
                           tls_cert=certs.good.cert, tls_key=certs.good.key,
                           allow_networks=[ALLOWED], **settings)
        relay.port = port
        relay.start(wait_listen=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((LAN, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        return relay
    return make


@pytest.fixture
def lan_relay(make_lan_relay):
    return make_lan_relay()


def client(relay, src):
    return smtplib.SMTP(LAN, relay.port, source_address=(src, 0), local_hostname="lan.test",
                        timeout=10)


def tls_context(certs):
    ctx = ssl.create_default_context(cafile=certs.ca)
    ctx.check_hostname = False      # the test certificate names localhost, not LAN
    return ctx


def test_open_relay_config_refused(make_relay, provider, certs, users):
    relay = make_relay(provider, start=False, listen=["%s:2525" % LAN])
    p = relay.check()
    assert p.returncode == 1
    assert "open relay" in p.stderr and "allow_networks" in p.stderr
    relay.settings.update(auth_users=users)          # AUTH without TLS: still refused
    relay.write_config()
    p = relay.check()
    assert p.returncode == 1 and "only over TLS" in p.stderr
    relay.settings.update(tls_cert=certs.good.cert, tls_key=certs.good.key)
    relay.write_config()
    assert relay.check().returncode == 0


def test_stranger_must_authenticate(lan_relay, provider, certs):
    with client(lan_relay, STRANGER) as s:
        s.ehlo()
        assert s.has_extn("starttls") and not s.has_extn("auth"), \
            "AUTH must not be offered before TLS"
        code, msg = s.mail("app@lan.example")
        assert code == 530 and b"5.7.0" in msg
        code, msg = s.docmd("AUTH PLAIN AGxhbnVzZXIAbGFucGFzcw==")
        assert code == 538, "no passwords in clear"
    with client(lan_relay, STRANGER) as s:
        s.starttls(context=tls_context(certs))
        s.ehlo()
        assert "PLAIN" in s.esmtp_features.get("auth", "")
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login("lanuser", "wrong")
        assert e.value.smtp_code == 535
    with client(lan_relay, STRANGER) as s:
        s.starttls(context=tls_context(certs))
        s.login("lanuser", "lanpass")
        s.sendmail("app@lan.example", ["rcpt@example.org"],
                   b"From: app@lan.example\r\nSubject: lan\r\n\r\nhello\r\n")
    msgs = provider.wait_for(1)
    assert msgs[0].rcpt_tos == ["rcpt@example.org"]
    lan_relay.wait_log(r"client=%s authenticated as lanuser" % STRANGER.replace(".", r"\."))


def test_auth_login_mechanism(lan_relay, provider, certs):
    with client(lan_relay, STRANGER) as s:
        s.starttls(context=tls_context(certs))
        s.ehlo()
        s.user, s.password = "lanuser", "lanpass"
        code, _ = s.auth("LOGIN", s.auth_login)
        assert code == 235


def test_allowed_network_needs_no_auth(lan_relay, provider):
    with client(lan_relay, ALLOWED) as s:
        s.sendmail("app@lan.example", ["rcpt@example.org"],
                   b"From: app@lan.example\r\nSubject: allowed\r\n\r\nhi\r\n")
    provider.wait_for(1)


def test_loopback_needs_no_auth(lan_relay, provider):
    lan_relay.submit(b"From: app@crm.example\r\nSubject: local\r\n\r\nhi\r\n")
    provider.wait_for(1)


def test_starttls_discards_pipelined_plaintext(lan_relay, provider, certs):
    """Commands sent in clear right behind STARTTLS must not run after the handshake."""
    raw = socket.create_connection((LAN, lan_relay.port), source_address=(ALLOWED, 0),
                                   timeout=10)
    f = raw.makefile("rb")
    assert f.readline().startswith(b"220")
    raw.sendall(b"EHLO lan.test\r\n")
    while f.readline()[3:4] != b" ":
        pass
    raw.sendall(b"STARTTLS\r\nMAIL FROM:<inject@evil.example>\r\nRCPT TO:<x@example.org>\r\n")
    assert f.readline().startswith(b"220 2.0.0")
    t = tls_context(certs).wrap_socket(raw, server_hostname="localhost")
    tf = t.makefile("rb")
    t.sendall(b"EHLO lan.test\r\n")
    while tf.readline()[3:4] != b" ":
        pass
    t.sendall(b"RCPT TO:<x@example.org>\r\n")
    assert tf.readline().startswith(b"503"), "an injected MAIL FROM was kept"
    t.sendall(b"QUIT\r\n")
    assert tf.readline().startswith(b"221"), "221 must arrive intact over TLS"
    t.close()
    provider.expect_quiet(1)


def test_starttls_twice_and_without_config(lan_relay, make_relay, provider, certs):
    with client(lan_relay, ALLOWED) as s:
        s.starttls(context=tls_context(certs))
        s.ehlo()
        assert not s.has_extn("starttls")
        code, _ = s.docmd("STARTTLS")
        assert code == 503
    plain = make_relay(provider)          # no tls_cert: STARTTLS is not offered
    with plain.smtp() as s:
        s.ehlo()
        assert not s.has_extn("starttls")
        assert s.docmd("STARTTLS")[0] == 502


def raw_from(relay, src):
    """A RawSMTP from source address src to relayd's LAN address."""
    c = RawSMTP.__new__(RawSMTP)
    c.sock = socket.create_connection((LAN, relay.port), timeout=10, source_address=(src, 0))
    c.buf, c.transcript = b"", []
    return c


def test_slots_per_address_and_kept_for_loopback(make_lan_relay, provider):
    """max_clients = 5, max_clients_per_address = 3: a fourth connection from one LAN
    address is refused with 421; LAN clients together never take the slot kept for
    loopback (a new one closes the longest idle LAN session instead), so a local app is
    served while the LAN holds all it may."""
    relay = make_lan_relay(max_clients=5, max_clients_per_address=3)
    held = []
    try:
        for _ in range(3):
            c = raw_from(relay, STRANGER)
            assert c.reply()[0] == 220
            held.append(c)
        extra = raw_from(relay, STRANGER)
        try:
            code, lines = extra.reply()
            assert code == 421 and lines[0].startswith("4.7.0"), (code, lines)
        finally:
            extra.close()
        relay.wait_log(r"refused a connection from %s: max_clients_per_address reached"
                       % STRANGER.replace(".", r"\."))
        for _ in range(2):                  # the LAN may take 4 of the 5 slots
            c = raw_from(relay, ALLOWED)
            assert c.reply()[0] == 220
            held.append(c)
        code, lines = held[0].reply()       # the longest idle LAN session made room
        assert code == 421 and lines[0].startswith("4.7.0"), (code, lines)
        relay.wait_log(r"client=%s closed in state cmd: the longest idle"
                       % STRANGER.replace(".", r"\."))
        relay.submit(b"From: app@crm.example\r\nSubject: local\r\n\r\nhi\r\n")
        provider.wait_for(1)
        assert held[-1].cmd("NOOP")[0] == 250
    finally:
        for c in held:
            c.close()


# ---- AUTH guessing (issue 14 item 5) ---------------------------------------------------------

def plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()


def tls_client(relay, certs, src, timeout=10):
    s = smtplib.SMTP(LAN, relay.port, source_address=(src, 0), local_hostname="lan.test",
                     timeout=timeout)
    s.starttls(context=tls_context(certs))
    s.ehlo()
    return s


@pytest.mark.deadline(120)
def test_auth_failure_takes_as_long_for_unknown_users(make_lan_relay, tmp_path, certs):
    """A failed AUTH for a user that exists and for one that does not cost the same hash
    (200,000 rounds of SHA-512 crypt, ~80 ms here): the medians of 20 tries each, every
    try from a fresh address (no delay yet), differ by less than a quarter; before, the
    unknown user was answered in a fraction of a millisecond."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            pytest.skip("python's crypt module is not available")
    h = crypt.crypt("right", "$6$rounds=200000$relaytestsalt$")
    f = tmp_path / "slow-users"
    f.write_text("someone:%s\nlanuser:%s\n" % (h, h))
    f.chmod(0o600)
    relay = make_lan_relay(auth_users=str(f))
    times = {"lanuser": [], "nobody": []}
    for i, src in enumerate(GUESSERS[:40]):
        user = "lanuser" if i % 2 == 0 else "nobody"
        with tls_client(relay, certs, src) as s:
            t0 = time.monotonic()
            code, _ = s.docmd("AUTH", "PLAIN " + plain(user, "wrong"))
            times[user].append(time.monotonic() - t0)
            assert code == 535, code
    known, unknown = statistics.median(times["lanuser"]), statistics.median(times["nobody"])
    assert known > 0.02, "the slow hash took only %.1f ms" % (known * 1000)
    assert abs(known - unknown) < known / 4, \
        "failed AUTH: %.1f ms for an existing user, %.1f ms for an unknown one" % (
            known * 1000, unknown * 1000)


@pytest.mark.deadline(90)
def test_auth_guessing_is_slowed_and_others_go_on(lan_relay, provider, certs):
    """Ten connections from one address guess passwords as fast as relayd answers, for
    6 s: each failure makes the next check from that address wait longer (0.5 s, 1 s, 2 s,
    ... 30 s, one after another), so at most a few dozen guesses are checked, not the
    thousands of before; meanwhile a local app's message and a right password from
    another address are each answered at once."""
    src = GUESSERS[50]
    stop = time.monotonic() + 6
    answered = []
    lock = threading.Lock()

    def guess():
        while time.monotonic() < stop:
            try:
                with tls_client(lan_relay, certs, src, timeout=8) as s:
                    s.sock.settimeout(max(0.1, stop - time.monotonic()))
                    while time.monotonic() < stop:
                        code, _ = s.docmd("AUTH", "PLAIN " + plain("lanuser", "guess"))
                        with lock:
                            answered.append(code)
                        s.sock.settimeout(max(0.1, stop - time.monotonic()))
            except (OSError, smtplib.SMTPException):
                pass
    threads = [threading.Thread(target=guess, daemon=True) for _ in range(10)]
    for t in threads:
        t.start()
    time.sleep(2)
    t0 = time.monotonic()
    lan_relay.submit(b"From: app@crm.example\r\nSubject: local\r\n\r\nhi\r\n")
    took_app = time.monotonic() - t0
    t0 = time.monotonic()
    with tls_client(lan_relay, certs, GUESSERS[51]) as s:
        code, _ = s.docmd("AUTH", "PLAIN " + plain("lanuser", "lanpass"))
    took_auth = time.monotonic() - t0
    for t in threads:
        t.join(15)
    assert code == 235, code
    assert took_app < 2 and took_auth < 3, \
        "during the guessing: a local app took %.1f s, a right password %.1f s" % (
            took_app, took_auth)
    assert len(answered) <= 40, "%d guesses answered in 6 s from one address" % len(answered)
    assert all(c == 535 for c in answered), answered
    lan_relay.wait_log(r"smtp auth: client=%s after \d+ failure\(s\): the check waits"
                       % src.replace(".", r"\."))
    provider.wait_for(1)

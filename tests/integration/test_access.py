"""Who may submit mail: no open relay on a non-loopback listener, STARTTLS with the
plaintext injection defence (CVE-2011-0411 class), SMTP AUTH over TLS only, and
allow_networks.

The tests run in the suite's private network namespace, so they may add addresses
to its loopback device to stand in for a LAN address and LAN clients.
"""

import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import RawSMTP, free_port

LAN = "10.99.0.1"          # relayd's "LAN" address
ALLOWED = "10.99.0.7"      # a client in allow_networks
STRANGER = "10.99.0.9"     # any other client


@pytest.fixture(scope="module", autouse=True)
def lan_addresses():
    for a in (LAN, ALLOWED, STRANGER):
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
        relay = make_relay(provider, start=False,
                           listen=["127.0.0.1:%d" % port, "%s:%d" % (LAN, port)],
                           tls_cert=certs.good.cert, tls_key=certs.good.key,
                           auth_users=users, allow_networks=[ALLOWED], **settings)
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

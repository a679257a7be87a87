"""Self-tests of the harness: the provider stand-in and the test certificates, checked with
real clients (smtplib, swaks, Python's ssl/OpenSSL). They do not need relayd."""

import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

from integration_conftest import PASSWORD, ROOT, USER, free_port, wait_until

MSG = (b"From: App <app@crm.example>\r\nTo: rcpt@example.org\r\nSubject: test\r\n\r\n"
       b"hello\r\n")


def client_ctx(certs):
    ctx = ssl.create_default_context(cafile=certs.ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def smtps(p, certs, host="localhost", timeout=5):
    return smtplib.SMTP_SSL(host, p.port, context=client_ctx(certs), timeout=timeout,
                            local_hostname="client.test")


def login(s, mech, user=USER, password=PASSWORD):
    s.ehlo_or_helo_if_needed()      # else smtplib takes "503 send EHLO first" for success
    s.user, s.password = user, password
    return s.auth(mech, {"PLAIN": s.auth_plain, "LOGIN": s.auth_login}[mech])


# ---- certificates -------------------------------------------------------------------------

def _handshake(certs, ck, server_name):
    srv_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv_ctx.load_cert_chain(ck.cert, ck.key)
    ls = socket.create_server(("127.0.0.1", 0))
    port = ls.getsockname()[1]

    def serve():
        c, _ = ls.accept()
        try:
            with srv_ctx.wrap_socket(c, server_side=True) as t:
                t.recv(1)
        except (ssl.SSLError, OSError):
            pass
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            with client_ctx(certs).wrap_socket(s, server_hostname=server_name):
                return None
    except ssl.SSLCertVerificationError as e:
        return e.verify_message
    finally:
        th.join(5)
        ls.close()


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "::1"])
def test_good_cert_verifies(certs, name):
    assert _handshake(certs, certs.good, name) is None


@pytest.mark.parametrize("which,why", [
    ("wrong_host", "hostname mismatch"),
    ("self_signed", "self-signed certificate"),
    ("expired", "certificate has expired"),
])
def test_bad_certs_fail_verification(certs, which, why):
    assert why.lower() in _handshake(certs, getattr(certs, which), "localhost").lower()


# ---- provider over smtplib ----------------------------------------------------------------

@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_implicit_tls_auth_and_record(provider, certs, mech):
    with smtps(provider, certs) as s:
        code, text = s.ehlo()
        assert code == 250 and "STARTTLS" not in text.decode()
        assert s.has_extn("auth") and {"PLAIN", "LOGIN"} <= set(s.esmtp_features["auth"].split())
        assert login(s, mech)[0] == 235
        assert s.sendmail("shop@example.ru", ["a@example.org", "b@example.org"], MSG) == {}
    m = provider.wait_for(1, 5)[0]
    assert (m.mail_from, m.rcpt_tos, m.data) == ("shop@example.ru",
                                                 ["a@example.org", "b@example.org"], MSG)
    assert m.login == USER and m.tls and m.tls_version in ("TLSv1.2", "TLSv1.3")
    assert m.body == b"hello\r\n" and m.header("subject") == ["test"]
    assert (provider.connections, provider.logins, provider.auth_failures) == (1, 1, 0)


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_wrong_password_gets_535_578(provider, certs, mech):
    with smtps(provider, certs) as s:
        s.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as ei:
            login(s, mech, password="wrong")
        assert ei.value.smtp_code == 535 and b"5.7.8" in ei.value.smtp_error
        # unauthenticated MAIL is refused
        code, _ = s.docmd("MAIL FROM:<shop@example.ru>")
        assert code == 530
    assert provider.auth_failures == 1 and provider.logins == 0 and provider.messages == []


def test_starttls_required_before_auth_and_mail(provider_starttls, certs):
    p = provider_starttls
    with smtplib.SMTP("localhost", p.port, local_hostname="client.test", timeout=5) as s:
        s.ehlo()
        assert s.has_extn("starttls") and not s.has_extn("auth")
        assert s.docmd("MAIL FROM:<x@example.org>")[0] == 530
        assert s.docmd("AUTH PLAIN AHNob3BAZXhhbXBsZS5ydQBzZWNyZXQ=")[0] == 530
        s.starttls(context=client_ctx(certs))
        s.ehlo()
        assert s.has_extn("auth") and not s.has_extn("starttls")
        login(s, "PLAIN")
        s.sendmail(USER, ["a@example.org"], MSG)
    m = p.wait_for(1, 5)[0]
    assert m.tls and m.login == USER
    whats = [(e.what, e.tls) for e in p.events]
    assert ("STARTTLS", False) in whats and ("AUTH", True) in whats
    assert ("AUTH", False) in whats      # the refused clear-text attempt is visible


def test_plain_mode_offers_auth_in_clear(make_provider):
    # the "none" mode exists to catch a client that would log in without TLS
    p = make_provider("none")
    with smtplib.SMTP("127.0.0.1", p.port, local_hostname="client.test", timeout=5) as s:
        s.ehlo()
        assert not s.has_extn("starttls") and s.has_extn("auth")
        login(s, "LOGIN")
        s.sendmail(USER, ["a@example.org"], MSG)
    m = p.wait_for(1, 5)[0]
    assert not m.tls and m.login == USER
    assert any(e.what == "AUTH" and not e.tls for e in p.events)


def test_dot_unstuffing_and_bytes_kept(provider, certs):
    body = (b"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\n...three\r\n"
            b"8bit \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\r\ntrailing space \r\n")
    with smtps(provider, certs) as s:
        login(s, "PLAIN")
        s.sendmail(USER, ["a@example.org"], body)      # smtplib dot-stuffs
    assert provider.wait_for(1, 5)[0].data == body


def test_ipv6_listener(provider, certs):
    with smtps(provider, certs, host="::1") as s:
        login(s, "PLAIN")
        s.sendmail(USER, ["a@example.org"], MSG)
    assert provider.wait_for(1, 5)[0].peer[0] == "::1"


# ---- scripted behaviour -------------------------------------------------------------------

def test_rule_refuse_one_recipient(provider, certs):
    provider.refuse_rcpt("bad@example.org")
    with smtps(provider, certs) as s:
        login(s, "PLAIN")
        refused = s.sendmail(USER, ["a@example.org", "BAD@example.org", "c@example.org"], MSG)
    assert refused == {"BAD@example.org": (550, b"5.1.1 No such user here")}
    assert provider.wait_for(1, 5)[0].rcpt_tos == ["a@example.org", "c@example.org"]


def test_rule_mail_refused_after_n_for_t_seconds(provider, certs):
    provider.add_rule("mail", "553 5.7.1 Sending quota exceeded", after=2, duration=1.0)
    with smtps(provider, certs) as s:
        login(s, "PLAIN")
        s.sendmail(USER, ["a@example.org"], MSG)
        s.sendmail(USER, ["a@example.org"], MSG)
        with pytest.raises(smtplib.SMTPSenderRefused) as ei:
            s.sendmail(USER, ["a@example.org"], MSG)
        assert ei.value.smtp_code == 553
        s.rset()
        with pytest.raises(smtplib.SMTPSenderRefused):
            s.sendmail(USER, ["a@example.org"], MSG)
        s.rset()
        time.sleep(1.1)
        s.sendmail(USER, ["a@example.org"], MSG)
    assert len(provider.messages) == 3


def test_rule_data_550_and_times(provider, certs):
    provider.add_rule("data", "550 5.7.1 Spam message rejected", times=1)
    with smtps(provider, certs) as s:
        login(s, "PLAIN")
        with pytest.raises(smtplib.SMTPDataError) as ei:
            s.sendmail(USER, ["a@example.org"], MSG)
        assert ei.value.smtp_code == 550
        s.sendmail(USER, ["a@example.org"], MSG)
    assert len(provider.wait_for(1, 5)) == 1


def test_rule_421_at_connect(provider, certs):
    provider.add_rule("connect", "421 4.3.2 Service not available, try later", times=2)
    for _ in range(2):
        with pytest.raises(smtplib.SMTPConnectError) as ei:
            smtps(provider, certs)
        assert ei.value.smtp_code == 421
    with smtps(provider, certs) as s:
        login(s, "PLAIN")


def test_rule_auth_and_delay(provider, certs):
    provider.add_rule("auth", "454 4.7.0 Too many login attempts", times=1)
    provider.add_rule("rcpt", None, delay=0.5)
    with smtps(provider, certs) as s:
        s.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as ei:
            login(s, "PLAIN")
        assert ei.value.smtp_code == 454
        login(s, "PLAIN")
        t0 = time.monotonic()
        s.sendmail(USER, ["a@example.org"], MSG)
        assert time.monotonic() - t0 >= 0.45


# ---- lifecycle and counters ---------------------------------------------------------------

def test_stop_and_restart_same_port(provider, certs):
    port = provider.port
    s = smtps(provider, certs)
    login(s, "PLAIN")
    provider.stop()
    with pytest.raises((smtplib.SMTPServerDisconnected, ConnectionError, ssl.SSLError)):
        s.noop()                               # live session dropped
    s.close()
    for host in ("127.0.0.1", "::1"):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, port), timeout=2)
    provider.start()
    assert provider.port == port
    with smtps(provider, certs) as s:
        login(s, "PLAIN")
        s.sendmail(USER, ["a@example.org"], MSG)
    assert provider.wait_for(1, 5)[0].conn == 2
    assert (provider.connections, provider.logins) == (2, 2)


def test_restart_with_other_cert(provider, certs):
    provider.restart(cert=certs.wrong_host.cert, key=certs.wrong_host.key)
    with pytest.raises(ssl.SSLCertVerificationError):
        smtps(provider, certs)
    provider.restart(cert=certs.good.cert, key=certs.good.key)
    with smtps(provider, certs) as s:
        login(s, "PLAIN")


def test_session_counters(provider, certs):
    a = smtps(provider, certs)
    login(a, "PLAIN")
    for i in range(3):
        a.sendmail(USER, ["a@example.org"], MSG)
    b = smtps(provider, certs)
    login(b, "LOGIN")
    b.sendmail(USER, ["b@example.org"], MSG)
    assert provider.max_concurrent == 2 and provider.concurrent == 2
    a.quit()
    b.quit()
    wait_until(lambda: provider.concurrent == 0, 5, "sessions to close")
    msgs = provider.wait_for(4, 5)
    assert [m.conn for m in msgs] == [1, 1, 1, 2]
    assert (provider.connections, provider.logins) == (2, 2)
    provider.reset()
    assert (provider.connections, provider.logins, provider.messages) == (0, 0, [])


def test_wait_for_times_out_with_explanation(provider):
    t0 = time.monotonic()
    with pytest.raises(AssertionError, match=r"0 message\(s\) after 0\.3s, wanted 1"):
        provider.wait_for(1, 0.3)
    assert time.monotonic() - t0 < 2


# ---- swaks --------------------------------------------------------------------------------

def swaks(p, certs, *extra):
    cmd = ["swaks", "--server", "localhost", "--port", str(p.port), "--helo", "client.test",
           "--from", USER, "--to", "a@example.org", "--auth-user", USER,
           "--auth-password", PASSWORD, "--tls-verify", "--tls-ca-path", certs.ca,
           "--timeout", "10"] + list(extra)
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=30)


@pytest.mark.parametrize("tls,flag,mech", [("implicit", "--tlsc", "LOGIN"),
                                           ("starttls", "--tls", "PLAIN")])
def test_swaks(make_provider, certs, tls, flag, mech):
    p = make_provider(tls)
    r = swaks(p, certs, flag, "--auth", mech, "--header", "Subject: swaks")
    assert r.returncode == 0, r.stdout
    m = p.wait_for(1, 5)[0]
    assert m.tls and m.login == USER and m.header("Subject") == ["swaks"]


def test_swaks_verification_fails_on_self_signed(make_provider, certs):
    # (swaks 20201014 checks the chain only, not the host name)
    p = make_provider("implicit", cert=certs.self_signed)
    r = swaks(p, certs, "--tlsc", "--auth", "PLAIN")
    assert r.returncode != 0
    assert p.messages == [] and p.logins == 0


# ---- command line -------------------------------------------------------------------------

def test_cli(certs, tmp_path):
    port = free_port()
    md = tmp_path / "md"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "provider.py"), "--port", str(port),
         "--tls", "starttls", "--cert", certs.good.cert, "--key", certs.good.key,
         "--user", USER, "--password", PASSWORD, "--maildir", str(md),
         "--rule", "rcpt,match=bad@example.org:550 5.1.1 No such user"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "listening" in proc.stdout.readline()
        with smtplib.SMTP("localhost", port, local_hostname="client.test", timeout=5) as s:
            s.starttls(context=client_ctx(certs))
            login(s, "LOGIN")
            refused = s.sendmail(USER, ["a@example.org", "bad@example.org"], MSG)
        assert list(refused) == ["bad@example.org"]
        files = wait_until(lambda: list((md / "new").iterdir()), 5, "maildir file")
        data = files[0].read_bytes()
        assert data.endswith(MSG) and b"X-Envelope-To: <a@example.org>\r\n" in data
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, out
    assert re.search(r"1 messages, 1 connections, 1 logins", out), out

"""OAuth 2.0 login (issue 19): relayctl oauth login (device and code flows), XOAUTH2 and
OAUTHBEARER to the provider with tokens that expire every few seconds, rotated refresh
tokens kept across kill -9, invalid_grant disabling the account, the 334 error exchange,
token_command. The token endpoint is tests/oauth_server.py over HTTPS with the tests' CA."""
import random
import re
import ssl
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import PASSWORD, RELAYCTL, USER, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from oauth_server import CLIENT_ID, OAuthServer  # noqa: E402

MSG = b"From: app@crm.example\r\nTo: rcpt@example.org\r\nSubject: oauth\r\n\r\nhello\r\n"
REASON = "oauth: log in again with relayctl oauth login main"


@pytest.fixture
def make_oauth(certs):
    made = []

    def make(**kw):
        o = OAuthServer(cert=certs.good.cert, key=certs.good.key, **kw).start()
        made.append(o)
        return o

    yield make
    for o in made:
        o.stop()


def oauth_provider(make_provider, oauth, mechanisms=("XOAUTH2", "OAUTHBEARER"), **kw):
    p = make_provider("implicit", mechanisms=mechanisms, **kw)
    p.oauth_check = oauth.valid
    return p


def oauth_account(relay_or_none, provider, srv, certs, name="main", auth="xoauth2",
                  flow="device", token_file=None, **over):
    o = {"token_url": srv.token_url, "client_id": CLIENT_ID, "scope": "mail offline_access",
         "ca_file": certs.ca}
    if flow == "device":
        o["device_url"] = srv.device_url
    elif flow == "code":
        o["auth_url"] = srv.auth_url
    if token_file:
        o["token_file"] = str(token_file)
    o.update(over.pop("oauth", {}))
    acct = {"name": name, "host": "localhost", "port": provider.port, "tls": "implicit",
            "username": USER, "ca_file": certs.ca, "sessions": 1, "auth": auth, "oauth": o,
            "backoff": {"initial": 1, "max": 2}}
    acct.update(over)
    return acct


def start_relay(make_relay, prov, srv, certs, seeded=True, extra=(), **acct):
    """relayd with one OAuth account (then extra accounts), its token file seeded."""
    relay = make_relay(start=False)
    relay.settings["accounts"] = [oauth_account(relay, prov, srv, certs, **acct)] + list(extra)
    relay.write_config()
    if seeded:
        seed(relay, srv)
    relay.start()
    return relay


def token_file_of(relay, name="main"):
    return relay.spool / "oauth" / name


def seed(relay, oauth, name="main"):
    """Write a token file as relayctl oauth login would: a fresh refresh token."""
    f = token_file_of(relay, name)
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text("relayd-oauth: 1\nrefresh_token: %s\n" % oauth.issue())
    f.chmod(0o600)
    return f


def read_token_file(path):
    d = {}
    for line in Path(path).read_text().splitlines():
        k, _, v = line.partition(": ")
        d[k] = v
    return d


def submit_n(relay, n):
    for i in range(n):
        relay.submit(MSG.replace(b"hello", b"hello %d" % i))


def test_device_login_then_send(make_oauth, make_provider, make_relay, certs):
    oauth = make_oauth(access_life=30)
    prov = oauth_provider(make_provider, oauth)
    relay = start_relay(make_relay, prov, oauth, certs, seeded=False)
    st = relay.ctl("oauth", "status", "--json")
    assert st.returncode == 0, st.stderr
    assert '"state":"login-needed"' in st.stdout.replace(" ", ""), st.stdout
    p = relay.ctl("oauth", "login", "main", config=relay.conf, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "enter the code ABCD-EFGH" in p.stdout
    assert "relayd uses the new token now" in p.stdout
    assert oauth.device_polls_seen >= 3       # pending twice, then approved
    tf = token_file_of(relay)
    assert stat.S_IMODE(tf.stat().st_mode) == 0o600
    assert oauth.refresh_valid(read_token_file(tf)["refresh_token"])
    relay.submit(MSG)
    msgs = prov.wait_for(1, timeout=20)
    assert msgs[0].login == USER
    assert [e.arg for e in prov.events if e.what == "AUTH"] == ["XOAUTH2"]
    # no secret in the log, the status or the control socket's answers
    secrets_now = [read_token_file(tf)["refresh_token"], read_token_file(tf)["access_token"]]
    st = relay.ctl("oauth", "status")
    assert st.returncode == 0 and "main" in st.stdout and "ready" in st.stdout, st.stdout
    for s in secrets_now:
        assert s not in relay.log() and s not in st.stdout
        assert s not in relay.ctl("status", "--json").stdout


def test_code_login_with_pkce_then_oauthbearer(make_oauth, make_provider, make_relay, certs):
    oauth = make_oauth(access_life=30)
    prov = oauth_provider(make_provider, oauth)
    relay = start_relay(make_relay, prov, oauth, certs, seeded=False, flow="code",
                        auth="oauthbearer")
    p = subprocess.Popen([str(RELAYCTL), "-c", str(relay.conf), "oauth", "login", "main"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        url = None
        deadline = time.monotonic() + 20
        while url is None and time.monotonic() < deadline:
            line = p.stdout.readline()
            assert line, "relayctl ended early: %s" % p.stderr.read()
            if line.startswith(oauth.auth_url + "?"):
                url = line.strip()
        assert url and "code_challenge_method=S256" in url and "state=" in url
        # The "browser": the authorize endpoint redirects to relayctl's loopback listener.
        ctx = ssl.create_default_context(cafile=certs.ca)
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx),
                                             urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=10) as r:
            assert b"sign-in received" in r.read()
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, out + err
    assert "relayd uses the new token now" in out
    relay.submit(MSG)
    msgs = prov.wait_for(1, timeout=20)
    assert msgs[0].login == USER
    assert [e.arg for e in prov.events if e.what == "AUTH"] == ["OAUTHBEARER"]


def test_code_login_with_pasted_redirect(make_oauth, make_provider, make_relay, certs):
    """On a host without a browser the redirect URL is pasted back; a wrong state is
    refused (an old or forged redirect)."""
    oauth = make_oauth(access_life=30)
    prov = oauth_provider(make_provider, oauth)
    relay = start_relay(make_relay, prov, oauth, certs, seeded=False, flow="code")
    ctx = ssl.create_default_context(cafile=certs.ca)

    def login(tamper):
        p = subprocess.Popen([str(RELAYCTL), "-c", str(relay.conf), "oauth", "login", "main"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            while True:
                line = p.stdout.readline()
                assert line, p.stderr.read()
                if line.startswith(oauth.auth_url + "?"):
                    break

            class NoRedirect(urllib.request.HTTPRedirectHandler):
                def redirect_request(self, *a):
                    return None
            opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx),
                                                 NoRedirect, urllib.request.ProxyHandler({}))
            try:
                opener.open(line.strip(), timeout=10)
                raise AssertionError("no redirect")
            except urllib.error.HTTPError as e:
                assert e.code == 302
                where = e.headers["Location"]
            if tamper:
                where = re.sub(r"state=[^&]*", "state=forged", where)
            out, err = p.communicate(where + "\n", timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        return p.returncode, out, err

    rc, out, err = login(tamper=True)
    assert rc != 0 and "state does not match" in err
    assert not token_file_of(relay).exists()
    rc, out, err = login(tamper=False)
    assert rc == 0, out + err
    relay.submit(MSG)
    prov.wait_for(1, timeout=20)


def test_many_messages_across_token_expiries(make_oauth, make_provider, make_relay, certs):
    """Tokens live 4 s; the provider drops idle sessions after 1 s, so relayd logs in
    again and again over ~20 s: never with an expired token."""
    oauth = make_oauth(access_life=4)
    prov = oauth_provider(make_provider, oauth, idle_timeout=1.0)
    relay = start_relay(make_relay, prov, oauth, certs)
    for batch in range(10):
        submit_n(relay, 20)
        time.sleep(1.5)
    prov.wait_for(200, timeout=120)
    assert prov.auth_failures == 0, relay.log_tail()
    assert prov.logins >= 5            # sessions came and went across expiries
    assert oauth.refreshes >= 4        # ... and the token was refreshed ahead of them
    assert "token-refused" not in relay.log()
    assert relay.queue_files() == []


def test_invalid_grant_disables_and_the_next_account_sends(make_oauth, make_provider,
                                                           make_relay, certs):
    oauth = make_oauth(access_life=4)
    prov = oauth_provider(make_provider, oauth, mechanisms=("PLAIN", "XOAUTH2"),
                          idle_timeout=1.0)
    spare = {"name": "spare", "host": "localhost", "port": prov.port, "tls": "implicit",
             "username": USER, "password": PASSWORD, "ca_file": certs.ca}
    relay = start_relay(make_relay, prov, oauth, certs, extra=[spare])
    relay.submit(MSG)
    prov.wait_for(1, timeout=20)
    assert [e.arg for e in prov.events if e.what == "AUTH"] == ["XOAUTH2"]
    mark = relay.mark()
    oauth.revoke()
    relay.wait_log(r"account=main oauth=login-needed .*invalid_grant", timeout=20, since=mark)
    relay.submit(MSG)
    prov.wait_for(2, timeout=30)
    assert [e.arg for e in prov.events if e.what == "AUTH"][-1] == "PLAIN"
    st = relay.account_status("main")
    assert st["state"] == "disabled" and st["why"] == REASON, st
    wait_until(lambda: relay.queue_files() == [], 20, "queue drained")
    # A new login lifts the disable at once.
    p = relay.ctl("oauth", "login", "main", config=relay.conf, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert relay.account_status("main")["state"] != "disabled"
    time.sleep(1.5)                    # the spare's session closes (idle 1 s)
    relay.submit(MSG)
    prov.wait_for(3, timeout=30)
    assert [e.arg for e in prov.events if e.what == "AUTH"][-1] == "XOAUTH2"


def test_334_error_refresh_once_then_disable(make_oauth, make_provider, make_relay, certs):
    """A refused token: 334 with the JSON error, relayd's empty line, 535; relayd
    refreshes once and gets in. When the new token is refused too, the account is
    disabled with the server's reason."""
    oauth = make_oauth(access_life=60)
    prov = oauth_provider(make_provider, oauth, idle_timeout=1.0)
    relay = start_relay(make_relay, prov, oauth, certs)
    relay.submit(MSG)
    prov.wait_for(1, timeout=20)
    before = oauth.refreshes
    oauth.expire_access()              # the provider no longer takes relayd's token
    time.sleep(1.5)
    relay.submit(MSG)
    prov.wait_for(2, timeout=30)
    assert prov.auth_failures == 1
    assert oauth.refreshes == before + 1
    relay.wait_log(r"account=main oauth=token-refused", timeout=5)
    # now every token is refused: one refresh, one more try, then disabled
    prov.oauth_check = lambda user, token: False
    time.sleep(1.5)
    relay.submit(MSG)
    wait_until(lambda: relay.account_status("main")["state"] == "disabled", 30,
               "main disabled", detail=relay.log_tail)
    why = relay.account_status("main")["why"]
    assert "535 5.7.8" in why and re.search(r'"status": ?"401"', why), why
    assert prov.auth_failures == 3
    assert oauth.refreshes == before + 2


def test_token_command(make_oauth, make_provider, make_relay, certs, tmp_path):
    oauth = make_oauth(access_life=60)
    prov = oauth_provider(make_provider, oauth)
    tok = tmp_path / "token"
    tok.write_text("%s\n60\n" % oauth.mint(life=60))
    script = tmp_path / "fetch-token"
    script.write_text("#!/bin/sh\ncat %s\n" % tok)
    script.chmod(0o755)
    relay = start_relay(make_relay, prov, oauth, certs, seeded=False, auth="oauthbearer",
                        flow=None, oauth={"token_command": str(script), "client_id": None,
                                          "token_url": None})
    relay.submit(MSG)
    prov.wait_for(1, timeout=20)
    assert [e.arg for e in prov.events if e.what == "AUTH"] == ["OAUTHBEARER"]
    st = relay.ctl("oauth", "status", "--json")
    assert '"source":"token_command"' in st.stdout.replace(" ", ""), st.stdout
    assert oauth.refreshes == 0


def test_kill9_during_refresh_keeps_the_refresh_token(make_oauth, make_provider, make_relay,
                                                      certs):
    """relayd is killed at random moments while it refreshes every ~2 s (each answer
    delayed, each refresh rotating the token): the token file always holds a refresh
    token the server still takes, and relayd sends after the last restart."""
    oauth = make_oauth(access_life=3)
    oauth.refresh_delay = 0.3
    prov = oauth_provider(make_provider, oauth)
    relay = make_relay(start=False)
    relay.settings["accounts"] = [oauth_account(relay, prov, oauth, certs)]
    relay.write_config()
    tf = seed(relay, oauth)
    rng = random.Random(19)
    for i in range(8):
        relay.start()
        time.sleep(rng.uniform(0.2, 2.5))
        relay.kill9()
        rt = read_token_file(tf).get("refresh_token")
        assert rt and oauth.refresh_valid(rt), "round %d: %s" % (i, tf.read_text())
    assert oauth.refreshes >= 4
    relay.start()
    relay.submit(MSG)
    prov.wait_for(1, timeout=20)


CHECKPASSWORD = '''#!/usr/bin/python3
# Dovecot's checkpassword protocol: "user\\0password\\0" on fd 3; run argv[1] if good.
import os, sys, time
user, token = os.read(3, 8192).split(b"\\0")[:2]
for line in open(%r):
    u, t, exp = line.split()
    if u.encode() == user and t.encode() == token and float(exp) > time.time():
        os.execvp(sys.argv[1], sys.argv[1:])
sys.exit(1)
'''


def test_imap_watcher_logs_in_with_xoauth2(make_oauth, make_provider, make_relay, certs,
                                           tmp_path):
    """The bounce watcher of an OAuth account logs in to Dovecot with AUTHENTICATE
    XOAUTH2 and the account's current token, also after tokens expired in between."""
    from dovecot import Dovecot
    oauth = make_oauth(access_life=4)
    oauth.valid_file = str(tmp_path / "valid-tokens")
    Path(oauth.valid_file).write_text("")
    script = tmp_path / "checkpassword"
    script.write_text(CHECKPASSWORD % oauth.valid_file)
    script.chmod(0o755)
    dv = Dovecot(tmp_path / "dovecot", cert=certs.good.cert, key=certs.good.key, ca=certs.ca,
                 user=USER, checkpassword=str(script))
    dv.start()
    try:
        prov = oauth_provider(make_provider, oauth)
        relay = start_relay(make_relay, prov, oauth, certs, bounces={
            "host": "127.0.0.1", "port": dv.port, "tls": "implicit", "folder": "INBOX"})
        relay.wait_log(r"imap: account=main .*logged in as", timeout=20)
        time.sleep(6)                  # the first token has expired meanwhile
        mark = relay.mark()
        dv.restart()                   # the watcher reconnects: a new login
        relay.wait_log(r"imap: account=main .*logged in as", timeout=30, since=mark)
        logins = re.findall(r"Login: user=<%s>, method=(\w+)" % re.escape(USER), dv.log())
        assert logins.count("XOAUTH2") >= 2, dv.log()
        assert oauth.refreshes >= 1
    finally:
        dv.cleanup()
        print("===== dovecot log =====\n" + dv.log())


def test_token_endpoint_outage_backs_off_without_disabling(make_oauth, make_provider,
                                                           make_relay, certs):
    """The token endpoint answers 503 for a while: relayd retries with a growing delay,
    the account is never disabled, and mail goes out once the endpoint is back."""
    oauth = make_oauth(access_life=4)
    prov = oauth_provider(make_provider, oauth, idle_timeout=1.0)
    relay = start_relay(make_relay, prov, oauth, certs)
    relay.submit(MSG)
    prov.wait_for(1, timeout=20)
    mark = relay.mark()
    oauth.fail_next = 4                # about 2+4+8 s of outage with the backoff
    relay.wait_log(r"account=main oauth=refresh-failed retry_in=\d+s .*503|"
                   r"account=main oauth=refresh-failed .*temporarily_unavailable",
                   timeout=20, since=mark)
    st = relay.ctl("oauth", "status", "--json")
    assert '"state":"login-needed"' not in st.stdout.replace(" ", "")
    time.sleep(4.5)                    # the last good token has expired meanwhile
    relay.submit(MSG)
    prov.wait_for(2, timeout=60)
    assert oauth.fail_next == 0        # it went out only after the outage
    waits = [int(w) for w in re.findall(r"oauth=refresh-failed retry_in=(\d+)s",
                                        relay.log())]
    assert len(waits) == 4 and waits == sorted(waits) and waits[-1] > waits[0], waits
    assert relay.account_status("main")["state"] != "disabled"
    assert "login-needed" not in relay.log()
    assert prov.auth_failures == 0

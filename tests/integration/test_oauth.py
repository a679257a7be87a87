"""OAuth 2.0 login (issue 19): relayctl oauth login (device and code flows), XOAUTH2 and
OAUTHBEARER to the provider with tokens that expire every few seconds, rotated refresh
tokens kept across kill -9, invalid_grant disabling the account, the 334 error exchange,
token_command. The token endpoint is tests/oauth_server.py over HTTPS with the tests' CA."""
import os
import random
import re
import ssl
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import RELAYCTL, USER, wait_until

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


def oauth_account(relay_or_none, provider, oauth, certs, name="main", auth="xoauth2",
                  flow="device", token_file=None, **over):
    o = {"token_url": oauth.token_url, "client_id": CLIENT_ID, "scope": "mail offline_access",
         "ca_file": certs.ca}
    if flow == "device":
        o["device_url"] = oauth.device_url
    elif flow == "code":
        o["auth_url"] = oauth.auth_url
    if token_file:
        o["token_file"] = str(token_file)
    o.update(over.pop("oauth", {}))
    acct = {"name": name, "host": "localhost", "port": provider.port, "tls": "implicit",
            "username": USER, "ca_file": certs.ca, "sessions": 1, "auth": auth, "oauth": o,
            "backoff": {"initial": 1, "max": 2}}
    acct.update(over)
    return acct


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
    relay = make_relay(start=False)
    relay.settings["accounts"] = [oauth_account(relay, prov, oauth, certs)]
    relay.write_config()
    relay.start()
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

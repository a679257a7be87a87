"""The status page on metrics_listen (issue 17): / is an HTML page drawn by relayd,
/status.json is what `relayctl status --json` prints. A real browser (Debian's headless
chromium) loads the page from a running relayd with two accounts, one throttled by its
provider and one that used up its hourly quota, and the test reads the rendered DOM;
a screenshot is kept as build/statuspage.png for people to look at."""

import html.parser
import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import RELAYD, free_port, wait_until
from test_quota import FIRST, SECOND, account, quota_relay, submit_all, wait_state

CHROMIUM = shutil.which("chromium")
SCREENSHOT = Path(str(RELAYD)).parent / "statuspage.png"      # build/ (or build/san-.../)
# A throttle reply with markup and Cyrillic in it: the page must show it as text.
THROTTLE = "421 4.7.0 <b>Слишком</b> много писем & try later"


def get(port, path, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers, r.read()


def chromium(*args, timeout=90):
    """Run headless chromium on loopback with a throwaway profile; its stdout. As root
    (make test-fresh, or the tests' user namespace) chromium refuses to start with its
    sandbox, so --no-sandbox is given then, and only then."""
    tmp = tempfile.mkdtemp(prefix="statuspage-chromium-")
    argv = [CHROMIUM, "--headless", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--disable-sync",
            "--disable-background-networking", "--disable-component-update",
            "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
            "--user-data-dir=" + os.path.join(tmp, "profile")] + list(args)
    if os.geteuid() == 0:
        argv.insert(1, "--no-sandbox")
    env = dict(os.environ, HOME=tmp, XDG_CONFIG_HOME=os.path.join(tmp, "config"),
               XDG_CACHE_HOME=os.path.join(tmp, "cache"))
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise AssertionError("chromium took more than %d s: %r" % (timeout, argv))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert p.returncode == 0, "chromium exited %d: %s" % (p.returncode, err.decode()[-2000:])
    return out.decode("utf-8")


class DOM(html.parser.HTMLParser):
    """What the test reads from the rendered page: each account's data-* attributes
    and its windows, each data-key's text, every element's text in order."""

    def __init__(self, text):
        super().__init__()
        self.accounts = {}        # name -> {"state":..., "hour": attrs, "day": attrs}
        self.keys = {}            # queue data-key -> text
        self.text = []
        self.tags = []            # (tag, attrs) in order
        self._acct = None
        self._key = None          # (key, depth at open)
        self._depth = 0
        self.feed(text)
        self.all_text = "".join(self.text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag not in ("meta", "link", "br", "img", "input", "line", "rect"):
            self._depth += 1
        if tag == "article" and "data-account" in a:
            self._acct = self.accounts[a["data-account"]] = {"state": a["data-state"]}
        elif "data-window" in a and self._acct is not None:
            self._acct[a["data-window"]] = a
        elif tag == "svg" and self._acct is not None:
            self._acct["chart"] = a
        elif tag == "dd" and "data-key" in a and self._key is None:
            self._key = (a["data-key"], self._depth, [])

    def handle_endtag(self, tag):
        if self._key is not None and tag == "dd" and self._depth == self._key[1]:
            self.keys.setdefault(self._key[0], "".join(self._key[2]))
            self._key = None
        if tag not in ("meta", "link", "br", "img", "input", "line", "rect"):
            self._depth -= 1

    def handle_data(self, data):
        self.text.append(data)
        if self._key is not None:
            self._key[2].append(data)


def without_times(v, key=""):
    """status JSON with the members that move with the clock taken out."""
    if isinstance(v, dict):
        return {k: without_times(x, k) for k, x in v.items()
                if not (isinstance(x, int) and not isinstance(x, bool) and
                        (x > 1000000000 or "age" in k))}
    if isinstance(v, list):
        return [without_times(x, key) for x in v]
    return v


def two_states(make_provider, make_relay, port):
    """A relay whose account "main" is throttled (the provider answers THROTTLE at MAIL,
    backoff 10 minutes) and "spare" exhausted (per_hour 2, 3 messages queued), with
    the event journal on (one recipient failed at spare's provider)."""
    p1 = make_provider(user=FIRST)
    p2 = make_provider(user=SECOND)
    p1.add_rule("mail", THROTTLE)
    p2.refuse_rcpt("gone@example.org", "550 5.1.1 <gone@example.org>: no such user")
    r = quota_relay(make_relay, lambda r: [
        account(r, p1, name="main", user=FIRST, backoff={"initial": 600, "max": 600},
                limits={"per_hour": 50, "per_day": 200, "count": "messages"},
                rules=[{"match": "^421 ", "stage": "mail", "action": "throttle"}]),
        account(r, p2, name="spare", user=SECOND,
                limits={"per_hour": 2, "per_day": 100, "count": "messages"})],
        metrics_listen="127.0.0.1:%d" % port, events={"keep": 3600})
    submit_all(r, [1])
    wait_state(r, "main", "throttled", timeout=20)
    submit_all(r, [2], rcpts=lambda n: ["gone@example.org"])
    r.wait_log(r"to=<gone@example.org>.*status=failed")
    submit_all(r, [3, 4, 5])
    wait_state(r, "spare", "exhausted", timeout=20)
    wait_until(lambda: len(p2.messages) == 2, 15, "two messages at spare's provider")
    return r


@pytest.mark.deadline(240)
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (contrib/deps.sh)")
def test_statuspage_in_chromium(make_provider, make_relay):
    port = free_port()
    r = two_states(make_provider, make_relay, port)
    st = r.status()
    url = "http://127.0.0.1:%d/" % port

    dom = DOM(chromium("--dump-dom", url))
    assert set(dom.accounts) == {"main", "spare"}, dom.accounts
    by_name = {a["name"]: a for a in st["accounts"]}
    for name, a in dom.accounts.items():
        s = by_name[name]
        assert a["state"] == s["state"], (name, a, s)
        for w in ("hour", "day"):
            assert int(a[w]["data-used"]) == s[w]["used"], (name, w, a[w], s[w])
            assert int(a[w]["data-limit"]) == s[w]["limit"], (name, w, a[w], s[w])
            assert int(a[w]["data-remaining"]) == s[w]["remaining"], (name, w, a[w], s[w])
        assert int(a["chart"]["data-hours"]) == 24, a
        # the chart's sends come from the ledger: they add up to the day's used
        assert int(a["chart"]["data-total"]) == s["day"]["used"], (name, a["chart"], s)
    assert dom.accounts["main"]["state"] == "throttled"
    assert dom.accounts["spare"]["state"] == "exhausted"
    assert dom.accounts["spare"]["hour"]["data-remaining"] == "0"
    # why: the provider's words, as text (the <b> is not markup), and the times
    assert "<b>Слишком</b> много писем & try later" in dom.all_text, dom.all_text
    assert not any(t == "b" for t, _ in dom.tags), "provider text became markup"
    assert "Resumes" in dom.all_text and "next unit is free" in dom.all_text
    q = st["queue"]
    for k in ("waiting", "held", "deferred", "total"):
        assert dom.keys[k] == str(q[k]), (k, dom.keys, q)
    assert dom.keys["drain_estimate"], dom.keys
    # the failure from the journal, and no script anywhere
    assert "gone@example.org" in dom.all_text
    assert not any(t == "script" for t, _ in dom.tags)
    assert any(t == "meta" and a.get("http-equiv") == "refresh" for t, a in dom.tags)

    SCREENSHOT.unlink(missing_ok=True)
    chromium("--screenshot=%s" % SCREENSHOT, "--window-size=1200,900", url)
    assert SCREENSHOT.stat().st_size > 10000, SCREENSHOT


def test_status_json_is_relayctl_status(make_provider, make_relay):
    """/status.json is what relayctl status --json prints (times aside), served as JSON;
    only GET is answered, other paths are 404."""
    port = free_port()
    p = make_provider(user=FIRST)
    r = quota_relay(make_relay, lambda r: [
        account(r, p, name="main", user=FIRST, limits={"per_hour": 1}),
        account(r, p, name="spare", user=FIRST, limits={"per_hour": 1})],
        metrics_listen="127.0.0.1:%d" % port)
    submit_all(r, [1, 2, 3])
    wait_state(r, "spare", "exhausted", timeout=20)
    status, headers, body = get(port, "/status.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    served = json.loads(body)
    printed = r.status()
    assert without_times(served) == without_times(printed), (served, printed)
    assert served["queue"]["total"] == 1 and len(served["accounts"]) == 2
    # the page is HTML, with no script allowed
    status, headers, body = get(port, "/")
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert b"<!DOCTYPE html>" in body and b'data-account="spare"' in body
    for path, method, code in (("/", "POST", 405), ("/status.json", "DELETE", 405),
                               ("/metrics", "PUT", 405), ("/nope", "GET", 404),
                               ("/status", "GET", 404)):
        with pytest.raises(urllib.error.HTTPError) as e:
            get(port, path, method)
        assert e.value.code == code, (path, method, e.value.code)

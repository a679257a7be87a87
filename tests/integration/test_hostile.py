"""A hostile or careless client on the inbound side: replies it never reads, idle and
slow connections that would hold every slot. Each test states the promise it checks
(issue 14, items 1 and 6).
"""

import smtplib
import socket
import time

import pytest

import conftest
from test_reliability import APP_FROM, RCPT, _rss_kb, is_sanitized, message, seq_of


def _flood_without_reading(relay, line, total, seconds):
    """Pipeline `line` up to `total` octets without reading a reply, for at most
    `seconds`; returns (octets sent, the highest RSS of relayd seen, in KB)."""
    s = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
    s.setblocking(False)
    chunk = line * (65536 // len(line))
    sent, peak = 0, 0
    deadline = time.monotonic() + seconds
    try:
        while sent < total and time.monotonic() < deadline:
            try:
                sent += s.send(chunk)
            except BlockingIOError:
                time.sleep(0.02)             # relayd stopped reading: as it should
            peak = max(peak, _rss_kb(relay.proc.pid))
        time.sleep(0.5)
        peak = max(peak, _rss_kb(relay.proc.pid))
    finally:
        s.close()
    return sent, peak


@pytest.mark.deadline(60)
@pytest.mark.parametrize("line", [b"EHLO x\r\n", b"HELP\r\n"], ids=["ehlo", "help"])
def test_unread_replies_do_not_grow_memory(relay, provider, line):
    """A client pipelining 24 MB of EHLO (or HELP) and never reading a reply: relayd stops
    reading it once a little output waits, so its memory stays within a few MB during the
    flood and after the client has gone; the next app is served at once."""
    if is_sanitized(conftest.RELAYD):
        pytest.skip("ASan's quarantine and shadow memory make RSS meaningless")
    rss0 = _rss_kb(relay.proc.pid)
    sent, peak = _flood_without_reading(relay, line, 24 << 20, 8)
    time.sleep(0.5)
    after = _rss_kb(relay.proc.pid)
    assert peak - rss0 < 16 * 1024, \
        "relayd grew from %d KB to %d KB under %d octets of unread %r" % (rss0, peak, sent, line)
    assert after - rss0 < 8 * 1024, \
        "relayd kept %d KB after the client left (was %d KB)" % (after, rss0)
    assert relay.submit(message(1), APP_FROM, [RCPT]) == {}
    assert seq_of(provider.wait_for(1)[0]) == 1


def test_pipelined_replies_all_arrive_in_order(relay, provider):
    """Reading stops and resumes with the output: 3,000 pipelined NOOPs sent at once, then
    read: every reply arrives, in order, and the session goes on."""
    c = relay.raw(timeout=20)
    try:
        assert c.reply()[0] == 220
        c.send(b"EHLO app.test\r\n" + b"NOOP\r\n" * 3000 + b"QUIT\r\n")
        assert c.reply()[0] == 250
        for i in range(3000):
            assert c.reply()[0] == 250, "reply %d" % i
        assert c.reply()[0] == 221
        assert c.closed(5)
    finally:
        c.close()


# ---- connection slots (item 6) ---------------------------------------------------------------

@pytest.mark.deadline(60)
def test_session_time_limit_ends_a_noop_trickle(make_relay, provider):
    """max_session_time = 10: a client sending NOOP every 2 s (each read timeout is met)
    is told 421 4.4.2 and closed after about 10 s, instead of holding its slot forever."""
    relay = make_relay(provider, max_session_time=10)
    c = relay.raw(timeout=5)
    t0 = time.monotonic()
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO app.test")[0] == 250
        code = 250
        while code == 250 and time.monotonic() - t0 < 30:
            time.sleep(2)
            code, lines = c.cmd("NOOP")
        took = time.monotonic() - t0
        assert code == 421 and lines[0].startswith("4.4.2"), (code, lines)
        assert 8 <= took <= 16, "421 after %.1f s (max_session_time = 10)" % took
        assert c.closed(5)
    finally:
        c.close()
    relay.wait_log(r"session time limit \(10 s\) reached in state cmd")


@pytest.mark.deadline(60)
def test_stress_shortens_idle_timeouts(make_relay, provider):
    """max_clients = 10 and 9 idle clients (above 80 %): relayd is under stress, and the
    idle ones are told 421 4.4.2 after 10 s, not after the usual 120 s."""
    relay = make_relay(provider, max_clients=10)
    conns = []
    try:
        for _ in range(9):
            c = relay.raw(timeout=25)
            assert c.reply()[0] == 220
            conns.append(c)
        relay.wait_log(r"under stress")
        t0 = time.monotonic()
        for c in conns:
            code, lines = c.reply()
            assert code == 421 and lines[0].startswith("4.4.2"), (code, lines)
        took = time.monotonic() - t0
        assert took <= 15, "idle sessions under stress closed after %.1f s" % took
    finally:
        for c in conns:
            c.close()
    relay.wait_log(r"no longer under stress")
    assert relay.submit(message(1), APP_FROM, [RCPT]) == {}
    assert seq_of(provider.wait_for(1)[0]) == 1


@pytest.mark.deadline(90)
def test_thousand_idle_local_connections_do_not_lock_out_apps(relay, provider):
    """One local process holds 1,000 idle connections (max_clients is 256): a legitimate
    app's message is still accepted within 10 s, since the longest idle session makes room
    for a new one; relayd survives and delivers it."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        if hard != resource.RLIM_INFINITY and hard < 1200:
            pytest.skip("RLIMIT_NOFILE hard limit %d is below 1200" % hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    idle = []
    try:
        for _ in range(1000):
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", relay.port))
                idle.append(s)
            except OSError:
                break
        assert len(idle) >= 900, "only %d idle connections opened" % len(idle)
        time.sleep(1.0)
        t0 = time.monotonic()
        accepted, last = False, None
        while not accepted and time.monotonic() - t0 < 10:
            try:
                accepted = relay.submit(message(1), APP_FROM, [RCPT], timeout=10) == {}
            except (OSError, smtplib.SMTPException) as e:
                last = e
                time.sleep(0.2)
        took = time.monotonic() - t0
        assert accepted, "the app's message was not accepted within 10 s: %r" % (last,)
        assert took < 10, "accepted after %.1f s" % took
    finally:
        for s in idle:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert seq_of(provider.wait_for(1)[0]) == 1
    assert relay.running

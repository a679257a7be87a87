"""A hostile or careless client on the inbound side: replies it never reads, idle and
slow connections that would hold every slot. Each test states the promise it checks
(issue 14, items 1 and 6).
"""

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

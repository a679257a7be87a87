"""The spool against damage: a queue file whose envelope is wrong (huge, negative or
inconsistent sizes, a truncated envelope, garbage, a changed octet) is moved to
spool/quarantine/ with one log line naming it and why, counted in status and metrics,
and everything else is delivered: relayd never aborts on what the spool holds.
Version 1 queue files (written before the envelope checksum) still load and go.
"""

import re
import time
import urllib.request

import conftest
from conftest import wait_until


def message(seq):
    return (b"From: Shop <crm@app.example>\r\nTo: <rcpt@example.org>\r\n"
            b"Subject: spool %d\r\nX-Seq: %d\r\n\r\nmessage %d.\r\n" % (seq, seq, seq))


def renamed(data, new_id):
    """The queue file data under another id (its id line changed to match)."""
    return re.sub(rb"^id: [0-9A-F]+$", b"id: " + new_id.encode(), data, count=1,
                  flags=re.M)


def as_v1(data):
    """A version 2 queue file as version 1 wrote it (no env-crc line)."""
    assert data.startswith(b"relayd-queue 2\n"), data[:40]
    return re.sub(rb"^env-crc: [0-9a-f]{8}\n", b"", b"relayd-queue 1\n" + data[15:],
                  count=1, flags=re.M)


def field(data, key, value):
    """data with the envelope field key set to value (bytes)."""
    out, n = re.subn(rb"^" + key + rb": [^\n]*$", key + b": " + value, data, count=1,
                     flags=re.M)
    assert n == 1, key
    return out


def test_corrupt_queue_files_are_quarantined(make_relay, provider):
    port = conftest.free_port()
    relay = make_relay(provider, metrics_listen="127.0.0.1:%d" % port)
    provider.stop()                      # the messages stay queued
    for seq in range(3):
        relay.submit(message(seq))
    relay.wait_queue(3)
    relay.stop()
    files = relay.queue_files()
    good = files[0].read_bytes()
    assert good.startswith(b"relayd-queue 2\n"), good[:200]

    # An old (version 1) file that is fine, and one damaged file of each kind.
    v1 = as_v1(good)
    bad = {
        # huge: made relayd abort at delivery (malloc of header-size)
        "A000000000000001": field(as_v1(good), b"header-size", b"99999999999999"),
        # larger than the message: a fresh provider login on every attempt
        "A000000000000002": field(as_v1(good), b"header-size", b"%d" % 100000),
        # negative
        "A000000000000003": field(as_v1(good), b"size", b"-0000000000000000021"),
        # inconsistent: more octets than the file holds
        "A000000000000004": field(as_v1(good), b"size", b"00000000000099999999"),
        # truncated envelope
        "A000000000000005": good[:good.index(b"\nsize: ") + 8],
        # garbage
        "A000000000000006": bytes(range(256)) * 8,
        # one octet of a version 2 envelope changed: only the checksum tells
        "A000000000000007": good.replace(b"client: 127.0.0.1", b"client: 127.0.0.2", 1),
        # a version 2 envelope with a huge header-size and its old checksum
        "A000000000000008": field(good, b"header-size", b"99999999999999"),
    }
    (relay.queue / "B000000000000001").write_bytes(renamed(v1, "B000000000000001"))
    for name, data in bad.items():
        if data.startswith(b"relayd-queue"):
            data = renamed(data, name)
        (relay.queue / name).write_bytes(data)

    provider.start()
    since = relay.mark()
    relay.start()
    # The three good messages and the good version 1 file are delivered.
    msgs = provider.wait_for(4, timeout=30)
    assert sorted(m.header("X-Seq")[0] for m in msgs) == ["0", "0", "1", "2"]
    relay.wait_queue(0)
    assert relay.running, relay.log_tail()

    quarantine = relay.spool / "quarantine"
    assert sorted(p.name for p in quarantine.iterdir()) == sorted(bad), relay.log_tail()
    for name in bad:
        lines = relay.log_lines(r"^relayd: %s: spool: bad queue file moved to .*quarantine"
                                r", not delivered: \S" % name, since=since)
        assert len(lines) == 1, (name, relay.log_tail())
    why = lambda n: relay.log_lines(r"%s: spool: bad" % n, since=since)[0]
    assert "header-size is larger than the message" in why("A000000000000001")
    assert "header-size is larger than the message" in why("A000000000000002")
    assert "size is not a number" in why("A000000000000003")
    assert "shorter than its size" in why("A000000000000004")
    assert "truncated" in why("A000000000000005")
    assert "not a queue file" in why("A000000000000006")
    assert "checksum" in why("A000000000000007")
    assert "checksum" in why("A000000000000008")

    st = relay.status()
    assert st["queue"]["quarantined"] == len(bad), st
    text = relay.ctl("status")
    assert "quarantine: %d bad queue file(s)" % len(bad) in text.stdout, text.stdout
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        metrics = r.read().decode()
    assert "relayd_queue_quarantined %d\n" % len(bad) in metrics, metrics

    # A restart counts what is in quarantine/ and moves nothing else.
    relay.restart()
    assert relay.status()["queue"]["quarantined"] == len(bad)
    relay.submit(message(9))
    provider.wait_for(5)

"""upstream's PIPELINING path (RFC 2920). The provider stand-in does not offer
PIPELINING, so here the upstream is a second relayd (which does): MAIL, the RCPTs and
DATA go out together, and their replies are read in the states MAIL, RCPT (one a
recipient) and DATA."""
import re

from conftest import USER


def test_pipelined_transactions_through_a_second_relayd(make_relay, provider):
    hop = make_relay(provider)
    front = make_relay(accounts=[{"name": "hop", "host": "127.0.0.1", "port": hop.port,
                                  "tls": "none", "address": USER, "sessions": 1,
                                  "backoff": {"initial": 1, "max": 2}}],
                       log_level="debug")
    msg = b"Subject: t\r\nMessage-ID: <p1@crm.example>\r\n\r\nbody\r\n"
    front.submit(msg, "app@crm.example", ["r1@example.org", "r2@example.org"])
    front.submit(msg.replace(b"p1", b"p2"), "app@crm.example", ["r3@example.org"])
    got = provider.wait_for(2, timeout=20)
    assert len(got) == 2
    front.wait_log(r"account=hop .* state mail -> rcpt")
    front.wait_log(r"account=hop .* state rcpt -> rcpt")
    front.wait_log(r"account=hop .* state rcpt -> data")
    front.wait_log(r"account=hop .* state data -> body")
    sent = re.findall(r"to=<(r\d)@example.org> account=hop .* status=sent", front.log())
    assert sorted(sent) == ["r1", "r2", "r3"], front.log_tail()

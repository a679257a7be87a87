"""What the log says when many recipients share an outcome: one line per attempt."""

import re

import pytest


@pytest.mark.deadline(60)
def test_recipients_deferred_together_are_one_line(relay, provider):
    """A 99-recipient message deferred by one 451 after DATA: one log line per
    transaction with the count (to=<first> more=N), not a line per recipient; a
    recipient refused on its own still has its own line."""
    provider.add_rule("data", "451 4.3.0 local error in processing", times=1)
    provider.refuse_rcpt("odd@example.org", "450 4.2.1 mailbox busy")
    rcpts = ["r%03d@example.org" % i for i in range(99)] + ["odd@example.org"]
    relay.submit(b"Subject: many\r\n\r\nbody\r\n", to=rcpts)
    qid = relay.wait_log(r"(\w+): to=<r000@example\.org> more=\d+ .*status=deferred "
                         r"\(451 4\.3\.0 ").group(1)
    deferred = relay.log_lines(r"^relayd: %s: to=<.*status=deferred" % qid, flags=re.M)
    joined = [l for l in deferred if "451 4.3.0" in l]
    counted = sum(1 + int(re.search(r" more=(\d+) ", l).group(1)) if " more=" in l else 1
                  for l in joined)
    assert counted == 99, deferred
    assert len(joined) <= 10, "one line per transaction, not per recipient: %s" % joined
    odd = [l for l in deferred if "to=<odd@example.org>" in l]
    assert len(odd) == 1 and "450 4.2.1 mailbox busy" in odd[0], deferred

"""relay-sendmail, the sendmail command cron and PHP run: against a real relayd and
provider, and its exit statuses against a scripted SMTP peer. (make install and the man
pages: test_install.py; the systemd unit: test_systemd.py.)"""

import os
import re
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import ROOT, USER

SENDMAIL = Path(os.environ.get("RELAY_SENDMAIL") or ROOT / "build" / "relay-sendmail")

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_NOUSER, EX_UNAVAILABLE = 64, 65, 66, 67, 69
EX_TEMPFAIL, EX_PROTOCOL = 75, 76


def sendmail(conf, *args, stdin=b"", timeout=30):
    """Run relay-sendmail -C conf args with stdin; CompletedProcess (bytes out, text err)."""
    if not os.access(SENDMAIL, os.X_OK):
        pytest.fail("%s is missing: run make first" % SENDMAIL)
    p = subprocess.run([str(SENDMAIL), "-C", str(conf)] + [str(a) for a in args],
                       input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    p.stderr = p.stderr.decode("utf-8", "replace")
    return p


def header_names(m):
    return [n.lower() for n, _ in m.header_fields()]


# ---- against relayd and the provider ---------------------------------------------------

def test_t_takes_to_cc_bcc_and_removes_bcc(relay, provider):
    """cron/PHP style: -t -i, bare LF lines; every To/Cc/Bcc address gets the mail, and
    the Bcc: header (folded over two lines) reaches no one."""
    msg = (b"To: Alice <alice@example.org>, \"Smith, Bob\" <bob@example.org>\n"
           b"Cc: team: carol@example.org;\n"
           b"Bcc: hidden@example.org,\n"
           b"  also-hidden@example.net\n"
           b"Subject: nightly report\n"
           b"\n"
           b"all done\n"
           b".\n"
           b"this line is still the body with -i\n")
    p = sendmail(relay.conf, "-t", "-i", "-FCronDaemon", "-odi", "-oem", "-oi",
                 "-B8BITMIME", stdin=msg)
    assert p.returncode == 0, "relay-sendmail exited %d: %s" % (p.returncode, p.stderr)
    assert p.stdout == b"" and p.stderr == ""
    m = provider.wait_for(1)[0]
    assert sorted(m.rcpt_tos) == sorted(["alice@example.org", "bob@example.org",
                                         "carol@example.org", "hidden@example.org",
                                         "also-hidden@example.net"])
    names = header_names(m)
    assert "bcc" not in names, "Bcc: reached the provider:\n%s" % m.head.decode()
    assert b"hidden@example" not in m.head, m.head.decode()
    assert m.header("To") == ['Alice <alice@example.org>, "Smith, Bob" <bob@example.org>']
    assert m.header("Subject") == ["nightly report"]
    assert len(m.header("Date")) == 1, "relay-sendmail adds Date: when missing"
    # CRLF everywhere, the lone dot kept (dot-stuffed on the wire, unstuffed by SMTP)
    assert m.body == b"all done\r\n.\r\nthis line is still the body with -i\r\n"
    # the From: it added carries the -F name; relayd rewrote the address to the account
    assert m.header("From") == ["CronDaemon <%s>" % USER]


def test_f_sets_the_envelope_sender(relay, provider):
    """-f is the envelope sender relayd receives (its log) and, with no From: in the
    message, the address relay-sendmail puts in From: (which relayd keeps as Reply-To)."""
    mark = relay.mark()
    p = sendmail(relay.conf, "-f", "app@shop.example", "-F", "Shop Robot",
                 "rcpt@example.org", stdin=b"Subject: order\n\nshipped\n")
    assert p.returncode == 0, p.stderr
    m = provider.wait_for(1)[0]
    assert m.rcpt_tos == ["rcpt@example.org"]
    assert m.mail_from == USER
    relay.wait_log(r"from=<app@shop\.example>.*status=queued", since=mark)
    assert [v.strip("<>") for v in m.header("Reply-To")] == ["app@shop.example"]
    assert m.header("From") == ["Shop Robot <%s>" % USER]


def test_default_sender_is_user_at_host(relay, provider):
    mark = relay.mark()
    p = sendmail(relay.conf, "rcpt@example.org", stdin=b"no header at all\n")
    assert p.returncode == 0, p.stderr
    m = provider.wait_for(1)[0]
    user = __import__("pwd").getpwuid(os.getuid()).pw_name
    relay.wait_log(r"from=<%s@[^>]+>" % re.escape(user), since=mark)
    assert m.body == b"no header at all\r\n"


def test_lone_dot_ends_input_without_i(relay, provider):
    """Without -i a line with a single dot ends the message, as in sendmail; lines that
    merely start with a dot arrive as written."""
    msg = b"Subject: dots\n\n.leading dot\n..two\n.\nnot sent\n"
    p = sendmail(relay.conf, "rcpt@example.org", stdin=msg)
    assert p.returncode == 0, p.stderr
    m = provider.wait_for(1)[0]
    assert m.body == b".leading dot\r\n..two\r\n"


def test_refused_recipient_is_reported(relay, provider):
    """A recipient relayd refuses (on the suppression list) fails the whole submission,
    with relayd's reply on stderr and EX_NOUSER."""
    r = relay.ctl("suppress", "add", "dead@example.org")
    assert r.returncode == 0, "relayctl suppress add failed: %s" % r.stderr
    p = sendmail(relay.conf, "ok@example.org", "dead@example.org", stdin=b"Subject: x\n\nx\n")
    assert p.returncode == EX_NOUSER, p.stderr
    assert re.search(r"relayd refused recipient <dead@example\.org>: 550 ", p.stderr), p.stderr
    assert "not sent" in p.stderr


def test_relayd_down_is_69_with_a_clear_message(make_relay, provider):
    relay = make_relay(provider, start=False)
    p = sendmail(relay.conf, "rcpt@example.org", stdin=b"Subject: x\n\nx\n")
    assert p.returncode == EX_UNAVAILABLE
    assert p.stderr.strip() == ("relay-sendmail: cannot reach relayd at 127.0.0.1:%d: "
                                "Connection refused (is relayd running?)" % relay.port)


def _bs_dialogue(conf, lines):
    """Run relay-sendmail -bs, write each SMTP line after reading the reply it answers,
    as Symfony Mailer and Laravel do; returns (replies, exit status)."""
    p = subprocess.Popen([str(SENDMAIL), "-C", str(conf), "-bs"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    replies = []

    def reply():
        text = b""
        while True:
            line = p.stdout.readline()
            text += line
            if not line or line[3:4] != b"-":
                return text.decode()

    try:
        replies.append(reply())
        for line in lines:
            p.stdin.write(line)
            p.stdin.flush()
            if line.endswith(b"\r\n") and not line.startswith(b"Subject") and \
                    line not in (b"\r\n", b"body\r\n"):
                replies.append(reply())
        p.stdin.close()
        rest = p.stdout.read().decode()
        return replies, p.wait(timeout=30), rest
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_bs_mode_speaks_smtp_through_relayd(relay, provider):
    """sendmail -bs (Symfony Mailer's and Laravel's default): the app's SMTP dialogue on
    stdin/stdout is answered by relayd itself, so 250 after DATA means queued."""
    replies, status, rest = _bs_dialogue(relay.conf, [
        b"EHLO app.example\r\n", b"MAIL FROM:<app@example.org>\r\n",
        b"RCPT TO:<bs@example.org>\r\n", b"DATA\r\n",
        b"Subject: via -bs\r\n", b"\r\n", b"body\r\n", b".\r\n", b"QUIT\r\n"])
    assert status == 0, replies
    codes = [r[:3] for r in replies]
    assert codes == ["220", "250", "250", "250", "354", "250", "221"], replies
    assert "queued as" in replies[5].lower() or "ok" in replies[5].lower(), replies[5]
    m = provider.wait_for(1)[0]
    assert m.rcpt_tos == ["bs@example.org"]
    assert m.header("Subject") == ["via -bs"]


def test_bs_mode_relayd_down_says_421(make_relay, provider):
    relay = make_relay(provider, start=False)
    replies, status, rest = _bs_dialogue(relay.conf, [])
    assert status == EX_UNAVAILABLE
    assert replies[0].startswith("421 4.3.0 relay-sendmail: cannot reach relayd"), replies


@pytest.mark.parametrize("args", [["-x"], ["-q"], ["-bd"], ["-bp"], ["-f"], ["--help"]])
def test_bad_flags_are_usage_errors(tmp_path, args):
    conf = tmp_path / "none.conf"
    p = sendmail(conf, *args, stdin=b"")
    assert p.returncode == EX_USAGE, p.stderr
    assert p.stderr.startswith("relay-sendmail: ") and "usage: relay-sendmail" in p.stderr


def test_bad_input_is_dataerr(make_relay, provider):
    relay = make_relay(provider, start=False)     # never reached: checked before
    cases = [
        ([], b"Subject: x\n\nno recipients\n", "no recipients"),
        (["root"], b"x\n", "\"root\" has no @domain"),
        (["-t"], b"To: root\n\nx\n", "To: \"root\" has no @domain"),
        (["-t"], b"To: Alice <alice@example.org\n\nx\n", "unclosed '<'"),
    ]
    for args, msg, want in cases:
        p = sendmail(relay.conf, *args, stdin=msg)
        assert p.returncode == EX_DATAERR, (args, p.stderr)
        assert want in p.stderr, (args, p.stderr)


def test_config_problems(tmp_path):
    p = sendmail(tmp_path / "missing.conf", "a@example.org", stdin=b"x\n")
    assert p.returncode == EX_NOINPUT and "cannot read" in p.stderr, p.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text("listen = [ \"127.0.0.1:2525\" \n")
    p = sendmail(bad, "a@example.org", stdin=b"x\n")
    assert p.returncode == 78 and "bad.conf:" in p.stderr, p.stderr


def test_newaliases_mode_is_a_no_op(tmp_path):
    p = sendmail(tmp_path / "none.conf", "-bi")
    assert p.returncode == 0 and p.stderr == ""


# ---- exit statuses against a scripted SMTP peer ------------------------------------------

class ScriptedSMTP:
    """A one-connection-at-a-time SMTP server on loopback whose replies come from a dict
    {"RCPT <addr>": "550 ...", "DATA": "...", "EOM": "..."}; records the commands."""

    def __init__(self, replies=None, greeting="220 fake ESMTP"):
        self.replies = replies or {}
        self.greeting = greeting
        self.commands = []
        self.messages = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                self._session(c.makefile("rwb", buffering=0))

    def _session(self, f):
        def say(line):
            f.write(line.encode() + b"\r\n")

        say(self.greeting)
        if not self.greeting.startswith("220"):
            return
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.decode().rstrip("\r\n")
            self.commands.append(cmd)
            verb = cmd.split(" ")[0].upper()
            if verb == "EHLO":
                say(self.replies.get("EHLO", "250-fake\r\n250-SIZE 1000000\r\n250 8BITMIME"))
            elif verb == "RCPT":
                addr = cmd[cmd.index("<") + 1:cmd.index(">")]
                say(self.replies.get("RCPT " + addr, "250 ok"))
            elif verb == "DATA":
                r = self.replies.get("DATA", "354 go")
                say(r)
                if r.startswith("354"):
                    data = b""
                    while not data.endswith(b"\r\n.\r\n"):
                        chunk = f.readline()
                        if not chunk:
                            return
                        data += chunk
                    self.messages.append(data)
                    say(self.replies.get("EOM", "250 2.0.0 Ok: queued as F%d"
                                         % len(self.messages)))
            elif verb == "QUIT":
                say("221 bye")
                return
            else:
                say(self.replies.get(verb, "250 ok"))

    def conf(self, tmp_path):
        c = tmp_path / ("fake%d.conf" % self.port)
        c.write_text('listen = [ "127.0.0.1:%d" ];\nhostname = "host.example";\n' % self.port)
        return c

    def close(self):
        self.sock.close()


@pytest.fixture
def scripted():
    made = []

    def make(**kw):
        s = ScriptedSMTP(**kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


MSG = b"Subject: x\n\nbody\n"


@pytest.mark.parametrize("replies,greeting,status,text", [
    ({}, "220 fake", 0, None),
    ({"RCPT b@example.org": "550 5.1.1 <b@example.org>: suppressed"}, "220 fake", EX_NOUSER,
     "relayd refused recipient <b@example.org>: 550 5.1.1 <b@example.org>: suppressed"),
    ({"RCPT b@example.org": "451 4.3.0 busy"}, "220 fake", EX_TEMPFAIL, "try again later"),
    ({"MAIL": "501 5.1.7 Bad sender address syntax"}, "220 fake", EX_DATAERR,
     "relayd refused sender <s@example.org>: 501 5.1.7"),
    ({"EOM": "554 5.6.0 Message refused: a line is longer than 998 characters"}, "220 fake",
     EX_DATAERR, "relayd refused the message at end of data: 554 5.6.0"),
    ({"EOM": "451 4.3.0 Local error"}, "220 fake", EX_TEMPFAIL, "451 4.3.0 Local error"),
    ({"DATA": "452 4.3.1 Insufficient system storage"}, "220 fake", EX_TEMPFAIL, "452 4.3.1"),
    ({}, "421 4.7.0 Too many connections; try again later", EX_TEMPFAIL,
     "relayd refused the session at greeting: 421 4.7.0"),
    ({}, "554 no service", EX_UNAVAILABLE, "refused the session"),
    ({"EHLO": "250 fake", "MAIL": "garbage"}, "220 fake", EX_PROTOCOL, "is not SMTP"),
])
def test_exit_status_follows_the_reply(tmp_path, scripted, replies, greeting, status, text):
    s = scripted(replies=replies, greeting=greeting)
    p = sendmail(s.conf(tmp_path), "-f", "s@example.org", "a@example.org", "b@example.org",
                 stdin=MSG)
    assert p.returncode == status, p.stderr
    if text is None:
        assert p.stderr == ""
        assert s.messages and s.messages[0].endswith(b"\r\nbody\r\n.\r\n")
    else:
        assert text in p.stderr, p.stderr
        assert p.stderr.startswith("relay-sendmail: ")
    if status == EX_NOUSER:
        assert "DATA" not in s.commands, "a refused recipient must stop the transaction"


def test_dialogue_is_plain_and_complete(tmp_path, scripted):
    """EHLO with the config's hostname, MAIL with SIZE and BODY=8BITMIME (8-bit body),
    one RCPT each, DATA, QUIT; no pipelining."""
    s = scripted()
    msg = "Subject: x\n\nZakaz \u043e\u0442\u043f\u0440\u0430\u0432\u043b\u0435\u043d\n"
    p = sendmail(s.conf(tmp_path), "-f", "s@example.org", "a@example.org, B <b@example.org>",
                 stdin=msg.encode())
    assert p.returncode == 0, p.stderr
    size = len(s.messages[0]) - 3        # what was sent, without the ".\r\n" ending
    assert s.commands == ["EHLO host.example",
                          "MAIL FROM:<s@example.org> SIZE=%d BODY=8BITMIME" % size,
                          "RCPT TO:<a@example.org>", "RCPT TO:<b@example.org>", "DATA",
                          "QUIT"]


def test_too_many_recipients_go_in_a_second_transaction(tmp_path, scripted):
    s = scripted(replies={"RCPT c@example.org": "452 4.5.3 Error: too many recipients"})
    p = sendmail(s.conf(tmp_path), "-v", "a@example.org", "b@example.org", "c@example.org",
                 stdin=MSG)
    # c is refused with 452 every time: a and b are queued, then c cannot be
    assert p.returncode == EX_TEMPFAIL, p.stderr
    assert "queued for 2 of the 3 recipients before that, as F1" in p.stderr, p.stderr
    assert [c for c in s.commands if c.startswith("RCPT")] == [
        "RCPT TO:<a@example.org>", "RCPT TO:<b@example.org>", "RCPT TO:<c@example.org>",
        "RCPT TO:<c@example.org>"]
    assert len(s.messages) == 1


def test_verbose_shows_the_dialogue(tmp_path, scripted):
    s = scripted()
    p = sendmail(s.conf(tmp_path), "-v", "a@example.org", stdin=MSG)
    assert p.returncode == 0
    assert ">>> RCPT TO:<a@example.org>" in p.stderr and "<<< 250 ok" in p.stderr
    assert "queued as F1 for 1 recipient" in p.stderr
    assert "body" not in p.stderr, "-v must not show the message"

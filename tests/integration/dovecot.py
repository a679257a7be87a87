"""A real IMAP server for the tests: Dovecot (Debian dovecot-imapd) on loopback, implicit TLS.

    d = Dovecot(dir, cert=certs.good.cert, key=certs.good.key, user=..., password=...)
    d.start()                  # listens on 127.0.0.1:d.port (implicit TLS, IMAPS)
    Dovecot(..., tls="starttls")   # d.port is a plain IMAP port offering STARTTLS instead
    Dovecot(..., capability="IMAP4rev1 ...")   # what it announces after login (no IDLE...)
    Dovecot(..., checkpassword=SCRIPT)   # also XOAUTH2/OAUTHBEARER; SCRIPT (Dovecot's
                               # checkpassword protocol) judges the tokens (test_oauth.py)
    d.append(msg_bytes)        # APPEND into INBOX (or folder=...) -> the new UID
    d.uids("Bounces")          # UIDs in a folder; d.folders() lists them
    d.stop(); d.restart()      # same port, same mailbox
    d.log()                    # Dovecot's own log

Everything lives under dir: the config, state_dir, a passwd-file with the one user, the
user's maildir, the log; only base_dir (sockets, pid) is a short directory of its own under
/tmp, as unix socket paths are limited to 108 octets (d.cleanup() removes it). /etc/dovecot, the system service and
system users are not touched.

Running as root: Dovecot refuses to run its login processes as root and refuses mail
access as uid 0, and the test's directory belongs to root with mode 0700. So the master
is started in a nested user namespace where our own uid appears as `nobody`
(`unshare --map-user=65534 --map-group=65534`): Dovecot then runs unprivileged as one
user (internal, login and mail user all `nobody`), switches no users, and its files are
our own outside the namespace. The same works under `unshare --map-root-user` (non-root
runs of the suite) and shares the test's network namespace.
"""

import imaplib
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
START_TIMEOUT = 10.0


def _free_port():
    """A free port below the ephemeral range: a port the kernel hands out for outgoing
    connections can be taken by a client in between, or even connect to itself (TCP
    simultaneous open), which would make a server that is not there look up."""
    for _ in range(200):
        port = random.randrange(20000, 32000)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port for dovecot")


def _accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Dovecot:
    def __init__(self, dir, cert, key, ca, user="shop@example.ru", password="secret",
                 port=None, tls="implicit", capability=None, checkpassword=None):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert, self.key, self.ca = cert, key, ca
        self.user, self.password = user, password
        self.tls, self.capability = tls, capability
        self.checkpassword = checkpassword     # OAuth mode (issue 19): see _config
        self.port = port or _free_port()
        self.maildir = self.dir / "mail" / "Maildir"
        self.home = self.dir / "mail" / "home"
        self.conf = self.dir / "dovecot.conf"
        self.log_path = self.dir / "dovecot.log"
        self.proc = None
        # base_dir holds unix sockets: a short path (108 octets at most for those)
        self.base_dir = tempfile.mkdtemp(prefix="dovecot-")
        for d in ("state", "mail/home"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        (self.dir / "passwd").write_text("%s:{PLAIN}%s::::::\n" % (user, password))
        self.conf.write_text(self._config())

    def _config(self):
        d = self.dir
        return "\n".join([
            "base_dir = %s" % self.base_dir,
            "state_dir = %s/state" % d,
            "instance_name = relayd-test-%d" % self.port,
            "log_path = %s" % self.log_path,
            "protocols = imap",
            "listen = 127.0.0.1",
            "ssl = required",
            "ssl_cert = <%s" % self.cert,
            "ssl_key = <%s" % self.key,
            "ssl_min_protocol = TLSv1.2",
            # one unprivileged user for everything (see the module's comment)
            "default_internal_user = nobody",
            "default_internal_group = nogroup",
            "default_login_user = nobody",
            "first_valid_uid = 1",
            # OAuth mode: XOAUTH2 and OAUTHBEARER too; Dovecot checks their token as a
            # password, so a checkpassword script after the passwd-file decides.
            "auth_mechanisms = plain login%s" % (" xoauth2 oauthbearer"
                                                 if self.checkpassword else ""),
            "disable_plaintext_auth = yes",
            "mail_location = maildir:%s" % self.maildir,
            "passdb {", "  driver = passwd-file", "  args = %s/passwd" % d, "}",
        ] + (["passdb {", "  driver = checkpassword", "  args = %s" % self.checkpassword,
              "}"] if self.checkpassword else []) + [
            "userdb {", "  driver = static",
            "  args = uid=nobody gid=nogroup home=%s" % self.home, "}",
            "service imap-login {", "  chroot =",
            "  inet_listener imap {",
            "    port = %d" % (self.port if self.tls == "starttls" else 0), "  }",
            "  inet_listener imaps {",
            "    port = %d" % (self.port if self.tls == "implicit" else 0), "    ssl = yes",
            "  }",
            "}",
            "service anvil {", "  chroot =", "}",
        ] + (["imap_capability = %s" % self.capability] if self.capability else []) + [""])

    # -- process

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=START_TIMEOUT):
        assert not self.running, "dovecot already running"
        self._out = open(self.dir / "dovecot.stderr", "ab")
        self.proc = subprocess.Popen(
            [UNSHARE, "--map-user=65534", "--map-group=65534", DOVECOT, "-F", "-c",
             str(self.conf)], stdin=subprocess.DEVNULL, stdout=self._out,
            stderr=self._out, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self._greets():
            if self.proc.poll() is not None:
                raise AssertionError("dovecot exited with status %s during start-up\n%s"
                                     % (self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("dovecot did not listen on port %d within %ss\n%s"
                                     % (self.port, timeout, self.log()))
            time.sleep(0.05)
        return self

    def _greets(self):
        """Does the server answer with an IMAP greeting (over TLS for implicit)?"""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                if self.tls == "implicit":
                    ctx = ssl.create_default_context(cafile=self.ca)
                    with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
                        return tls.recv(100).startswith(b"* OK")
                return sock.recv(100).startswith(b"* OK")
        except (OSError, ssl.SSLError):
            return False

    def stop(self, timeout=10):
        """SIGTERM the master (it ends its children and logs clients out with BYE)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._out.close()
        self.proc = None
        # the master is gone; wait for the port to be free again
        deadline = time.monotonic() + timeout
        while _accepts(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def cleanup(self):
        """Stop, and remove the socket directory (the rest stays with the test's files)."""
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def restart(self):
        self.stop()
        return self.start()

    def log(self):
        out = []
        for p in (self.log_path, self.dir / "dovecot.stderr"):
            try:
                out.append(p.read_bytes().decode("utf-8", "replace"))
            except FileNotFoundError:
                pass
        return "\n".join(out)

    # -- a client of our own (imaplib, TLS checked against the test CA)

    def client(self, timeout=10):
        ctx = ssl.create_default_context(cafile=self.ca)
        if self.tls == "starttls":
            m = imaplib.IMAP4("127.0.0.1", self.port, timeout=timeout)
            m.starttls(ssl_context=ctx)
        else:
            m = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=ctx, timeout=timeout)
        m.login(self.user, self.password)
        return m

    def append(self, msg: bytes, folder="INBOX"):
        """APPEND msg to folder; returns the UID the server gave it (UIDPLUS)."""
        m = self.client()
        try:
            typ, data = m.append(folder, None, None, msg)
            assert typ == "OK", "APPEND failed: %r" % (data,)
            text = data[0].decode() if data and data[0] else ""
            uid = None
            if "APPENDUID" in text:
                uid = int(text.split("APPENDUID", 1)[1].split("]")[0].split()[1])
            return uid
        finally:
            m.logout()

    def uids(self, folder="INBOX"):
        """The UIDs of the messages in folder ([] if it does not exist)."""
        m = self.client()
        try:
            typ, _ = m.select('"%s"' % folder, readonly=True)
            if typ != "OK":
                return []
            typ, data = m.uid("SEARCH", None, "ALL")
            return [int(x) for x in data[0].split()] if typ == "OK" and data[0] else []
        finally:
            m.logout()

    def folders(self):
        m = self.client()
        try:
            typ, data = m.list()
            names = []
            for line in data or []:
                s = line.decode()
                names.append(s.rsplit(" ", 1)[-1].strip('"'))
            return names
        finally:
            m.logout()

    def describe(self):
        return "dovecot port=%d dir=%s" % (self.port, self.dir)

"""`make install PREFIX=/usr` into a scratch DESTDIR, once per module, for the tests of
what it installs (test_install.py) and of the systemd unit (test_systemd.py)."""

import subprocess

import pytest

from conftest import ROOT

INSTALLED = {
    "usr/sbin/relayd": 0o755,
    "usr/sbin/relay-sendmail": 0o755,
    "usr/bin/relayctl": 0o755,
    "usr/share/man/man5/relay.conf.5": 0o644,
    "usr/share/man/man8/relayd.8": 0o644,
    "usr/share/man/man8/relayctl.8": 0o644,
    "usr/share/man/man8/relay-sendmail.8": 0o644,
    "usr/share/doc/relayd/relay.conf.example": 0o644,
    "usr/share/doc/relayd/README.md": 0o644,
    "usr/share/doc/relayd/contrib/relayd.service": 0o644,
    "usr/share/doc/relayd/contrib/relayd.sysusers": 0o644,
    "usr/share/doc/relayd/contrib/relayd.tmpfiles": 0o644,
    "usr/share/doc/relayd/contrib/relayd.logrotate": 0o644,
    "usr/share/doc/relayd/contrib/relayd.rsyslog": 0o644,
    "usr/share/doc/relayd/contrib/DEBIAN.md": 0o644,
    "lib/systemd/system/relayd.service": 0o644,
    "usr/lib/sysusers.d/relayd.conf": 0o644,
    "usr/lib/tmpfiles.d/relayd.conf": 0o644,
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = tmp_path_factory.mktemp("destdir")
    p = subprocess.run(["make", "-C", str(ROOT), "--no-print-directory", "install",
                        "PREFIX=/usr", "DESTDIR=%s" % dest],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert p.returncode == 0, "make install failed:\n" + p.stdout[-4000:]
    return dest

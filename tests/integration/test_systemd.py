"""The systemd unit as make install puts it: checked by systemd-analyze verify, with the
hardening it promises."""

import re
import shutil
import subprocess

import pytest

from install_tree import installed  # noqa: F401 (a fixture)


@pytest.mark.deadline(600)
def test_systemd_analyze_verify(installed, tmp_path):
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    # The unit names /usr/sbin/relayd; check it against the copy make install made.
    unit = tmp_path / "relayd.service"
    text = (installed / "lib/systemd/system/relayd.service").read_text()
    assert "ExecStart=/usr/sbin/relayd -c /etc/relayd/relay.conf" in text
    unit.write_text(text.replace("/usr/sbin/relayd", str(installed / "usr/sbin/relayd")))
    p = subprocess.run([exe, "verify", "--man=no", str(unit)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    if p.returncode != 0 and re.search(r"Failed to (initialize|create|setup|connect)|"
                                       r"No such file or directory.*(bus|manager)", p.stdout):
        pytest.skip("systemd-analyze cannot run here: %s" % p.stdout.strip()[:300])
    assert p.returncode == 0 and p.stdout.strip() == "", p.stdout
    for want in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "User=relayd",
                 "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                 "ProtectHome=yes", "CapabilityBoundingSet=\n", "WatchdogSec=30",
                 "ReadWritePaths=/var/spool/relayd /run/relayd", "LimitCORE=0"):
        assert want in text, want

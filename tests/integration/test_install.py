"""make install: what it installs where, with which modes, and man pages that render and
document every config key."""

import os
import re
import shutil
import stat
import subprocess

import pytest

from conftest import ROOT
from install_tree import INSTALLED, installed  # noqa: F401 (a fixture)


@pytest.mark.deadline(600)
def test_make_install_contents(installed):
    files = sorted(str(p.relative_to(installed)) for p in installed.rglob("*") if p.is_file())
    assert sorted(INSTALLED) == files, "installed files differ:\nmissing %s\nextra %s" % (
        sorted(set(INSTALLED) - set(files)), sorted(set(files) - set(INSTALLED)))
    for rel, mode in INSTALLED.items():
        got = stat.S_IMODE((installed / rel).stat().st_mode)
        assert got == mode, "%s: mode %o, want %o" % (rel, got, mode)
    assert not (installed / "etc").exists(), "make install must not write to /etc"
    out = subprocess.run([str(installed / "usr/sbin/relay-sendmail"), "-x"],
                         stderr=subprocess.PIPE, text=True)
    assert out.returncode == 64 and "usage: relay-sendmail" in out.stderr   # EX_USAGE


@pytest.mark.deadline(600)
def test_make_install_local_prefix_has_no_unit(tmp_path):
    p = subprocess.run(["make", "-C", str(ROOT), "--no-print-directory", "install",
                        "PREFIX=/usr/local", "DESTDIR=%s" % tmp_path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-4000:]
    assert (tmp_path / "usr/local/sbin/relay-sendmail").is_file()
    assert (tmp_path / "usr/local/share/man/man5/relay.conf.5").is_file()
    assert (tmp_path / "usr/local/share/doc/relayd/contrib/relayd.service").is_file()
    assert not (tmp_path / "lib").exists()


def _man_pages(installed):
    return sorted((installed / "usr/share/man").rglob("*.[58]"))


@pytest.mark.deadline(600)
def test_man_pages_render(installed):
    mandoc, man = shutil.which("mandoc"), shutil.which("man")
    if mandoc is None and man is None:
        pytest.skip("neither mandoc nor man is installed")
    pages = _man_pages(installed)
    assert len(pages) == 4
    for page in pages:
        if mandoc:
            p = subprocess.run([mandoc, "-T", "lint", "-W", "warning", str(page)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert p.returncode == 0, "%s:\n%s" % (page, p.stdout)
            cmd = [mandoc, "-T", "utf8", str(page)]
        else:
            cmd = [man, "-l", str(page)]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=dict(os.environ, MANPAGER="cat", PAGER="cat"))
        text = re.sub(r".\x08", "", p.stdout)       # no overstrike (bold) in the check
        assert p.returncode == 0 and "NAME" in text and "SEE ALSO" in text, (page, p.stderr)


def test_every_config_key_is_in_the_man_page():
    """relay.conf(5) names every key src/config*.c accept."""
    src = "".join(p.read_text() for p in sorted((ROOT / "src").glob("config*.c")))
    page = (ROOT / "contrib/man/relay.conf.5").read_text()
    keys = set()
    for m in re.finditer(r"static const char \*config_\w+_keys\[\] = \{(.*?)\};", src, re.S):
        keys.update(re.findall(r'"(\w+)"', m.group(1)))
    assert len(keys) > 30, keys
    documented = set(re.findall(r"\bIc (\w+)", page))
    documented |= {k for line in re.findall(r"^\.It Ic ([\w ,]+)$", page, re.M)
                   for k in re.split(r"[ ,]+", line) if k}
    missing = sorted(keys - documented)
    assert not missing, "relay.conf.5 does not document: %s" % missing

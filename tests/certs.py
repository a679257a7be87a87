"""Test certificates for the relayd integration tests, made with the openssl CLI.

    certs = make_certs("/tmp/dir")    # or: /usr/bin/python3 tests/certs.py DIR
    certs.ca          CA certificate (PEM), the relay's ca_file
    certs.good        CertKey(cert, key): localhost + IP SANs 127.0.0.1, ::1, signed by the CA
    certs.wrong_host  CertKey: CN/SAN other.example, signed by the CA
    certs.self_signed CertKey: localhost (+IP SANs), self-signed, not in any trust store
    certs.expired     CertKey: localhost (+IP SANs), signed by the CA, valid 2020-01-01..2021-01-01
    certs.not_yet_valid  CertKey: localhost (+IP SANs), signed by the CA, valid from 2099-01-01
    certs.unknown_ca  CertKey: localhost (+IP SANs), signed by a second CA (certs.other_ca) that
                      is in no ca_file and no trust store
    certs.nul_in_name CertKey: signed by the CA, its only DNS SAN is "localhost\0.evil.example"
                      (the NUL-prefix attack of 2009), given as raw DER because no config
                      syntax can hold a NUL; CN evil.example

Keys are EC P-256 (fast to make). The expired certificate is issued with `openssl ca`
-startdate/-enddate because `openssl x509 -req` in OpenSSL 3.0 has no way to set notBefore.
"""

import os
import subprocess
import sys
from dataclasses import dataclass

OPENSSL = "openssl"
LOCAL_SAN = "DNS:localhost,IP:127.0.0.1,IP:::1"


@dataclass(frozen=True)
class CertKey:
    cert: str
    key: str


@dataclass(frozen=True)
class Certs:
    dir: str
    ca: str
    ca_key: str
    good: CertKey
    wrong_host: CertKey
    self_signed: CertKey
    expired: CertKey
    not_yet_valid: CertKey = None
    unknown_ca: CertKey = None
    other_ca: str = None
    nul_in_name: CertKey = None


def _run(args, cwd):
    p = subprocess.run([OPENSSL] + args, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed (%d):\n%s"
                           % (" ".join(args), p.returncode, p.stdout.decode(errors="replace")))


def _key(d, name):
    path = os.path.join(d, name + ".key")
    _run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-out", path], d)
    return path


def _leaf_ext(d, name, san):
    path = os.path.join(d, name + ".ext")
    with open(path, "w") as f:
        f.write("basicConstraints = critical, CA:FALSE\n"
                "keyUsage = critical, digitalSignature, keyEncipherment\n"
                "extendedKeyUsage = serverAuth\n"
                "subjectKeyIdentifier = hash\n"
                "authorityKeyIdentifier = keyid\n"
                "subjectAltName = %s\n" % san)
    return path


def _csr(d, name, key, cn):
    path = os.path.join(d, name + ".csr")
    _run(["req", "-new", "-key", key, "-subj", "/O=relayd tests/CN=" + cn, "-out", path], d)
    return path


def _signed(d, name, cn, san, ca, ca_key, serial):
    key = _key(d, name)
    csr = _csr(d, name, key, cn)
    cert = os.path.join(d, name + ".pem")
    _run(["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-set_serial", str(serial),
          "-days", "3650", "-sha256", "-extfile", _leaf_ext(d, name, san), "-out", cert], d)
    return CertKey(cert, key)


def _self_signed(d, name, cn, san):
    key = _key(d, name)
    cert = os.path.join(d, name + ".pem")
    _run(["req", "-x509", "-new", "-key", key, "-subj", "/O=relayd tests/CN=" + cn,
          "-days", "3650", "-sha256",
          "-addext", "basicConstraints=critical,CA:FALSE",
          "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
          "-addext", "extendedKeyUsage=serverAuth",
          "-addext", "subjectAltName=" + san, "-out", cert], d)
    return CertKey(cert, key)


def _expired(d, name, cn, san, ca, ca_key):
    """Signed by the CA, valid only during 2020, via `openssl ca` with explicit dates."""
    key = _key(d, name)
    csr = _csr(d, name, key, cn)
    cadir = os.path.join(d, "ca-db")
    os.makedirs(cadir, exist_ok=True)
    open(os.path.join(cadir, "index.txt"), "w").close()
    with open(os.path.join(cadir, "serial"), "w") as f:
        f.write("1000\n")
    conf = os.path.join(cadir, "ca.cnf")
    with open(conf, "w") as f:
        f.write("[ ca ]\ndefault_ca = tca\n"
                "[ tca ]\n"
                "dir = %s\n"
                "database = $dir/index.txt\nserial = $dir/serial\nnew_certs_dir = $dir\n"
                "certificate = %s\nprivate_key = %s\n"
                "default_md = sha256\npolicy = anything\nunique_subject = no\n"
                "copy_extensions = none\nx509_extensions = leaf\n"
                "[ anything ]\norganizationName = optional\ncommonName = supplied\n"
                "[ leaf ]\n"
                "basicConstraints = critical, CA:FALSE\n"
                "keyUsage = critical, digitalSignature, keyEncipherment\n"
                "extendedKeyUsage = serverAuth\n"
                "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
                "subjectAltName = %s\n" % (cadir, ca, ca_key, san))
    cert = os.path.join(d, name + ".pem")
    _run(["ca", "-batch", "-notext", "-config", conf, "-in", csr, "-out", cert,
          "-startdate", "20200101000000Z", "-enddate", "20210101000000Z"], d)
    return CertKey(cert, key)


def _dated(d, name, cn, san, ca, ca_key, start, end):
    """Signed by the CA with explicit notBefore/notAfter (YYYYMMDDHHMMSSZ), via `openssl ca`
    in its own database directory; san is an extension value (may be DER:hex)."""
    key = _key(d, name)
    csr = _csr(d, name, key, cn)
    cadir = os.path.join(d, "ca-db-" + name)
    os.makedirs(cadir, exist_ok=True)
    open(os.path.join(cadir, "index.txt"), "w").close()
    with open(os.path.join(cadir, "serial"), "w") as f:
        f.write("2000\n")
    conf = os.path.join(cadir, "ca.cnf")
    with open(conf, "w") as f:
        f.write("[ ca ]\ndefault_ca = tca\n"
                "[ tca ]\n"
                "dir = %s\n"
                "database = $dir/index.txt\nserial = $dir/serial\nnew_certs_dir = $dir\n"
                "certificate = %s\nprivate_key = %s\n"
                "default_md = sha256\npolicy = anything\nunique_subject = no\n"
                "copy_extensions = none\nx509_extensions = leaf\n"
                "[ anything ]\norganizationName = optional\ncommonName = supplied\n"
                "[ leaf ]\n"
                "basicConstraints = critical, CA:FALSE\n"
                "keyUsage = critical, digitalSignature, keyEncipherment\n"
                "extendedKeyUsage = serverAuth\n"
                "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
                "subjectAltName = %s\n" % (cadir, ca, ca_key, san))
    cert = os.path.join(d, name + ".pem")
    _run(["ca", "-batch", "-notext", "-config", conf, "-in", csr, "-out", cert,
          "-startdate", start, "-enddate", end], d)
    return CertKey(cert, key)


def _make_ca(d, name, cn):
    key = _key(d, name)
    cert = os.path.join(d, name + ".pem")
    _run(["req", "-x509", "-new", "-key", key, "-subj", "/O=relayd tests/CN=" + cn,
          "-days", "3650", "-sha256",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign",
          "-addext", "subjectKeyIdentifier=hash", "-out", cert], d)
    return cert, key


def der_san_dns(*names):
    """subjectAltName extension value as raw DER (DER:hex) holding dNSName entries given as
    bytes, so that a name may contain a NUL; short forms only (each name < 128 octets)."""
    inner = b"".join(bytes([0x82, len(n)]) + n for n in names)
    assert len(inner) < 128
    return "DER:" + (bytes([0x30, len(inner)]) + inner).hex()


def make_certs(d):
    """Create every test certificate in directory d (created if missing)."""
    d = os.path.abspath(d)
    os.makedirs(d, exist_ok=True)
    ca_key = _key(d, "ca")
    ca = os.path.join(d, "ca.pem")
    _run(["req", "-x509", "-new", "-key", ca_key, "-subj", "/O=relayd tests/CN=relayd test CA",
          "-days", "3650", "-sha256",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign",
          "-addext", "subjectKeyIdentifier=hash", "-out", ca], d)
    return Certs(
        dir=d, ca=ca, ca_key=ca_key,
        good=_signed(d, "good", "localhost", LOCAL_SAN, ca, ca_key, 1),
        wrong_host=_signed(d, "wrong-host", "other.example", "DNS:other.example", ca, ca_key, 2),
        self_signed=_self_signed(d, "self-signed", "localhost", LOCAL_SAN),
        expired=_expired(d, "expired", "localhost", LOCAL_SAN, ca, ca_key),
        **_more_certs(d, ca, ca_key),
    )


def _more_certs(d, ca, ca_key):
    """The certificates added for the reliability tests (not yet valid, unknown CA, NUL)."""
    other_ca, other_key = _make_ca(d, "other-ca", "relayd unknown CA")
    return dict(
        not_yet_valid=_dated(d, "not-yet-valid", "localhost", LOCAL_SAN, ca, ca_key,
                             "20990101000000Z", "21000101000000Z"),
        unknown_ca=_signed(d, "unknown-ca", "localhost", LOCAL_SAN, other_ca, other_key, 3),
        other_ca=other_ca,
        nul_in_name=_signed(d, "nul-in-name", "evil.example",
                            der_san_dns(b"localhost\x00.evil.example"), ca, ca_key, 4),
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: certs.py DIR")
    c = make_certs(sys.argv[1])
    for k in ("ca", "good", "wrong_host", "self_signed", "expired", "not_yet_valid",
              "unknown_ca", "other_ca", "nul_in_name"):
        print(k, getattr(c, k))

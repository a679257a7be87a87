#!/usr/bin/python3
"""A webhook receiver for relayd's events (issue 18), stand-in for the CRM.

In-process (pytest):

    w = WebhookServer(secret="s3cret", cert=certs.good.cert, key=certs.good.key)  # HTTPS
    w = WebhookServer(secret="s3cret")          # plain HTTP on 127.0.0.1
    w.start()                                   # w.url
    w.mode = "ok" | "500" | "hang" | "redirect" # how it answers from now on
    w.delay = 0.3                               # answer that much later
    w.stop() / w.start()                        # down for a while, then up (same port)
    w.events()                                  # every event taken (2xx), in arrival order
    w.by_id()                                   # {id: event}, duplicates folded

Every POST's X-Relayd-Signature (t=UNIX,v1=HEX, HEX = HMAC-SHA256(secret, "t.body")) is
checked, as the README tells a receiver to: a wrong or missing one is answered 401 and
counted in bad_signatures, which the tests assert is 0. A body that is not a JSON array
of objects is counted in bad_bodies. "hang" holds the request without an answer until
the server stops or the mode changes (bounded: 60 s).
"""
import hashlib
import hmac
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify(secret, header, body, now=None, tolerance=300):
    """The README's check: is header a valid signature of body, recent enough?"""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
        sig = parts["v1"]
    except (ValueError, KeyError, AttributeError):
        return False
    want = hmac.new(secret.encode(), b"%d." % t + body, hashlib.sha256).hexdigest()
    now = time.time() if now is None else now
    return hmac.compare_digest(want, sig) and abs(now - t) <= tolerance


class _Handler(BaseHTTPRequestHandler):
    server_version = "crm-standin"
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _answer(self, status, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        w = self.server.hook
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        with w.lock:
            w.posts += 1
            mode = w.mode
        if mode == "hang":
            end = time.time() + 60
            while time.time() < end and w.mode == "hang" and not w.stopping:
                time.sleep(0.05)
            self.close_connection = True
            return
        if not verify(w.secret, self.headers.get("X-Relayd-Signature", ""), body):
            with w.lock:
                w.bad_signatures += 1
            return self._answer(401)
        try:
            batch = json.loads(body)
            assert isinstance(batch, list) and all(isinstance(e, dict) for e in batch)
        except (ValueError, AssertionError):
            with w.lock:
                w.bad_bodies += 1
            return self._answer(400)
        if w.delay:
            time.sleep(w.delay)       # a slow receiver: kills land mid-POST
        with w.lock:
            w.batches.append(batch)
            if mode == "500":
                w.refused += 1
                status = 500
            elif mode == "redirect":
                w.refused += 1
                status = 307
            else:
                w.taken.extend(batch)
                status = 200
        if status == 307:
            return self._answer(307, [("Location", "/elsewhere")])
        return self._answer(status)


class WebhookServer:
    def __init__(self, secret, cert=None, key=None, port=0):
        self.secret = secret
        self.cert, self.key = cert, key
        self.port = port
        self.mode = "ok"
        self.delay = 0.0          # seconds before answering a well-signed POST
        self.lock = threading.Lock()
        self.taken = []           # events answered 2xx, in arrival order
        self.batches = []         # every well-signed batch, whatever the answer
        self.posts = 0
        self.refused = 0
        self.bad_signatures = 0
        self.bad_bodies = 0
        self.stopping = False
        self._httpd = None

    @property
    def url(self):
        return "%s://127.0.0.1:%d/hooks/relayd" % ("https" if self.cert else "http", self.port)

    def start(self):
        self.stopping = False
        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        httpd.daemon_threads = True
        httpd.hook = self
        if self.cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.cert, self.key)
            httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.stopping = True
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def events(self):
        with self.lock:
            return list(self.taken)

    def by_id(self):
        out = {}
        for e in self.events():
            out.setdefault(e["id"], e)
        return out

#!/usr/bin/python3
"""An OAuth 2.0 authorization server, stand-in for login.microsoftonline.com & co.

In-process (pytest):

    o = OAuthServer(cert=certs.good.cert, key=certs.good.key, access_life=3)
    o.start()                      # HTTPS on 127.0.0.1; o.token_url, o.device_url, o.auth_url
    rt = o.issue("shop@example.ru")   # a refresh token, as if the user had signed in
    o.valid(user, access_token)    # what the provider stand-in asks at AUTH
    o.revoke()                     # every refresh token: invalid_grant from now on
    o.expire_access()              # every access token issued so far stops working
    o.stop()

Behaviour:
  - Access tokens live access_life seconds (short, so tests span many expiries).
  - Every refresh rotates the refresh token, as Microsoft does. Like Microsoft, the one
    just used stays valid until the new one is used (a client killed between the answer
    and storing the new token is not locked out); anything older is refused.
  - /devicecode (RFC 8628): interval 1; the grant is approved after device_polls polls.
  - /authorize: code flow with PKCE S256; redirects at once to redirect_uri with the code
    (the "user" signs in instantly). The token endpoint checks the code_verifier.
  - fail_next = n: the next n token requests get 503 (a transient outage).
  - refresh_delay = s: refresh answers wait s seconds after rotating (kill -9 window).
  - valid_file = path: every access token is also appended there ("user token expiry"),
    for a program outside this process (Dovecot's checkpassword script) to check.
  - Counters: refreshes, token_requests, device_polls; refresh_log (times).
"""
import base64
import hashlib
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLIENT_ID = "relayd-test-client"


class _Handler(BaseHTTPRequestHandler):
    server_version = "oauth-standin"

    def log_message(self, *a):        # quiet
        pass

    def _send(self, status, obj=None, headers=()):
        body = json.dumps(obj).encode() if obj is not None else b""
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if obj is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        o = self.server.oauth
        n = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(n).decode()).items()}
        path = urllib.parse.urlparse(self.path).path
        if path == "/devicecode":
            return self._send(*o._device(form))
        if path == "/token":
            status, obj, delay = o._token(form)
            if delay:
                time.sleep(delay)
            return self._send(status, obj)
        self._send(404, {"error": "not_found"})

    def do_GET(self):
        o = self.server.oauth
        u = urllib.parse.urlparse(self.path)
        if u.path != "/authorize":
            return self._send(404, {"error": "not_found"})
        q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
        status, loc = o._authorize(q)
        self._send(status, None if loc else {"error": "invalid_request"},
                   headers=[("Location", loc)] if loc else [])


class OAuthServer:
    def __init__(self, *, cert, key, access_life=5, device_polls=3, user="shop@example.ru",
                 host="127.0.0.1"):
        self.cert, self.key, self.host = cert, key, host
        self.access_life = access_life
        self.device_polls = device_polls
        self.user = user
        self.valid_file = None   # path: each access token appended as "user token expiry"
        self.fail_next = 0
        self.refresh_delay = 0.0
        self.refreshes = 0
        self.token_requests = 0
        self.device_polls_seen = 0
        self.refresh_log = []
        self._lock = threading.Lock()
        self._access = {}        # token -> (user, expiry)
        self._families = {}      # family id -> {"user", "valid": set(), "revoked": bool}
        self._refresh = {}       # refresh token -> family id
        self._devices = {}       # device_code -> polls so far
        self._codes = {}         # code -> (challenge, redirect_uri)
        self._httpd = None
        self.port = None

    # ---- lifecycle ------------------------------------------------------------------

    def start(self):
        httpd = ThreadingHTTPServer((self.host, 0), _Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        httpd.oauth = self
        httpd.daemon_threads = True
        self.port = httpd.server_address[1]
        self._httpd = httpd
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def base(self):
        return "https://localhost:%d" % self.port

    token_url = property(lambda self: self.base + "/token")
    device_url = property(lambda self: self.base + "/devicecode")
    auth_url = property(lambda self: self.base + "/authorize")

    # ---- what tests and the provider stand-in ask -------------------------------------

    def issue(self, user=None):
        """A new refresh token (a new sign-in) for user."""
        with self._lock:
            return self._new_family(user or self.user)

    def mint(self, user=None, life=None):
        """A new access token without any refresh (for token_command tests)."""
        with self._lock:
            return self._new_access(user or self.user, life)

    def valid(self, user, token):
        with self._lock:
            u = self._access.get(token)
            return u is not None and u[0] == user and u[1] > time.time()

    def refresh_valid(self, rt):
        with self._lock:
            f = self._families.get(self._refresh.get(rt))
            return f is not None and not f["revoked"] and rt in f["valid"]

    def revoke(self):
        with self._lock:
            for f in self._families.values():
                f["revoked"] = True

    def expire_access(self):
        with self._lock:
            self._access.clear()

    # ---- internals (under the lock) -----------------------------------------------------

    def _new_family(self, user):
        fid = secrets.token_hex(8)
        rt = "R." + secrets.token_urlsafe(24)
        self._families[fid] = {"user": user, "valid": {rt}, "revoked": False}
        self._refresh[rt] = fid
        return rt

    def _new_access(self, user, life=None):
        at = "A." + secrets.token_urlsafe(24)
        self._access[at] = (user, time.time() + (life or self.access_life))
        if self.valid_file:
            with open(self.valid_file, "a") as f:
                f.write("%s %s %f\n" % (user, at, self._access[at][1]))
        return at

    def _grant(self, user, fid):
        at = self._new_access(user)
        if fid is None:
            rt = self._new_family(user)
        else:
            rt = "R." + secrets.token_urlsafe(24)
            self._refresh[rt] = fid
        return {"access_token": at, "token_type": "Bearer", "expires_in": self.access_life,
                "refresh_token": rt, "scope": "mail"}

    def _token(self, form):
        with self._lock:
            self.token_requests += 1
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, {"error": "temporarily_unavailable"}, 0
            if form.get("client_id") != CLIENT_ID:
                return 401, {"error": "invalid_client"}, 0
            gt = form.get("grant_type")
            if gt == "refresh_token":
                rt = form.get("refresh_token", "")
                fid = self._refresh.get(rt)
                f = self._families.get(fid)
                if f is None or f["revoked"] or rt not in f["valid"]:
                    return 400, {"error": "invalid_grant",
                                 "error_description": "AADSTS70008: the refresh token "
                                 "has expired or was revoked"}, 0
                g = self._grant(f["user"], fid)
                # rt stays valid until the new one is used; anything older goes
                f["valid"] = {rt, g["refresh_token"]}
                self.refreshes += 1
                self.refresh_log.append(time.time())
                return 200, g, self.refresh_delay
            if gt == "urn:ietf:params:oauth:grant-type:device_code":
                dc = form.get("device_code")
                if dc not in self._devices:
                    return 400, {"error": "expired_token"}, 0
                self._devices[dc] += 1
                self.device_polls_seen += 1
                if self._devices[dc] < self.device_polls:
                    return 400, {"error": "authorization_pending"}, 0
                del self._devices[dc]
                return 200, self._grant(self.user, None), 0
            if gt == "authorization_code":
                c = self._codes.pop(form.get("code"), None)
                if c is None or c[1] != form.get("redirect_uri"):
                    return 400, {"error": "invalid_grant"}, 0
                v = form.get("code_verifier", "")
                s256 = base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest())
                if s256.decode().rstrip("=") != c[0]:
                    return 400, {"error": "invalid_grant",
                                 "error_description": "PKCE verification failed"}, 0
                return 200, self._grant(self.user, None), 0
            return 400, {"error": "unsupported_grant_type"}, 0

    def _device(self, form):
        with self._lock:
            if form.get("client_id") != CLIENT_ID:
                return 401, {"error": "invalid_client"}
            dc = secrets.token_urlsafe(16)
            self._devices[dc] = 0
            return 200, {"device_code": dc, "user_code": "ABCD-EFGH",
                         "verification_uri": self.base + "/device", "expires_in": 60,
                         "interval": 1}

    def _authorize(self, q):
        with self._lock:
            ru = q.get("redirect_uri", "")
            if (q.get("client_id") != CLIENT_ID or q.get("response_type") != "code"
                    or q.get("code_challenge_method") != "S256"
                    or not ru.startswith("http://127.0.0.1:")):
                return 400, None
            code = secrets.token_urlsafe(12)
            self._codes[code] = (q.get("code_challenge"), ru)
            return 302, ru + "?" + urllib.parse.urlencode({"code": code,
                                                           "state": q.get("state", "")})

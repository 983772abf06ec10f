#!/usr/bin/env python3
"""A registry front for tests/integration/test_image_pull.c, in front of a real docker-registry.

It forwards GET/HEAD requests to the upstream registry and can, per run:
  --token USER:PASS   demand a bearer token (docker's token protocol): /v2/ requests without
                      one get a 401 challenge naming this server's /token endpoint, which
                      hands out a token for basic credentials USER:PASS and a pull scope
  --corrupt DIGEST    serve that blob with its first byte flipped (digest mismatch)
  --truncate DIGEST   serve that blob cut in half, the connection closed early
  --truncate-once     ... only on the first request for it (a resumed download then works)
  --slow DIGEST       serve that blob in 16 KiB pieces, 0.1 s apart (to kill a pull midway)
Prints "ready" on stdout once listening; each request is logged to --log (one line each:
method, path, Range header, Authorization scheme) so tests can check what the client did.
"""
import argparse
import base64
import http.client
import http.server
import json
import secrets
import sys
import threading
import time
import urllib.parse

args = None
tokens = set()
served = {}
lock = threading.Lock()


def log(line):
    if args.log:
        with lock, open(args.log, "a") as f:
            f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def token(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        auth = self.headers.get("Authorization", "")
        want = "Basic " + base64.b64encode(args.token.encode()).decode()
        scope = q.get("scope", [""])[0]
        if auth != want or not scope.startswith("repository:") or not scope.endswith(":pull"):
            return self.reply(401, b'{"details":"bad credentials or scope"}')
        t = secrets.token_hex(16)
        tokens.add(t)
        self.reply(200, json.dumps({"token": t, "expires_in": 300}).encode(),
                   [("Content-Type", "application/json")])

    def authorised(self):
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and auth[7:] in tokens:
            return True
        realm = "http://127.0.0.1:%d/token" % self.server.server_address[1]
        self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                   [("WWW-Authenticate",
                     'Bearer realm="%s",service="test-registry",scope="repository:x:pull"' % realm),
                    ("Content-Type", "application/json")])
        return False

    def do_GET(self):
        rng = self.headers.get("Range", "-")
        auth = self.headers.get("Authorization", "none").split(" ")[0]
        log("%s %s %s %s" % (self.command, self.path, rng, auth))
        if self.path.startswith("/token"):
            return self.token()
        if args.token and not self.authorised():
            return
        up = http.client.HTTPConnection("127.0.0.1", args.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() in ("accept", "range")}
        up.request(self.command, self.path, headers=headers)
        r = up.getresponse()
        body = r.read()
        hdrs = [(k, v) for k, v in r.getheaders()
                if k.lower() not in ("content-length", "connection", "transfer-encoding")]
        digest = self.path.rsplit("/", 1)[-1]
        if "/blobs/" in self.path and digest == args.corrupt and body:
            body = bytes([body[0] ^ 0xff]) + body[1:]
        if "/blobs/" in self.path and digest == args.truncate and self.command == "GET":
            with lock:
                n = served[digest] = served.get(digest, 0) + 1
            if n == 1 or not args.truncate_once:
                self.send_response(r.status)
                for k, v in hdrs:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
        if "/blobs/" in self.path and digest == args.slow and self.command == "GET":
            self.send_response(r.status)
            for k, v in hdrs:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for off in range(0, len(body), 16384):
                self.wfile.write(body[off:off + 16384])
                self.wfile.flush()
                time.sleep(0.1)
            return
        self.reply(r.status, body, hdrs)

    do_HEAD = do_GET


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", type=int, required=True)
    p.add_argument("--token")
    p.add_argument("--corrupt")
    p.add_argument("--truncate")
    p.add_argument("--truncate-once", action="store_true")
    p.add_argument("--slow")
    p.add_argument("--log")
    args = p.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.handle_error = lambda *a: None  # a client hanging up midway is what some tests do
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

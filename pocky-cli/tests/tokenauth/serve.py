"""A docker-registry with token authentication, for tests/image_push.rs:
the registry (Debian's docker-registry, `auth: token`) and the token
server it sends clients to, which signs RS256 JWTs with a key made here
by openssl. One user, tester/s3cret, who may pull and push anything.

usage: serve.py WORKDIR REGISTRY_PORT TOKEN_PORT
Prints "ready" when both answer, then serves until killed (its registry
child goes with it: PR_SET_PDEATHSIG through setpriv)."""

import base64
import datetime
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

work, reg_port, tok_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
SERVICE, ISSUER = "pocky-test-registry", "pocky-test-issuer"
USER, PASSWORD = "tester", "s3cret"
key, cert = f"{work}/key.pem", f"{work}/cert.pem"
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                "-out", cert, "-days", "2", "-subj", "/CN=pocky-test-token"],
               check=True, capture_output=True)
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                     check=True, capture_output=True).stdout


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(scopes):
    access = []
    for s in scopes:
        parts = s.split(":")
        if len(parts) == 3 and parts[0] == "repository":
            access.append({"type": "repository", "name": parts[1],
                           "actions": [a for a in parts[2].split(",") if a in ("pull", "push")]})
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
    claims = {"iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
              "iat": now, "jti": os.urandom(8).hex(), "access": access}
    signing = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                         check=True, capture_output=True).stdout
    return f"{signing}.{b64(sig)}"


class Tokens(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        auth = self.headers.get("Authorization", "")
        want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if auth != want:
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"details": "incorrect username or password"}')
            return
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        t = token(q.get("scope", []))
        body = json.dumps({"token": t, "access_token": t, "expires_in": 300,
                           "issued_at": datetime.datetime.now(datetime.timezone.utc).isoformat()})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())


server = http.server.ThreadingHTTPServer(("127.0.0.1", tok_port), Tokens)
threading.Thread(target=server.serve_forever, daemon=True).start()

with open(f"{work}/registry.yml", "w") as f:
    f.write(f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {work}/storage
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{reg_port}
  secret: pocky-token-test-not-a-secret
auth:
  token:
    realm: http://127.0.0.1:{tok_port}/token
    service: {SERVICE}
    issuer: {ISSUER}
    rootcertbundle: {cert}
""")
log = open(f"{work}/registry.log", "w")
reg = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "/usr/bin/docker-registry", "serve",
                        f"{work}/registry.yml"], stdout=log, stderr=log)
for _ in range(200):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{reg_port}/v2/")
    except urllib.error.HTTPError as e:
        if e.code == 401:
            break
    except OSError:
        pass
    if reg.poll() is not None:
        sys.exit("docker-registry exited: " + open(f"{work}/registry.log").read())
    time.sleep(0.05)
else:
    sys.exit("docker-registry did not answer")
print("ready", flush=True)
reg.wait()

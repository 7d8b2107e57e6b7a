"""Raw requests against pocky's API service: malformed and oversized
input, clients that vanish mid-stream, and fifty at once. Run by
tests/api.rs with DOCKER_HOST and REG set; prints "hostile: ok"."""

import json
import os
import socket
import sys
import threading
import time

SOCK = os.environ["DOCKER_HOST"].removeprefix("unix://")
IMAGE = f"{os.environ['REG']}/busybox"


def check(cond, what):
    if not cond:
        sys.exit(f"FAILED: {what}")


def connect():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(SOCK)
    return s


def exchange(raw):
    """Sends raw bytes, returns (status, headers, body) of the answer. The
    service may answer (413) and close before it has read everything."""
    s = connect()
    try:
        s.sendall(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
        if b"\r\n\r\n" in data:
            head, _, body = data.partition(b"\r\n\r\n")
            length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")]
            if length and len(body) >= length[0]:
                break
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, head.decode(errors="replace"), body


def request(method, path, body=None, extra=b""):
    data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    raw = (f"{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n"
           f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n").encode()
    return exchange(raw + extra + b"\r\n" + data)


def message(body):
    return json.loads(body)["message"]


# Malformed requests get an answer and a message, never a dropped connection.
status, _, _ = exchange(b"\x16\x03\x01 this is not http\r\n\r\n")
check(status == 400, f"garbage: {status}")
status, _, body = request("POST", "/containers/create", b"{not json")
check(status == 400 and "JSON" in message(body), body)
status, _, body = request("POST", "/containers/create", {"Image": IMAGE, "Env": "A=1"})
check(status == 400, body)
status, _, body = request("POST", "/containers/create", {"Image": IMAGE, "HostConfig": {"Memory": "lots"}})
check(status == 400, body)
status, _, body = request("POST", "/containers/create", [1, 2, 3])
check(status == 400, body)
status, _, body = request("POST", "/containers/create", {"Image": "no-such-image:1"})
check(status == 404 and "No such image" in message(body), body)
status, _, body = request("GET", "/v1.99/containers/json")
check(status == 400 and "too new" in message(body), body)
status, _, body = request("GET", "/containers/no-such/json")
check(status == 404, body)
status, _, body = request("GET", "/exec/..%2F..%2Fetc%2Fpasswd/json")
check(status == 404, body)
status, _, body = request("GET", "/no/such/endpoint")
check(status == 404, body)
status, _, body = request("GET", "/containers/json?all=maybe")
check(status == 400, body)
status, _, body = request("GET", "/containers/json?filters=%7Bbroken")
check(status == 400, body)
status, _, body = request("POST", f"/images/create?fromImage={IMAGE}&tag=latest",
                          extra=b"X-Registry-Auth: %%%not-base64\r\n")
check(status == 400 and "X-Registry-Auth" in message(body), body)
status, _, body = request("POST", "/images/create?fromSrc=http://127.0.0.1:1/x.tar&repo=x")
check(status == 400 and "fromSrc" in message(body), body)
status, _, body = request("POST", "/commit?container=no-such&repo=x")
check(status == 404, body)
status, _, body = request("POST", "/commit?container=no-such&repo=x&changes=RUN%20true")
check(status in (400, 404), body)
status, _, body = request("GET", "/containers/no-such/export")
check(status == 404, body)
status, _, body = request("POST", "/images/create?fromSrc=-&repo=Bad%20Name", b"not a tar")
check(status == 400, body)

# Bounded sizes: a huge head, a huge JSON body.
status, _, _ = request("GET", "/_ping", extra=b"X-Big: " + b"a" * 100_000 + b"\r\n")
check(status == 400, f"big head: {status}")
status, head, _ = request("POST", "/containers/create", b'{"Image": "' + b"a" * (5 << 20) + b'"}')
check(status == 413 and "Connection: close" in head, f"big body: {status} {head}")

# Keep-alive: two requests on one connection.
s = connect()
s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\nGET /version HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
s.close()
check(data.count(b"HTTP/1.1 200") == 2 and b"ApiVersion" in data, data[:200])

# A whole body that is not JSON leaves the connection usable.
s = connect()
s.sendall(b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 9\r\n\r\n{not json"
          b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
s.close()
check(data.count(b"HTTP/1.1 400") == 1 and data.count(b"HTTP/1.1 200") == 1, data[:300])

# A body shorter than its Content-Length, then the client goes: no hang.
s = connect()
s.sendall(b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 1000\r\n\r\n{\"Ima")
s.close()

# Fifty clients at once.
results = []


def client(i):
    path = "/_ping" if i % 2 else "/containers/json?all=1"
    results.append(request("GET", path)[0])


threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
for t in threads:
    t.start()
for t in threads:
    t.join()
check(results.count(200) == 50, f"concurrent: {results}")

# Clients that disconnect mid-stream: logs -f, events, attach, stats.
status, _, body = request("POST", "/containers/create?name=chatty", {
    "Image": IMAGE, "Cmd": ["sh", "-c", "while true; do echo tick; sleep 0.1; done"]})
check(status == 201, body)
status, _, body = request("POST", "/containers/chatty/start")
check(status == 204, body)
for path, method in [("/containers/chatty/logs?follow=1&stdout=1", "GET"),
                     ("/events", "GET"),
                     ("/containers/chatty/stats", "GET"),
                     ("/containers/chatty/attach?stream=1&stdout=1", "POST"),
                     ("/containers/chatty/wait", "POST")]:
    s = connect()
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: d\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n".encode())
    got = s.recv(1024)
    check(got.startswith(b"HTTP/1.1 "), f"{path}: {got[:80]}")
    s.close()

# Detach keys: the attach (and a terminal exec) ends on them, the
# container and the exec run on, and a second attach types on.
def hijacked(method, path, body=None):
    s = connect()
    data = b"" if body is None else json.dumps(body).encode()
    s.sendall((f"{method} {path} HTTP/1.1\r\nHost: d\r\nUpgrade: tcp\r\n"
               f"Connection: Upgrade\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(data)}\r\n\r\n").encode() + data)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        check(chunk, f"{path}: no answer")
        head += chunk
    check(head.startswith(b"HTTP/1.1 101"), f"{path}: {head[:80]}")
    return s


def read_until(s, want):
    data = b""
    while want not in data:
        chunk = s.recv(4096)
        check(chunk, f"ended before {want!r}: {data[-200:]!r}")
        data += chunk


def ends(s):
    while True:
        try:
            if not s.recv(4096):
                return True
        except TimeoutError:
            return False


def running(name):
    status, _, body = request("GET", f"/containers/{name}/json")
    return status == 200 and json.loads(body)["State"]["Running"]


status, _, body = request("POST", "/containers/create?name=term", {
    "Image": IMAGE, "Cmd": ["sh"], "Tty": True, "OpenStdin": True,
    "StdinOnce": True, "AttachStdin": True})
check(status == 201, body)
status, _, body = request("POST", "/containers/term/start")
check(status == 204, body)
s = hijacked("POST", "/containers/term/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-x")
s.sendall(b"echo one-$((1+1))\n")
read_until(s, b"one-2")
s.sendall(b"\x18")
check(ends(s), "ctrl-x ends the attach")
check(running("term"), "the container runs on after a detach")
s = hijacked("POST", "/containers/term/attach?stream=1&stdin=1&stdout=1")
s.sendall(b"echo two-$((1+1))\n")
read_until(s, b"two-2")
s.sendall(b"\x10\x11")
check(ends(s), "ctrl-p,ctrl-q ends the attach")
check(running("term"), "the container runs on after the default keys")
status, _, body = request("POST", "/containers/term/attach?stream=1&stdin=1&detachKeys=meta-x")
check(status == 400, f"bad detach keys: {status} {body}")
status, _, body = request("POST", "/containers/term/exec", {
    "Cmd": ["sh"], "Tty": True, "AttachStdin": True, "AttachStdout": True,
    "DetachKeys": "ctrl-a"})
check(status == 201, body)
exec_id = json.loads(body)["Id"]
s = hijacked("POST", f"/exec/{exec_id}/start", {"Detach": False, "Tty": True})
s.sendall(b"echo three-$((1+2))\n")
read_until(s, b"three-3")
s.sendall(b"\x01")
check(ends(s), "ctrl-a ends the exec's attach")
status, _, body = request("GET", f"/exec/{exec_id}/json")
check(status == 200 and json.loads(body)["Running"], f"the exec runs on: {body}")
status, _, body = request("POST", "/containers/term/exec", {"Cmd": ["true"], "DetachKeys": "meta-x"})
check(status == 400, f"bad exec detach keys: {status} {body}")
status, _, body = request("DELETE", "/containers/term?force=1")
check(status == 204, body)

status, _, body = request("DELETE", "/containers/chatty?force=1")
check(status == 204, body)
status, _, body = request("DELETE", "/containers/chatty")
check(status == 404, body)
print("hostile: ok")

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
status, _, body = request("DELETE", "/containers/chatty?force=1")
check(status == 204, body)
status, _, body = request("DELETE", "/containers/chatty")
check(status == 404, body)
print("hostile: ok")

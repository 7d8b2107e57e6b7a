"""The Docker SDK for Python (Debian's python3-docker) against pocky's API
service: run by tests/api.rs with DOCKER_HOST and REG (the sandbox
registry) set. Prints "sdk: ok" when every check passed."""

import io
import os
import sys
import tarfile
import time

import docker
import requests

REG = os.environ["REG"]
IMAGE = f"{REG}/busybox"
c = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version="auto")
api = c.api


def check(cond, what):
    if not cond:
        sys.exit(f"FAILED: {what}")


def expect(exc, fn, what):
    try:
        fn()
    except exc as e:
        return e
    sys.exit(f"FAILED: {what}: no {exc.__name__}")


start = int(time.time()) - 1
check(c.ping(), "ping")
version = c.version()
check(version["ApiVersion"] == "1.43", version)
check(c.info()["Images"] >= 1, "info counts the image")

# Pulls, with Docker's progress messages, and a missing image.
progress = list(api.pull(IMAGE, tag="latest", stream=True, decode=True))
check(any(m.get("status", "").startswith("Digest: sha256:") for m in progress), progress)
expect(docker.errors.APIError, lambda: c.images.pull(f"{REG}/no-such-image", tag="latest"),
       "pulling a missing image")
check(any(f"{IMAGE}:latest" in i.tags for i in c.images.list()), "images list")
check(c.images.get(IMAGE).id.startswith("sha256:"), "image inspect")
expect(docker.errors.ImageNotFound, lambda: c.images.get("no-such-image:1"), "missing image")
check(c.images.get(IMAGE).tag("sdk/renamed", "v1"), "image tag")
check("sdk/renamed:v1" in c.images.get("sdk/renamed:v1").tags, "the new tag")
check(len(c.images.get(IMAGE).history()) >= 1, "image history")
c.images.remove("sdk/renamed:v1")

# Foreground runs: output and exit codes.
check(c.containers.run(IMAGE, ["echo", "hello"], remove=True) == b"hello\n", "run output")
err = expect(docker.errors.ContainerError,
             lambda: c.containers.run(IMAGE, ["sh", "-c", "exit 3"], remove=True),
             "a failing command")
check(err.exit_status == 3, err)

# A detached container with env, labels and a published port.
ctr = c.containers.run(
    IMAGE, ["sh", "-c", "echo $FOO; echo oops >&2; exec httpd -f -p 80 -h /etc"],
    detach=True, name="sdk1", environment={"FOO": "bar"}, labels={"k": "v"},
    ports={"80/tcp": 18090})
for _ in range(100):
    if ctr.logs(stdout=True, stderr=False) == b"bar\n":
        break
    time.sleep(0.1)
check(ctr.logs(stdout=True, stderr=False) == b"bar\n", ctr.logs())
check(ctr.logs(stdout=False, stderr=True) == b"oops\n", "stderr apart")
ctr.reload()
check(ctr.status == "running", ctr.status)
check(ctr.labels == {"k": "v"}, ctr.labels)
check(ctr.ports["80/tcp"][0]["HostPort"] == "18090", ctr.ports)
check([x.name for x in c.containers.list(filters={"label": "k=v"})] == ["sdk1"], "filters")
check(c.containers.list(filters={"label": ["k=v", "k=w"]}) == [], "labels all match")
check(requests.get("http://127.0.0.1:18090/hostname").text.strip() == ctr.id[:12],
      "the published port")

# exec: exit codes, separate streams, a working directory.
r = ctr.exec_run(["sh", "-c", "echo out; echo err >&2; exit 7"], demux=True)
check(r.exit_code == 7 and r.output == (b"out\n", b"err\n"), r)
r = ctr.exec_run("pwd", workdir="/tmp")
check(r.output == b"/tmp\n", r)
r = ctr.exec_run("no-such-command")
check(r.exit_code in (126, 127), r)

# Archives in and out.
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    data = b"through the archive\n"
    info = tarfile.TarInfo("f.txt")
    info.size = len(data)
    info.mode = 0o640
    t.addfile(info, io.BytesIO(data))
check(ctr.put_archive("/tmp", buf.getvalue()), "put_archive")
bits, stat = ctr.get_archive("/tmp/f.txt")
check(stat["name"] == "f.txt" and stat["size"] == len(data), stat)
with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as t:
    member = t.getmember("f.txt")
    check(t.extractfile(member).read() == data and member.mode & 0o777 == 0o640, member)
expect(docker.errors.NotFound, lambda: ctr.get_archive("/no/such/path"), "archive of nothing")

# Images of a container: commit, export, import.
img = ctr.commit(repository="sdk/committed", tag="1", message="via sdk", author="sdk",
                 changes=["LABEL via=sdk", 'CMD ["cat", "/tmp/f.txt"]'])
check(img.labels.get("via") == "sdk", img.labels)
check(c.containers.run("sdk/committed:1", remove=True) == data, "the committed image runs")
exported = b"".join(ctr.export())
with tarfile.open(fileobj=io.BytesIO(exported)) as t:
    check("tmp/f.txt" in [n.lstrip("./") for n in t.getnames()], "export holds the file")
out = api.import_image_from_data(exported, repository="sdk/imported", tag="1",
                                 changes=['CMD ["/bin/cat", "/tmp/f.txt"]'])
check("sha256:" in str(out), out)
check(c.containers.run("sdk/imported:1", remove=True) == data, "the imported image runs")
expect(docker.errors.APIError, lambda: api.import_image_from_data(b"not a tar", repository="x"),
       "a broken import")
c.images.get("sdk/committed:1").tag(f"{REG}/sdk/pushed", "1")
pushed = c.images.push(f"{REG}/sdk/pushed", tag="1", auth_config={"username": "u", "password": "p"})
check("digest: sha256:" in pushed and "error" not in pushed, pushed)
c.images.remove(f"{REG}/sdk/pushed:1")
check(c.images.pull(f"{REG}/sdk/pushed", tag="1").id == img.id, "pushed and pulled back")
check(c.login(username="u", password="p", registry=REG)["Status"] == "Login Succeeded", "login")
c.images.remove(f"{REG}/sdk/pushed:1")
saved = b"".join(c.images.get("sdk/committed:1").save(named=True))
c.images.remove("sdk/committed:1")
loaded = c.images.load(saved)
check([i.id for i in loaded] == [img.id], loaded)
check("sdk/committed:1" in c.images.get(img.id).tags, "loaded with its name")
expect(docker.errors.APIError, lambda: c.images.load(saved[: len(saved) // 2]), "a cut archive")
expect(docker.errors.NotFound, lambda: b"".join(api.get_image("no-such-image:1")), "save of nothing")
c.images.remove("sdk/committed:1")
c.images.remove("sdk/imported:1")

top = ctr.top()
check(any("httpd" in " ".join(p) for p in top["Processes"]), top)
stats = ctr.stats(stream=False)
check(stats["memory_stats"]["usage"] > 0, stats)
ctr.pause()
ctr.reload()
check(ctr.status == "paused", ctr.status)
ctr.unpause()
ctr.rename("sdk2")
ctr.reload()
check(ctr.name == "sdk2", ctr.name)
ctr.restart(timeout=1)
ctr.reload()
check(ctr.status == "running", ctr.status)
ctr.kill()
waited = ctr.wait()
check(waited["StatusCode"] == 137, f"killed: {waited}")

# Docker's errors: 404, 409, 400.
expect(docker.errors.NotFound, lambda: c.containers.get("no-such-container"), "404")
e = expect(docker.errors.APIError, lambda: c.containers.create(IMAGE, name="sdk2"), "name in use")
check(e.status_code == 409, e)
bad = api._post(api._url("/containers/create"), data="{not json",
                headers={"Content-Type": "application/json"})
check(bad.status_code == 400 and "message" in bad.json(), bad.text)
e = expect(docker.errors.APIError, lambda: c.containers.create(IMAGE, runtime="kata"),
           "refused by name")
check(e.status_code == 400 and "Runtime" in str(e), e)
e = expect(docker.errors.APIError, lambda: c.containers.create(IMAGE, device_requests=[
    docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]), "gpus refused")
check(e.status_code == 400 and "--gpus" in str(e), e)
# Issue 16's host fields, seen from inside.
out = c.containers.run(IMAGE, ["sh", "-c", "ulimit -n; cat /proc/1/comm; id -G"],
                       ulimits=[docker.types.Ulimit(name="nofile", soft=256, hard=512)],
                       init=True, group_add=["123"], remove=True)
check(out.split()[:2] == [b"256", b"pocky-init"] and b"123" in out.split()[2:], out)

# Volumes and networks, used by containers.
vol = c.volumes.create("sdkvol", labels={"a": "b"})
check(c.volumes.get("sdkvol").attrs["Labels"] == {"a": "b"}, "volume labels")
net = c.networks.create("sdknet", labels={"x": "y"})
check(c.networks.get("sdknet").attrs["Labels"] == {"x": "y"}, "network labels")
check([n.name for n in c.networks.list(filters={"label": "x=y"})] == ["sdknet"], "net filter")
two = c.containers.run(IMAGE, ["sleep", "100"], detach=True, name="twonets")
net.connect(two, aliases=["second"])
two.reload()
nets = two.attrs["NetworkSettings"]["Networks"]
check(set(nets) == {"bridge", "sdknet"} and "second" in nets["sdknet"]["Aliases"], nets)
check(two.exec_run("ip -o -4 addr show eth1").exit_code == 0, "eth1 after connect")
check(c.containers.run(IMAGE, ["ping", "-c1", "-W2", "second"], network="sdknet",
                       remove=True).count(b"1 packets received") == 1, "reached by alias")
net.disconnect(two)
check(two.exec_run("ip link show eth1").exit_code != 0, "eth1 gone after disconnect")
e = expect(docker.errors.APIError, lambda: net.disconnect(two), "disconnect twice")
check(e.status_code == 400, e)
two.remove(force=True)
nc = api.create_networking_config({"sdknet": api.create_endpoint_config(aliases=["both"]),
                                   "bridge": api.create_endpoint_config()})
both = api.create_container(IMAGE, ["sleep", "100"], networking_config=nc,
                            host_config=api.create_host_config(network_mode="sdknet"))["Id"]
api.start(both)
nets = api.inspect_container(both)["NetworkSettings"]["Networks"]
check(set(nets) == {"bridge", "sdknet"} and "both" in nets["sdknet"]["Aliases"], nets)
check(api.exec_start(api.exec_create(both, ["ip", "route"])["Id"]).count(b"default via") == 1,
      "one default route, through the first network")
api.remove_container(both, force=True)
mounts = {"sdkvol": {"bind": "/d", "mode": "rw"}}
c.containers.run(IMAGE, ["sh", "-c", "echo kept > /d/f"], volumes=mounts,
                 network="sdknet", remove=True)
check(c.containers.run(IMAGE, ["cat", "/d/f"], volumes=mounts, remove=True) == b"kept\n",
      "a volume keeps its data")

# Issue 16's network and volume options: a tmpfs volume, a dual-stack
# network with a gateway, a range and an MTU, a container with a MAC
# address, a fixed IPv6 address and DNS settings; each seen inside.
tmp_opts = {"type": "tmpfs", "device": "tmpfs", "o": "size=8m"}
scratch = c.volumes.create("sdktmp", driver_opts=tmp_opts)
check(scratch.attrs["Options"] == tmp_opts, scratch.attrs)
ipam = docker.types.IPAMConfig(pool_configs=[
    docker.types.IPAMPool(subnet="10.96.0.0/24", gateway="10.96.0.254",
                          iprange="10.96.0.128/28"),
    docker.types.IPAMPool(subnet="fd00:96::/64")])
dual = c.networks.create("sdkopts", ipam=ipam, enable_ipv6=True,
                         options={"com.docker.network.driver.mtu": "1400"})
check(dual.attrs["EnableIPv6"], dual.attrs)
check(dual.attrs["Options"]["com.docker.network.driver.mtu"] == "1400", dual.attrs)
script = ("grep ' /t ' /proc/mounts; cat /sys/class/net/eth0/mtu /sys/class/net/eth0/address; "
          "ip -6 -o addr show eth0 scope global; ip -4 -o addr show eth0; "
          "grep -E '^(search|options)' /etc/resolv.conf")
cid = api.create_container(
    IMAGE, ["sh", "-c", script], mac_address="02:42:ac:11:00:42",
    host_config=api.create_host_config(
        binds={"sdktmp": {"bind": "/t", "mode": "rw"}}, network_mode="sdkopts",
        dns_search=["sdk.example"], dns_opt=["ndots:4"]),
    networking_config=api.create_networking_config(
        {"sdkopts": api.create_endpoint_config(ipv6_address="fd00:96::42")}))["Id"]
api.start(cid)
api.wait(cid)
out = api.logs(cid).decode()
api.remove_container(cid)
for want in ["tmpfs /t tmpfs", "size=8192k", "1400\n", "02:42:ac:11:00:42", "fd00:96::42/64",
             "10.96.0.128/24", "search sdk.example", "options ndots:4"]:
    check(want in out, f"{want!r} in {out}")
e = expect(docker.errors.APIError, lambda: c.volumes.create(
    "sdknfs", driver_opts={"type": "nfs", "o": "addr=192.0.2.9", "device": ":/x"}), "nfs")
check(e.status_code == 400 and "nfs" in str(e), e)
e = expect(docker.errors.APIError, lambda: c.networks.create(
    "sdkbad", options={"com.docker.network.bridge.host_binding_ipv4": "127.0.0.1"}), "option")
check(e.status_code == 400 and "host_binding_ipv4" in str(e), e)
dual.remove()
scratch.remove()

dies = api.events(since=start, until=int(time.time()) + 1, decode=True,
                  filters={"type": "container", "event": "die"})
check(len(list(dies)) >= 3, "die events")

# Build from a tar context the SDK sends as is, then a failing one.
def context(dockerfile, files=()):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, body in [("Dockerfile", dockerfile), *files]:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            t.addfile(info, io.BytesIO(body))
    buf.seek(0)
    return buf
df = f"FROM {IMAGE}\nARG WORD\nCOPY f /f\nRUN echo $WORD >> /f\nCMD cat /f\n".encode()
img, logs = c.images.build(fileobj=context(df, [("f", b"built\n")]), custom_context=True,
                           tag="sdk/built:1", buildargs={"WORD": "sdk"}, rm=True)
check(any("Successfully built" in l.get("stream", "") for l in logs), "build log")
check("sdk/built:1" in img.tags, "the built image is tagged")
check(c.containers.run("sdk/built:1", remove=True) == b"built\nsdk\n", "built image runs")
bad = f"FROM {IMAGE}\nRUN exit 7\n".encode()
err = expect(docker.errors.BuildError,
             lambda: c.images.build(fileobj=context(bad), custom_context=True), "failing build")
check("non-zero code: 7" in str(err), err)
c.images.remove("sdk/built:1")

ctr.remove(force=True)
vol.remove()
net.remove()
c.containers.prune()
check(c.containers.list(all=True) == [], "no container left")
print("sdk: ok")

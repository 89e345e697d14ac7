"""test_master.py - master, the supervisor, driving tests/svc/testsvc.c.

Each test writes its own small config (service-NAME lines pointing at the
testsvc binary by absolute path), starts master on free ports in a temporary
directory, and talks to the services over TCP and unix sockets.  The fixture
kills master's whole process group at the end whatever happened, and fails
the test on any sanitizer report.
"""
import os
import resource
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import roost

MASTER = (roost.bin_dir() / "master").resolve()
TESTSVC = (roost.build_dir() / "tests" / "testsvc").resolve()


def _no_core():
    # CRASH makes children abort(): no core files from the tests.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Master:
    """One master with a config of its own in dir."""

    def __init__(self, dir):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "imapd.conf"
        self.pidfile = self.dir / "master.pid"
        self.log_path = self.dir / "master.log"
        self.reports = self.dir / "sanitizer"
        self.env = roost.sanitizer_env(self.reports)
        self.env.pop("ROOST_CONFIG", None)
        self.user = "root" if os.geteuid() == 0 else None
        self.proc = None
        self.log_file = None

    def write_config(self, services, extra=""):
        """services: {"service-a": 'cmd="..." listen="..."', ...}"""
        lines = [f"configdirectory: {self.dir}/config",
                 f"master_pidfile: {self.pidfile}"]
        if self.user:
            lines.append(f"cyrus_user: {self.user}")
        lines += [f"{k}: {v}" for k, v in services.items()]
        if extra:
            lines.append(extra)
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.chmod(tmp, 0o644)
        tmp.rename(self.config)

    def start(self, wait_ready=True, timeout=10.0):
        if self.log_file is not None:
            self.log_file.close()
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(MASTER), "-C", str(self.config)], env=self.env,
                                     stdout=self.log_file, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_no_core)
        if wait_ready:
            roost.wait_for(lambda: "master ready" in self.log() or self.proc.poll() is not None,
                           timeout, what="master ready")
            assert self.proc.poll() is None, f"master exited:\n{self.log()}"
        return self

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, text, count=1, timeout=10.0):
        roost.wait_for(lambda: self.log().count(text) >= count, timeout,
                       what=f"{text!r} in the log:\n{self.log()}")

    def children(self, service=None):
        """pids of master's children (of one service when named)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid != self.proc.pid:
                    continue
                if stat.rsplit(")", 1)[1].split()[0] == "Z":
                    continue
                if service is not None:
                    env = (entry / "environ").read_bytes().split(b"\0")
                    if f"ROOST_SERVICE={service}".encode() not in env:
                        continue
            except (OSError, IndexError, ValueError):
                continue
            pids.append(int(entry.name))
        return sorted(pids)

    def wait_children(self, service, count, timeout=10.0):
        roost.wait_for(lambda: len(self.children(service)) == count, timeout,
                       what=f"{count} children of {service} (have {self.children(service)})")

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, timeout=10.0):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout)
        return self.proc.returncode

    def cleanup(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.proc.send_signal(signal.SIGTERM)
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.log_file is not None:
            self.log_file.close()


@pytest.fixture
def make_master(tmp_path):
    made = []

    def factory(dir=None):
        m = Master(dir if dir is not None else tmp_path / f"m{len(made)}")
        made.append(m)
        return m

    yield factory
    for m in made:
        m.cleanup()
    reports = [r for m in made for r in roost.sanitizer_reports(m.reports)]
    if reports:
        pytest.fail("sanitizer reports:\n" + "\n".join(reports))


class Client:
    """A connection to testsvc: TCP port or unix socket path."""

    def __init__(self, where, timeout=10.0):
        if isinstance(where, int):
            self.sock = socket.create_connection(("127.0.0.1", where), timeout=timeout)
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(str(where))
        self.f = self.sock.makefile("rb")

    def line(self):
        return self.f.readline().decode().rstrip("\r\n")

    def greeting(self):
        g = self.line()
        assert g.startswith("* OK testsvc ready "), g
        return int(g.split()[-1])

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.line()

    def close(self):
        self.f.close()
        self.sock.close()


def svc(port_or_path, prefork=None, maxchild=None, extra_cmd=""):
    value = f'cmd="{TESTSVC}{extra_cmd}" listen="{port_or_path}"'
    if prefork is not None:
        value += f" prefork={prefork}"
    if maxchild is not None:
        value += f" maxchild={maxchild}"
    return value


def tcp(port):
    return f"127.0.0.1:{port}"


def key_line(m, key):
    """The line number of key in m's config file."""
    lines = m.config.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(key + ":"))


def refused(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def test_two_services_prefork_and_on_demand(make_master):
    m = make_master()
    pa, pb = roost.free_port(), roost.free_port()
    sock = m.dir / "a.sock"
    m.write_config({
        "service-a": svc(f"{tcp(pa)} {sock}", prefork=2),
        "service-b": svc(tcp(pb)),
    })
    m.start()
    assert "master ready: 2 services" in m.log()
    m.wait_children("a", 4)                 # prefork=2 on each of two addresses
    assert m.children("b") == []            # prefork=0: on demand

    for where in (pa, sock, pb):
        c = Client(where)
        pid = c.greeting()
        assert c.cmd("ECHO hello world") == "hello world"
        assert c.cmd("PID") == str(pid)
        assert c.cmd("NOPE") == "BAD unknown command"
        assert c.cmd("QUIT") == "* BYE"
        c.close()
    assert len(m.children("b")) == 1        # started for the connection, stays
    assert m.stop() == 0


def test_kill9_child_others_unaffected(make_master):
    m = make_master()
    port = roost.free_port()
    m.write_config({"service-a": svc(tcp(port), prefork=1)})
    m.start()
    c1, c2 = Client(port), Client(port)
    pid1, pid2 = c1.greeting(), c2.greeting()
    assert pid1 != pid2
    os.kill(pid1, signal.SIGKILL)
    assert c1.f.readline() == b""           # that connection is gone
    assert c2.cmd("ECHO still here") == "still here"
    m.wait_log(f"child {pid1} killed by signal 9")
    c3 = Client(port)
    pid3 = c3.greeting()
    assert pid3 not in (pid1, pid2)
    assert c3.cmd("ECHO new") == "new"
    assert c2.cmd("ECHO again") == "again"
    for c in (c1, c2, c3):
        c.close()
    assert m.proc.poll() is None


def test_maxfor_replaces_children(make_master):
    m = make_master()
    port = roost.free_port()
    m.write_config({"service-a": svc(tcp(port), prefork=1) + " maxfor=2"})
    m.start()
    pids = []
    for _ in range(5):
        c = Client(port)
        pids.append(c.greeting())
        assert c.cmd("QUIT") == "* BYE"
        assert c.f.readline() == b""        # wait for the child to be done
        c.close()
    # -U 2: no child serves more than two connections.
    assert max(pids.count(p) for p in pids) <= 2 and len(set(pids)) >= 3
    assert "exited with status" not in m.log()
    assert m.stop() == 0


def test_crash_loop_backs_off_then_serves(make_master):
    m = make_master()
    port = roost.free_port()
    m.write_config({"service-a": svc(tcp(port))})
    m.start()
    for i in range(1, 6):
        c = Client(port)
        c.greeting()
        c.sock.sendall(b"CRASH\r\n")
        assert c.f.readline() == b""
        c.close()
        m.wait_log("killed by signal 6", count=i)
    m.wait_log("backing off")
    assert m.proc.poll() is None
    # The next connection waits out the backoff, then is served.
    c = Client(port)
    c.greeting()
    assert c.cmd("ECHO alive") == "alive"
    c.close()
    assert m.proc.poll() is None


def test_daemon_restarted_and_failing_daemon_backs_off(make_master):
    m = make_master()
    script = m.dir / "sleeper.sh"
    script.write_text("#!/bin/sh\nexec sleep 1000\n")
    script.chmod(0o755)
    m.write_config({
        "daemon-sleeper": f'cmd="{script}"',
        "daemon-broken": 'cmd="/bin/false"',
    })
    m.start()
    m.wait_children("sleeper", 1)
    first = m.children("sleeper")[0]
    os.kill(first, signal.SIGKILL)
    roost.wait_for(lambda: m.children("sleeper") not in ([], [first]), 10,
                   what="daemon restarted")
    m.wait_log("daemon broken", count=5)
    m.wait_log("backing off")
    # No fork loop: at most one more burst within half a second.
    n = m.log().count("daemon broken: child")
    time.sleep(0.5)
    assert m.log().count("daemon broken: child") <= n + 5
    assert m.proc.poll() is None


def test_maxchild_holds_connections_back(make_master):
    m = make_master()
    port = roost.free_port()
    m.write_config({"service-a": svc(tcp(port), maxchild=2)})
    m.start()
    c1, c2 = Client(port), Client(port)
    c1.greeting()
    c2.greeting()
    c3 = Client(port)                       # accepted by the kernel, not served
    c3.sock.settimeout(0.5)
    with pytest.raises(socket.timeout):
        c3.f.readline()
    assert len(m.children("a")) == 2
    m.wait_log("maxchild=2 reached")
    c1.close()
    c3.sock.settimeout(10)
    c3.f = c3.sock.makefile("rb")
    c3.greeting()
    assert c3.cmd("ECHO third") == "third"
    assert len(m.children("a")) == 2
    for c in (c2, c3):
        c.close()


def test_sighup_adds_removes_restarts(make_master):
    m = make_master()
    pk, pg, pc, pn = (roost.free_port() for _ in range(4))
    m.write_config({
        "service-keep": svc(tcp(pk), prefork=1),
        "service-gone": svc(tcp(pg), prefork=1),
        "service-change": svc(tcp(pc), prefork=1),
    })
    m.start()
    ck = Client(pk)
    ck.greeting()
    m.wait_children("keep", 2)              # the busy one and a ready one
    m.wait_children("change", 1)
    keep_before = m.children("keep")
    change_before = m.children("change")

    m.write_config({
        "service-keep": svc(tcp(pk), prefork=1),
        "service-change": svc(tcp(pc), prefork=2),
        "service-new": svc(tcp(pn)),
    })
    m.hup()
    m.wait_log("reloaded: 3 services (1 added, 1 removed, 1 restarted, 1 unchanged)")

    assert ck.cmd("ECHO survived") == "survived"   # no dropped connection
    assert m.children("keep") == keep_before
    roost.wait_for(lambda: refused(pg), 10, what="removed service closed")
    m.wait_children("gone", 0)
    cn = Client(pn)
    cn.greeting()
    roost.wait_for(lambda: len(m.children("change")) == 2
                   and not set(m.children("change")) & set(change_before),
                   10, what="change restarted with 2 new children")
    cc = Client(pc)
    cc.greeting()

    # A bad definition on SIGHUP: logged, the old configuration stays.  (A
    # file the config parser itself rejects would also break every child
    # started meanwhile, since children read the same file.)
    good = m.config.read_text()
    m.config.write_text(good + 'service-bad: cmd="unterminated\n')
    m.hup()
    m.wait_log("reload failed, keeping the old configuration")
    assert f"{m.config}:{key_line(m, 'service-bad')}: service-bad:" in \
        m.log().split("reload failed")[-1].splitlines()[0]
    # A listener that cannot be bound (keep's port): nothing changes either.
    m.config.write_text(good + f"service-dup: {svc(tcp(pk))}\n")
    m.hup()
    m.wait_log("reload failed, keeping the old configuration", count=2)
    assert "service-dup: cannot listen" in m.log().split("reload failed")[-1].splitlines()[0]
    assert ck.cmd("ECHO still") == "still"
    assert m.children("keep") == keep_before
    c = Client(pn)
    c.greeting()
    m.config.write_text(good)
    m.hup()
    m.wait_log("reloaded: 3 services (0 added, 0 removed, 0 restarted, 3 unchanged)")
    assert ck.cmd("ECHO still") == "still"
    for x in (ck, cn, cc, c):
        x.close()
    assert m.stop() == 0


def test_sigterm_stops_everything(make_master):
    m = make_master()
    port = roost.free_port()
    sock = m.dir / "s.sock"
    m.write_config({"service-a": svc(f"{tcp(port)} {sock}", prefork=2)})
    m.start()
    c = Client(port)
    c.greeting()                            # one busy child
    m.wait_children("a", 5)                 # + 2 ready on each address
    kids = m.children()
    assert m.pidfile.read_text().strip() == str(m.proc.pid)
    t0 = time.monotonic()
    assert m.stop(timeout=10) == 0
    assert time.monotonic() - t0 < 7
    assert not m.pidfile.exists()
    assert not sock.exists()
    for pid in kids:
        assert not Path(f"/proc/{pid}").exists() or \
            Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    assert "master exiting" in m.log()
    c.close()


def test_bad_config_names_file_and_line(make_master):
    m = make_master()
    m.write_config({}, extra="this line is not a key value pair")
    m.start(wait_ready=False)
    assert m.proc.wait(10) != 0
    lineno = m.config.read_text().splitlines().index("this line is not a key value pair") + 1
    assert f"{m.config}:{lineno}:" in m.log(), m.log()

    # Errors in service definitions name the file and the line of the key.
    m2 = make_master()
    m2.write_config({"service-ok": svc(tcp(roost.free_port())),
                     "service-x": f'cmd="{TESTSVC}" listen="127.0.0.1:1" prefork=lots'})
    m2.start(wait_ready=False)
    assert m2.proc.wait(10) != 0
    assert f"{m2.config}:{key_line(m2, 'service-x')}: service-x: prefork=" in m2.log(), m2.log()

    m3 = make_master()
    m3.write_config({"service-y": 'cmd="unterminated listen=127.0.0.1:1'})
    m3.start(wait_ready=False)
    assert m3.proc.wait(10) != 0
    assert f"{m3.config}:{key_line(m3, 'service-y')}: service-y:" in m3.log(), m3.log()
    assert "quote" in m3.log(), m3.log()

    m4 = make_master()
    m4.write_config({"service-z": f'cmd="{m4.dir}/no-such-program" listen="127.0.0.1:1"'})
    m4.start(wait_ready=False)
    assert m4.proc.wait(10) != 0
    assert f"{m4.config}:{key_line(m4, 'service-z')}: service-z: program" in m4.log(), m4.log()
    assert "no-such-program" in m4.log(), m4.log()

    m5 = make_master()
    m5.write_config({"service-n": svc(tcp(roost.free_port())),
                     "daemon-n": f'cmd="{TESTSVC}"'})
    m5.start(wait_ready=False)
    assert m5.proc.wait(10) != 0
    assert f"{m5.config}:{key_line(m5, 'daemon-n')}: service-n and daemon-n: two services" \
        in m5.log(), m5.log()


def test_second_master_refuses_same_pidfile(make_master, tmp_path):
    m = make_master()
    port = roost.free_port()
    m.write_config({"service-a": svc(tcp(port))})
    m.start()
    m2 = make_master(tmp_path / "second")
    m2.config = m.config                    # same config, so same pid file
    m2.start(wait_ready=False)
    assert m2.proc.wait(10) != 0
    assert f"another master (pid {m.proc.pid})" in m2.log(), m2.log()
    assert m.pidfile.read_text().strip() == str(m.proc.pid)
    c = Client(port)
    c.greeting()
    c.close()
    assert m.proc.poll() is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_root_drops_to_cyrus_user(make_master):
    # A directory the unprivileged user can read (pytest's tmp_path is 0700).
    top = Path(tempfile.mkdtemp(prefix="roost-master-", dir="/tmp"))
    try:
        top.chmod(0o755)
        m = make_master(top / "m")
        m.dir.chmod(0o755)
        m.reports.chmod(0o777)
        m.user = "roost-no-such-user"
        port = roost.free_port()
        m.write_config({"service-a": svc(tcp(port))})
        m.start(wait_ready=False)
        assert m.proc.wait(10) != 0
        assert "roost-no-such-user" in m.log(), m.log()

        m.user = "nobody"
        m.write_config({"service-a": svc(tcp(port))})
        m.start()
        status = Path(f"/proc/{m.proc.pid}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert uid_line.split()[1:] == ["65534"] * 4
        c = Client(port)
        c.greeting()
        assert c.cmd("UID").split()[0] == "65534"
        c.close()
        assert (m.dir / "config").stat().st_uid == 65534
        assert m.stop() == 0
    finally:
        subprocess.run(["rm", "-rf", str(top)])


def test_kv_check_after_crash_and_checkpoints(make_master):
    m = make_master()
    port = roost.free_port()
    m.write_config({"service-a": svc(tcp(port), prefork=1)}, extra="kv_checkpoint_interval: 1")
    m.start()
    env = m.dir / "config"
    assert (env / "__db.001").exists()      # recovered (created) at startup
    c = Client(port)
    pid = c.greeting()
    os.kill(pid, signal.SIGKILL)
    m.wait_log(f"database check of {env} after service a: child {pid} killed by signal 9: ok")
    c.close()
    c = Client(port)
    assert c.greeting() != pid
    assert c.cmd("ECHO still serving") == "still serving"
    c.close()
    m.wait_log(f"database checkpoint of {env} done")
    assert "needs recovery" not in m.log() and "database recovery" not in m.log()
    assert m.stop() == 0


def test_kv_recovery_stops_and_restarts_everything(make_master):
    m = make_master()
    pa, pb = roost.free_port(), roost.free_port()
    m.write_config({"service-a": svc(tcp(pa), prefork=2),
                    "service-b": svc(tcp(pb), prefork=1)})
    m.start()
    m.wait_children("a", 2)
    m.wait_children("b", 1)
    busy = Client(pb)
    busy.greeting()
    m.wait_children("b", 2)
    before = m.children()
    env = m.dir / "config"
    # An environment only recovery can bring back: without its region
    # files, kv_env_check() cannot open it.
    for f in env.glob("__db.*"):
        f.unlink()
    os.kill(m.children("a")[0], signal.SIGKILL)
    m.wait_log(f"database recovery of {env}: stopping every child")
    m.wait_log(f"database recovery of {env} done")
    assert "needs recovery" in m.log()
    assert busy.f.readline() == b""          # its child was stopped too
    busy.close()
    m.wait_children("a", 2)
    m.wait_children("b", 1)
    assert not set(m.children()) & set(before)
    assert (env / "__db.001").exists()
    for port in (pa, pb):
        c = Client(port)
        c.greeting()
        assert c.cmd("ECHO after recovery") == "after recovery"
        c.close()
    assert m.proc.poll() is None
    assert m.stop() == 0

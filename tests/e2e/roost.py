"""roost.py - the end-to-end test harness.

Starts throw-away Roost instances in temporary directories on free loopback
ports, with the same layout `make run` makes (tools/mkinstance.sh), and stops
them even when a test fails.  Later test files reuse these helpers:

    inst = Instance(tmp_path, extra_config="allowplaintext: yes")
    inst.start()                      # master up, every listener answering
    inst.add_user("test1", "pass1")   # saslpasswd2 into the instance's sasldb2
    inst.port("imap")                 # ROOST_IMAP_PORT
    inst.stop()

For tests/svc/testsvc.c (the small line service over lib/stream, lib/tls and
lib/saslserver): add_testsvc(inst, name, args) before start(), LineClient
(plain or TLS, with starttls()), tls_client_context(inst).

Sanitizer reports (the test build uses ASan and UBSan) from any process of
the instance are collected; stop() fails the test when there is one.
"""
import os
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_dir():
    return Path(os.environ.get("ROOST_BUILD", ROOT / "build" / "check"))


def bin_dir():
    return build_dir() / "bin"


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Poll predicate() until it is true; raise after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(port, host="127.0.0.1", timeout=10.0):
    wait_for(lambda: port_open(port, host), timeout, what=f"port {port}")


def sanitizer_env(report_dir):
    """Environment that makes ASan/UBSan write reports into report_dir."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = (f"detect_leaks=0:log_path={report_dir}/asan:"
                           "abort_on_error=0:detect_stack_use_after_return=0")
    env["UBSAN_OPTIONS"] = (f"print_stacktrace=1:halt_on_error=1:"
                            f"log_path={report_dir}/ubsan")
    return env


def sanitizer_reports(report_dir):
    out = []
    for f in sorted(Path(report_dir).glob("*san*")):
        text = f.read_text(errors="replace")
        if text.strip():
            out.append(f"{f.name}:\n{text}")
    return out


PORT_NAMES = {
    "imap": "ROOST_IMAP_PORT", "imaps": "ROOST_IMAPS_PORT",
    "pop3": "ROOST_POP3_PORT", "pop3s": "ROOST_POP3S_PORT",
    "lmtp": "ROOST_LMTP_PORT", "smtp": "ROOST_SMTP_PORT",
    "submission": "ROOST_SUBMISSION_PORT",
}


class Instance:
    """A Roost instance under master, in its own directory."""

    def __init__(self, tmp_path, extra_config="", domain="localhost"):
        self.dir = Path(tmp_path) / "var"
        self.bin = bin_dir()
        self.reports = Path(tmp_path) / "sanitizer"
        self.env = sanitizer_env(self.reports)
        for var in PORT_NAMES.values():
            self.env[var] = str(free_port())
        self.env["ROOST_DOMAIN"] = domain
        subprocess.run([str(ROOT / "tools" / "mkinstance.sh"), str(self.dir), str(self.bin)],
                       env=self.env, check=True, stdout=subprocess.DEVNULL)
        self.config = self.dir / "imapd.conf"
        if extra_config:
            self.add_config(extra_config)
        self.info = self._read_env()
        self.master = None
        self.log_path = self.dir / "log" / "master.log"

    def _read_env(self):
        info = {}
        for line in (self.dir / "instance.env").read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                info[k] = v
        return info

    def add_config(self, text):
        """Append key: value lines (the last value of a key wins)."""
        with open(self.config, "a") as f:
            f.write("\n" + text.strip() + "\n")

    def port(self, name):
        return int(self.info[PORT_NAMES[name]])

    @property
    def admin_password(self):
        return Path(self.info["ROOST_ADMIN_PASSWORD_FILE"]).read_text().strip()

    def add_user(self, name, password, realm=None):
        cmd = ["saslpasswd2", "-p", "-c", "-f", self.info["ROOST_SASLDB"]]
        if realm:
            cmd += ["-u", realm]
        subprocess.run(cmd + [name], input=password.encode(), check=True)

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, wait_ready=True, timeout=20.0):
        self.log_file = open(self.log_path, "ab")
        self.master = subprocess.Popen([str(self.bin / "master"), "-C", str(self.config)],
                                       env=self.env, stdout=self.log_file,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        if wait_ready:
            wait_for(lambda: "master ready" in self.log() or self.master.poll() is not None,
                     timeout, what="master ready")
            if self.master.poll() is not None:
                raise RuntimeError(f"master exited with {self.master.returncode}:\n{self.log()}")
        return self

    def stop(self, timeout=15.0):
        """SIGTERM master and wait; SIGKILL the whole group as a last resort.
        Returns master's exit status."""
        rc = None
        if self.master is not None and self.master.poll() is None:
            self.master.send_signal(signal.SIGTERM)
            try:
                rc = self.master.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.master.pid, signal.SIGKILL)
                self.master.wait()
                raise RuntimeError("master did not stop on SIGTERM")
        elif self.master is not None:
            rc = self.master.returncode
        if self.master is not None:
            try:
                os.killpg(self.master.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.log_file.close()
        self.master = None
        return rc

    def check_sanitizers(self):
        reports = sanitizer_reports(self.reports)
        if reports:
            raise AssertionError("sanitizer reports:\n" + "\n".join(reports))


# ---- tests/svc/testsvc.c under an instance's master (TLS, SASL, limits) ----

def testsvc_path():
    """The test service built next to the programs (ROOST_BUILD/tests/testsvc)."""
    return (build_dir() / "tests" / "testsvc").resolve()


def add_testsvc(inst, name="testsvc", args="", prefork=1):
    """Add service-NAME running testsvc ARGS ("-s" for implicit TLS, "-t MS"
    for the stream timeout) on a free port to inst's config, before
    inst.start().  Returns the port."""
    port = free_port()
    cmd = f"{testsvc_path()} {args}".strip()
    inst.add_config(f'service-{name}: cmd="{cmd}" listen="127.0.0.1:{port}" prefork={prefork}')
    return port


def tls_client_context(inst, min_version=None, max_version=None):
    """A client ssl.SSLContext that trusts only inst's self-signed
    certificate and checks the host name (pass server_hostname)."""
    ctx = ssl.create_default_context(cafile=str(inst.dir / "tls" / "server.pem"))
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    if min_version is not None:
        ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


class LineClient:
    """A CRLF line client for testsvc, plain or TLS, with its own input
    buffer (so that STARTTLS can check that nothing was read ahead)."""

    def __init__(self, port, tls=None, server_hostname="localhost", timeout=10.0,
                 host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()
        if tls is not None:
            try:
                self.sock = tls.wrap_socket(self.sock, server_hostname=server_hostname)
            except Exception:
                self.sock.close()
                raise

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def line(self):
        """The next line without CRLF, or None at EOF."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 1]
                return out.rstrip(b"\r").decode(errors="replace")
            if not self._fill():
                return None

    def cmd(self, text):
        self.send(text.encode() + b"\r\n" if isinstance(text, str) else text + b"\r\n")
        return self.line()

    def greeting(self):
        g = self.line()
        assert g is not None and g.startswith("* OK testsvc ready "), g
        return int(g.split()[-1])

    def eof(self):
        """Wait (within the socket timeout) for the server to close; True
        when it did with nothing more to read."""
        try:
            while True:
                if self.buf:
                    return False
                if not self._fill():
                    return True
        except ConnectionResetError:
            return True

    def starttls(self, ctx, server_hostname="localhost"):
        assert not self.buf, f"read ahead before TLS: {bytes(self.buf)!r}"
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        return self.sock

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

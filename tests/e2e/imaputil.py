"""imaputil.py - shared helpers for the imapd end-to-end tests.

    inst = imap_instance(make_instance)              # one per test
    with server(tmp_path_factory) as inst: ...       # one per module (fixture)
    m = connect(inst, "test1", "pass1")              # imaplib.IMAP4, logged in
    deliver(inst, "test1", message(subject="hi"))    # LMTP into user.test1
    r = Raw(inst); r.greeting(); r.cmd("a1", "NOOP") # raw protocol lines

Instances have allowplaintext: yes (so imaplib can LOGIN without TLS),
autocreate_inbox: yes (a user's INBOX appears at first login or delivery),
admins: cyrus (password: inst.admin_password) and the users of USERS.
"""
import contextlib
import imaplib
import socket
import ssl
import time
from email.utils import formatdate

import roost

USERS = (("test1", "pass1"), ("test2", "pass2"), ("test3", "pass3"))

BASE_CONFIG = """
allowplaintext: yes
autocreate_inbox: yes
admins: cyrus
"""


def _prepare(inst):
    for user, password in USERS:
        inst.add_user(user, password)
    return inst


def imap_instance(make_instance, extra_config="", start=True):
    """A started instance for one test (make_instance is conftest's fixture)."""
    inst = make_instance(extra_config=BASE_CONFIG + extra_config, start=False)
    _prepare(inst)
    if start:
        inst.start()
    return inst


@contextlib.contextmanager
def server(tmp_path_factory, extra_config="", name="imap"):
    """A started instance shared by the tests of a module:

        @pytest.fixture(scope="module")
        def inst(tmp_path_factory):
            with imaputil.server(tmp_path_factory) as i:
                yield i
    """
    inst = roost.Instance(tmp_path_factory.mktemp(name), extra_config=BASE_CONFIG + extra_config)
    _prepare(inst)
    inst.start()
    try:
        yield inst
    finally:
        inst.stop()
        inst.check_sanitizers()


def connect(inst, user=None, password=None, starttls=False, imaps=False, timeout=30):
    """An imaplib client on the instance's IMAP port (or IMAPS), logged in
    as user when a user is given."""
    ctx = roost.tls_client_context(inst)
    if imaps:
        m = imaplib.IMAP4_SSL("localhost", inst.port("imaps"), ssl_context=ctx, timeout=timeout)
    else:
        m = imaplib.IMAP4("127.0.0.1", inst.port("imap"), timeout=timeout)
        if starttls:
            m.starttls(ssl_context=ctx)
    if user is not None:
        if password is None:
            password = inst.admin_password if user == "cyrus" else dict(USERS)[user]
        m.login(user, password)
    return m


def message(subject="Test message", body="Hello.\r\n", sender="alice@example.org",
            to="test1@localhost", date=None, message_id=None, headers=None):
    """A small RFC 5322 message as bytes with CRLF line ends.  headers: extra
    (name, value) pairs; body may be str or bytes."""
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {date or formatdate(localtime=False)}",
        f"Message-ID: {message_id or '<%d.%f@test.example>' % (id(body), time.time())}",
    ]
    for name, value in headers or ():
        lines.append(f"{name}: {value}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    if isinstance(body, str):
        body = body.encode()
    body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return head + body


class DeliveryError(Exception):
    pass


def deliver(inst, user, msg, folder=None, timeout=30):
    """Deliver msg (bytes) over LMTP (lmtpd's unix socket) to user, or to
    user's folder (user+folder; the folder must exist and allow posting,
    else it lands in the INBOX as lmtpd's rules say).  Raises DeliveryError
    unless the recipient gets 250."""
    rcpt = f"{user}+{folder}@localhost" if folder else f"{user}@localhost"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(inst.info["ROOST_LMTP_SOCKET"])
    f = sock.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if not line:
                raise DeliveryError("lmtpd closed the connection")
            if line[3:4] != b"-":
                return line.decode(errors="replace").rstrip()

    try:
        reply()
        for cmd in (b"LHLO test", b"MAIL FROM:<sender@example.org>", b"RCPT TO:<%s>" % rcpt.encode(),
                    b"DATA"):
            sock.sendall(cmd + b"\r\n")
            r = reply()
            if cmd == b"LHLO test":
                continue
            if not r.startswith(("250", "354")):
                raise DeliveryError(f"{cmd!r}: {r}")
        data = msg.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        data = b"\r\n".join((b"." + ln if ln.startswith(b".") else ln) for ln in data.split(b"\r\n"))
        sock.sendall(data + b".\r\n")
        r = reply()
        if not r.startswith("250"):
            raise DeliveryError(f"DATA: {r}")
        sock.sendall(b"QUIT\r\n")
    finally:
        sock.close()


class Raw:
    """A raw IMAP client: bytes out, lines (str, without CRLF) in."""

    def __init__(self, inst, imaps=False, timeout=30.0, port=None):
        self.sock = socket.create_connection(("127.0.0.1", port or inst.port("imaps" if imaps else "imap")),
                                             timeout=timeout)
        if imaps:
            self.sock = roost.tls_client_context(inst).wrap_socket(self.sock, server_hostname="localhost")
        self.inst = inst
        self.buf = bytearray()

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

    def rawline(self):
        """The next line as bytes with its CRLF, or None at EOF."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                out = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return out
            if not self._fill():
                return None

    def line(self):
        """The next line (str, no CRLF), or None at EOF."""
        raw = self.rawline()
        return None if raw is None else raw.rstrip(b"\r\n").decode("utf-8", "replace")

    def read_bytes(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError("connection closed")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def greeting(self):
        g = self.line()
        assert g is not None and g.startswith("* OK"), g
        return g

    def until_tagged(self, tag):
        """Lines up to and including the tagged reply of tag.  A literal
        "{n}" at the end of a line is read into the same entry (as
        "...{n}\\r\\n<bytes>" text) so one response stays one entry."""
        lines = []
        while True:
            raw = self.rawline()
            if raw is None:
                raise EOFError(f"connection closed; got {lines!r}")
            text = raw.rstrip(b"\r\n")
            while text.endswith(b"}") and b"{" in text:
                n = text[text.rindex(b"{") + 1:-1]
                if not n.isdigit():
                    break
                text += b"\r\n" + self.read_bytes(int(n))
                more = self.rawline()
                if more is None:
                    raise EOFError("connection closed in a literal")
                text += more.rstrip(b"\r\n")
            s = text.decode("utf-8", "replace")
            lines.append(s)
            if s.startswith(tag + " "):
                return lines

    def cmd(self, tag, text):
        """Send "tag text" and return every line up to the tagged reply."""
        self.send(f"{tag} {text}\r\n".encode() if isinstance(text, str) else tag.encode() + b" " + text + b"\r\n")
        return self.until_tagged(tag)

    def login(self, user, password=None):
        if password is None:
            password = self.inst.admin_password if user == "cyrus" else dict(USERS)[user]
        r = self.cmd("L1", f'LOGIN "{user}" "{password}"')
        assert r[-1].startswith("L1 OK"), r
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def tagged(lines):
    """The tagged line (last) of a Raw.cmd() result, split: (tag, status, text)."""
    tag, status, *rest = lines[-1].split(" ", 2)
    return tag, status, rest[0] if rest else ""


def ok(lines):
    assert tagged(lines)[1] == "OK", lines
    return lines

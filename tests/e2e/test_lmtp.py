"""test_lmtp.py - lmtpd end to end: protocol, delivery, limits, crashes.

Drives lmtpd under master with a raw Python socket client (every error
case), with Cyrus's lmtptest, and checks what reached the store by reading
the mailbox files read-only (the layout of docs/store-format.md: roost.header
names the mailbox, roost.index lists the live UIDs, "<uid>." is the
message).  Mailboxes are made by autocreation (autocreate_inbox with
autocreate_inbox_folders / autocreate_acl) or with the store tools
(mbappend -c, ctl_mboxlist, quota -l).

The helpers at the top (LmtpClient, Store, message) are also used by
test_deliver.py and test_postfix.py.
"""
import base64
import hashlib
import os
import random
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

import roost

CYRUS_LMTPTEST = "/usr/lib/cyrus/bin/lmtptest"

# The config of the shared instance most tests use.
AUTOCREATE = """
autocreate_inbox: yes
autocreate_inbox_folders: Lists|Sent
autocreate_acl: Lists anyone p
duplicatesuppression_period: 3
"""


# ---------------------------------------------------------------------------
# helpers


def message(subject="test", msgid=None, body=b"Hello.\r\n", extra=b""):
    """A small RFC 5322 message with CRLF line ends and a unique Message-ID."""
    if msgid is None:
        msgid = f"<{uuid.uuid4().hex}@roost.test>"
    head = (f"From: Sender <sender@example.com>\r\nTo: someone@example.com\r\n"
            f"Subject: {subject}\r\nMessage-ID: {msgid}\r\n"
            f"Date: Mon, 17 Nov 2025 10:00:00 +0000\r\n").encode() + extra
    return head + b"\r\n" + body


def dot_stuff(msg):
    """A message as DATA sends it (lines starting with '.' get another)."""
    lines = msg.split(b"\r\n")
    return b"\r\n".join(b"." + l if l.startswith(b".") else l for l in lines)


def strip_trace(stored):
    """The message without the Return-Path and Received fields lmtpd adds
    first; returns (trace_fields_bytes, rest)."""
    assert stored.startswith(b"Return-Path: "), stored[:200]
    pos = stored.index(b"\r\n") + 2
    assert stored[pos:pos + 10] == b"Received: ", stored[:400]
    pos = stored.index(b"\r\n", pos) + 2
    while stored[pos:pos + 1] in (b"\t", b" "):
        pos = stored.index(b"\r\n", pos) + 2
    return stored[:pos], stored[pos:]


class LmtpError(Exception):
    pass


class LmtpClient:
    """A raw LMTP client over TCP or the unix socket."""

    def __init__(self, inst, unix=False, timeout=30.0, greet=True):
        if unix:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(inst.info["ROOST_LMTP_SOCKET"])
        else:
            self.sock = socket.create_connection(("127.0.0.1", inst.port("lmtp")), timeout=timeout)
        self.buf = b""
        self.greeting = self.reply() if greet else None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise LmtpError(f"connection closed (pending {self.buf!r})")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """(code, text) of one reply; text of a multi-line reply joined by \\n."""
        lines = []
        while True:
            line = self.readline()
            lines.append(line[4:])
            if len(line) < 4 or line[3] == " ":
                return int(line[:3]), "\n".join(lines)

    def cmd(self, line):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def lhlo(self, name="test.client"):
        code, text = self.cmd(f"LHLO {name}")
        assert code == 250, text
        return text.split("\n")[1:]

    def data(self, msg, nrcpts):
        """DATA with msg (CRLF, not yet dot-stuffed); the per-recipient
        replies."""
        code, text = self.cmd("DATA")
        assert code == 354, (code, text)
        body = dot_stuff(msg)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.send(body + b".\r\n")
        return [self.reply() for _ in range(nrcpts)]

    def transaction(self, rcpts, msg, sender="sender@example.com", mail_params=""):
        """MAIL, RCPTs, DATA.  Returns (rcpt_replies, data_replies)."""
        code, text = self.cmd(f"MAIL FROM:<{sender}>{' ' + mail_params if mail_params else ''}")
        assert code == 250, text
        rr = [self.cmd(f"RCPT TO:<{r}>") for r in rcpts]
        ok = sum(1 for c, _ in rr if c == 250)
        if ok == 0:
            self.cmd("RSET")
            return rr, []
        return rr, self.data(msg, ok)

    def starttls(self):
        code, text = self.cmd("STARTTLS")
        assert code == 220, text
        assert self.buf == b""
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)


class Store:
    """Read-only view of an instance's partition (docs/store-format.md)."""

    def __init__(self, inst):
        self.inst = inst
        self.partition = Path(inst.dir) / "spool"

    def mailboxes(self):
        """{internal name: directory}"""
        out = {}
        for hdr in self.partition.rglob("roost.header"):
            data = hdr.read_bytes()
            assert data[:8] == b"ROOSTHDR"
            off = 24
            strings = []
            for _ in range(2):
                (n,) = struct.unpack_from("<I", data, off)
                off += 4
                strings.append(data[off:off + n].decode())
                off += n
            out[strings[1]] = hdr.parent
        return out

    def uids(self, mailbox):
        d = self.mailboxes().get(mailbox)
        if d is None:
            return None
        idx = (d / "roost.index").read_bytes()
        assert idx[:8] == b"ROOSTIDX"
        (count,) = struct.unpack_from("<I", idx, 40)
        uids = []
        for i in range(count):
            uid, flags = struct.unpack_from("<II", idx, 128 + 128 * i)
            if not flags & (1 << 31):
                uids.append(uid)
        return uids

    def messages(self, mailbox):
        """The stored messages of mailbox in UID order ([] when missing)."""
        d = self.mailboxes().get(mailbox)
        if d is None:
            return []
        return [(d / f"{uid}.").read_bytes() for uid in self.uids(mailbox)]

    def message_paths(self, mailbox):
        d = self.mailboxes()[mailbox]
        return [d / f"{uid}." for uid in self.uids(mailbox)]

    def wait_count(self, mailbox, n, timeout=20.0):
        roost.wait_for(lambda: len(self.messages(mailbox)) >= n, timeout,
                       what=f"{n} messages in {mailbox}")
        return self.messages(mailbox)


def tool(inst, name, *args, input=None, check=True):
    """Run a store tool of the instance's build against its config."""
    return subprocess.run([str(inst.bin / name), "-C", str(inst.config), *args], input=input,
                          capture_output=True, check=check, env=inst.env)


def create_mailbox(inst, name):
    """Create a mailbox with the store tools (mbappend -c puts one message
    in it: returns that message's bytes)."""
    msg = message(subject=f"seed {name}")
    tool(inst, "mbappend", "-c", name, input=msg)
    return msg


def set_acl(inst, name, identifier, rights):
    """Add or replace identifier's rights in mailbox name's ACL (through a
    mailbox list dump and load)."""
    dump = tool(inst, "ctl_mboxlist", "-d").stdout.decode()
    for line in dump.splitlines():
        fields = line.split("\t")
        if fields[0] == name:
            acl = fields[6:]
            pairs = [(acl[i], acl[i + 1]) for i in range(0, len(acl) - 1, 2) if acl[i]]
            pairs = [(i, r) for i, r in pairs if i != identifier]
            if rights:
                pairs.append((identifier, rights))
            newline = "\t".join(fields[:6] + [x for p in pairs for x in p] + [""])
            tool(inst, "ctl_mboxlist", "-u", input=(newline + "\n").encode())
            return
    raise AssertionError(f"{name} not in the mailbox list:\n{dump}")


def lmtpd_pids(inst):
    """Pids of the instance's lmtpd children (master's children named lmtpd)."""
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
        if (comm == "lmtpd" and state not in ("Z", "X") and inst.master is not None
                and int(ppid) == inst.master.pid):
            pids.append(int(p.name))
    return pids


def start_instance(base, extra_config=""):
    inst = roost.Instance(base, extra_config=extra_config)
    inst.start()
    roost.wait_for(lambda: Path(inst.info["ROOST_LMTP_SOCKET"]).exists(), what="lmtp socket")
    return inst


def stop_instance(inst):
    inst.stop()
    inst.check_sanitizers()


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    """A shared instance with autocreation on (users come into being at
    their first delivery, with folders Lists (anyone may post) and Sent)."""
    i = start_instance(tmp_path_factory.mktemp("lmtp"), AUTOCREATE)
    yield i
    stop_instance(i)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A shared instance without autocreation (unknown users exist)."""
    i = start_instance(tmp_path_factory.mktemp("lmtpplain"), "postuser: bb")
    yield i
    stop_instance(i)


def user(prefix="u"):
    """A fresh user name for one test on a shared instance."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------------
# protocol basics


def test_greeting_and_lhlo_tcp(inst):
    with LmtpClient(inst) as c:
        assert c.greeting[0] == 220 and "LMTP" in c.greeting[1]
        caps = c.lhlo()
        for cap in ("PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "CHUNKING", "STARTTLS",
                    "IGNOREQUOTA"):
            assert cap in caps, caps
        assert any(c.startswith("SIZE ") for c in caps), caps
        assert not any(c.startswith("AUTH") for c in caps)   # lmtp_auth: off
        assert c.cmd("NOOP")[0] == 250
        assert c.cmd("QUIT")[0] == 221


def test_lhlo_unix_socket_has_no_starttls(inst):
    with LmtpClient(inst, unix=True) as c:
        caps = c.lhlo()
        assert "STARTTLS" not in caps
        assert "IGNOREQUOTA" in caps
        assert c.cmd("STARTTLS")[0] == 454


def test_deliver_over_tcp_and_unix(inst):
    st = Store(inst)
    u = user()
    sent = []
    for unix in (False, True):
        msg = message(subject=f"via {'unix' if unix else 'tcp'}")
        sent.append(msg)
        with LmtpClient(inst, unix=unix) as c:
            c.lhlo()
            rr, dr = c.transaction([f"{u}@localhost"], msg, sender="alice@example.org")
            assert rr == [(250, "2.1.5 Ok")]
            assert dr[0][0] == 250 and dr[0][1].startswith("2.0.0"), dr
    stored = st.messages(f"user.{u}")
    assert [strip_trace(m)[1] for m in stored] == sent
    trace, rest = strip_trace(stored[0])
    assert trace.startswith(b"Return-Path: <alice@example.org>\r\nReceived: from test.client ([127.0.0.1])")
    assert b"with LMTP id " in trace and f"for <{u}@localhost>".encode() in trace
    trace, _ = strip_trace(stored[1])
    assert b"(unix socket)" in trace


def test_normalisation_dots_and_bare_lf(inst):
    """Bare LF becomes CRLF, bare CR too, dots are unstuffed, and a line
    "." ended by a bare LF ends the message."""
    st = Store(inst)
    u = user()
    with LmtpClient(inst) as c:
        c.lhlo()
        assert c.cmd("MAIL FROM:<>")[0] == 250
        assert c.cmd(f"RCPT TO:<{u}>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: lf\nMessage-ID: <" + u.encode() + b"@x>\n\nline1\n..dotted\r\n"
               b"bare\rcr\n...two\n.\n")
        code, text = c.reply()
        assert code == 250, text
        assert c.cmd("NOOP")[0] == 250
    (stored,) = st.messages(f"user.{u}")
    trace, rest = strip_trace(stored)
    assert trace.startswith(b"Return-Path: <>\r\n")
    assert rest == (b"Subject: lf\r\nMessage-ID: <" + u.encode() + b"@x>\r\n\r\nline1\r\n.dotted\r\n"
                    b"bare\r\ncr\r\n..two\r\n")


def test_multi_recipient_one_reply_each_in_order_and_hard_links(inst):
    st = Store(inst)
    a, b = user("a"), user("b")
    msg = message()
    with LmtpClient(inst) as c:
        c.lhlo()
        rr, dr = c.transaction([f"{a}@localhost", "anyone@localhost", f"{b}@localhost",
                                f"{a}@localhost"], msg)
        assert [r[0] for r in rr] == [250, 550, 250, 250]
        assert rr[1][1].startswith("5.1.1")
        assert len(dr) == 3 and all(r[0] == 250 for r in dr), dr
    # the same mailbox named twice gets one copy; both mailboxes share an inode
    assert len(st.messages(f"user.{a}")) == 1
    pa, = st.message_paths(f"user.{a}")
    pb, = st.message_paths(f"user.{b}")
    assert os.stat(pa).st_ino == os.stat(pb).st_ino
    assert os.stat(pa).st_nlink == 2


def test_unknown_user_550(plain):
    with LmtpClient(plain) as c:
        c.lhlo()
        assert c.cmd("MAIL FROM:<x@example.com>")[0] == 250
        code, text = c.cmd("RCPT TO:<nosuchuser@localhost>")
        assert (code, text[:5]) == (550, "5.1.1")
        code, text = c.cmd("DATA")
        assert (code, text[:5]) == (503, "5.5.1")
    assert Store(plain).messages("user.nosuchuser") == []


def test_mixed_known_and_unknown_users(plain):
    st = Store(plain)
    create_mailbox(plain, "user.known1")
    with LmtpClient(plain, unix=True) as c:
        c.lhlo()
        rr, dr = c.transaction(["unknown1@localhost", "known1@localhost"], message())
        assert [r[0] for r in rr] == [550, 250]
        assert [r[0] for r in dr] == [250]
    assert len(st.messages("user.known1")) == 2


def test_plus_addressing(inst):
    """user+folder goes to the folder when anyone may post there (Lists),
    else to the INBOX (Sent: the owner's only; Nope: missing)."""
    st = Store(inst)
    u = user()
    with LmtpClient(inst) as c:
        c.lhlo()
        for rcpt in (f"{u}+Lists@localhost", f"{u}+Sent@localhost", f"{u}+Nope@localhost",
                     f"{u}@localhost"):
            rr, dr = c.transaction([rcpt], message(subject=rcpt))
            assert dr[0][0] == 250, dr
    assert [m.split(b"Subject: ")[1].split(b"\r\n")[0] for m in st.messages(f"user.{u}.Lists")] \
        == [f"{u}+Lists@localhost".encode()]
    assert st.messages(f"user.{u}.Sent") == []
    assert len(st.messages(f"user.{u}")) == 3
    # the poster named by AUTH= on a trusted session: the owner may post to Sent
    with LmtpClient(inst, unix=True) as c:
        c.lhlo()
        rr, dr = c.transaction([f"{u}+Sent"], message(), mail_params=f"AUTH={u}")
        assert dr[0][0] == 250
    assert len(st.messages(f"user.{u}.Sent")) == 1


def test_shared_mailbox_forms(plain):
    st = Store(plain)
    create_mailbox(plain, "shared.news")
    create_mailbox(plain, "shared.closed")
    set_acl(plain, "shared.news", "anyone", "p")
    with LmtpClient(plain) as c:
        c.lhlo()
        rr, dr = c.transaction(["+shared.news@localhost", "bb+shared.news@localhost"],
                               message())
        assert [r[0] for r in rr] == [250, 250] and [r[0] for r in dr] == [250, 250]
        rr, _ = c.transaction(["+shared.closed@localhost", "+shared.nothere@localhost",
                               "+user.known1@localhost"], message())
        assert [(r[0], r[1][:5]) for r in rr] == [(550, "5.7.1"), (550, "5.1.1"),
                                                 (550, "5.1.1")]
    assert len(st.messages("shared.news")) == 2   # the seed and one copy


def test_null_and_odd_addresses(inst):
    with LmtpClient(inst) as c:
        c.lhlo()
        assert c.cmd("MAIL FROM:<@route.example:someone@example.com>")[0] == 250
        assert c.cmd("RCPT TO:<>")[0] == 501
        assert c.cmd("RCPT TO:no-brackets@localhost")[0] == 501
        assert c.cmd("RCPT TO:<a b@localhost>")[0] == 501
        assert c.cmd("RCPT TO:<x@bad!domain>")[0] == 501
        assert c.cmd("RCPT TO:<anyone@localhost>")[0] == 550
        code, text = c.cmd("RCPT TO:<\"quoted\"@localhost>")
        assert code == 250, text
        assert c.cmd("RSET")[0] == 250
        assert c.cmd("MAIL FROM:<x@y> BODY=8BITMIME SIZE=100")[0] == 250
        assert c.cmd("RSET")[0] == 250
        assert c.cmd("MAIL FROM:<x@y> BODY=BINARYMIME")[0] == 501
        assert c.cmd("MAIL FROM:<x@y> SIZE=abc")[0] == 501
        assert c.cmd("MAIL FROM:<x@y> RET=FULL")[0] == 555
        assert c.cmd("MAIL FROM:<x@y")[0] == 501


def test_downcase_recipient(inst):
    st = Store(inst)
    u = user()
    with LmtpClient(inst) as c:
        c.lhlo()
        rr, dr = c.transaction([f"{u.upper()}+Lists@LOCALHOST"], message())
        assert dr[0][0] == 250
    assert len(st.messages(f"user.{u}.Lists")) == 1


def test_virtdomains(make_instance):
    i = make_instance("virtdomains: userid\nautocreate_inbox: yes\n"
                      "autocreate_inbox_folders: Lists\nautocreate_acl: Lists anyone p\n")
    st = Store(i)
    with LmtpClient(i) as c:
        c.lhlo()
        rr, dr = c.transaction(["vd1@Example.COM", "vd1+Lists@example.com", "vd1@localhost",
                                "vd1@other.example"], message(subject="virt"))
        assert [r[0] for r in dr] == [250] * 4, dr
    assert len(st.messages("example.com!user.vd1")) == 1
    assert len(st.messages("example.com!user.vd1.Lists")) == 1
    assert len(st.messages("user.vd1")) == 1          # the default domain
    assert len(st.messages("other.example!user.vd1")) == 1


def test_internal_failure_451_and_nothing_stored(inst):
    """A mailbox whose index is damaged fails alone: 451 for its recipient,
    no message file left in it; the other recipient gets the message."""
    st = Store(inst)
    bad, good = user(), user()
    with LmtpClient(inst) as c:
        c.lhlo()
        c.transaction([bad, good], message())
    d = st.mailboxes()[f"user.{bad}"]
    before = sorted(p.name for p in d.iterdir())
    with open(d / "roost.index", "r+b") as f:
        f.seek(30)
        f.write(b"\xff\xff")          # UIDNEXT: the header checksum fails
    with LmtpClient(inst) as c:
        c.lhlo()
        rr, dr = c.transaction([bad, good], message(subject="after damage"))
        assert [r[0] for r in rr] == [250, 250]
        assert [(r[0], r[1][:5]) for r in dr] == [(451, "4.3.0"), (250, "2.0.0")], dr
        assert c.cmd("NOOP")[0] == 250
    assert sorted(p.name for p in d.iterdir()) == before
    assert len(st.messages(f"user.{good}")) == 2


def test_cyrus_lmtptest(inst):
    if not os.access(CYRUS_LMTPTEST, os.X_OK):
        pytest.skip("cyrus-clients (lmtptest) not installed")
    u = user()
    script = (f"MAIL FROM:<a@example.com>\r\nRCPT TO:<{u}@localhost>\r\nDATA\r\n"
              f"Subject: from lmtptest\r\nMessage-ID: <{u}@lmtptest>\r\n\r\nhi\r\n.\r\nQUIT\r\n")
    p = subprocess.run([CYRUS_LMTPTEST, "-p", str(inst.port("lmtp")), "127.0.0.1"],
                       input=script.encode(), capture_output=True, timeout=30)
    out = p.stdout.decode(errors="replace")
    assert "250-PIPELINING" in out and "250 IGNOREQUOTA" in out, out
    assert "250 2.0.0 Ok: delivered" in out, out
    (stored,) = Store(inst).messages(f"user.{u}")
    assert b"Subject: from lmtptest" in stored


# ---------------------------------------------------------------------------
# order and bad input


def test_commands_out_of_order(inst):
    with LmtpClient(inst) as c:
        assert c.cmd("MAIL FROM:<a@b>")[:1] == (503,)
        assert c.cmd("RCPT TO:<a@b>")[0] == 503
        assert c.cmd("DATA")[0] == 503
        code, text = c.cmd("HELO x")
        assert code == 500
        code, text = c.cmd("EHLO x")
        assert code == 500
        c.lhlo()
        assert c.cmd("RCPT TO:<a@b>") == (503, "5.5.1 Need MAIL command")
        assert c.cmd("DATA")[0] == 503
        assert c.cmd("MAIL FROM:<a@b>")[0] == 250
        assert c.cmd("MAIL FROM:<a@b>") == (503, "5.5.1 Nested MAIL command")
        assert c.cmd("DATA") == (503, "5.5.1 No valid recipients")
        c.send(b"BDAT 3 LAST\r\nabc")
        assert c.reply()[0] == 503
        assert c.cmd("LHLO again")[0] == 250      # LHLO resets the transaction
        assert c.cmd("RCPT TO:<a@b>")[0] == 503
        assert c.cmd("RSET x")[0] == 501
        assert c.cmd("DATA x")[0] == 501
        assert c.cmd("LHLO")[0] == 501
        assert c.cmd("VRFY someone")[0] == 252
        assert c.cmd("HELP")[0] == 214
        assert c.cmd("NOOP")[0] == 250


def test_unknown_command_long_line_nul_junk(inst):
    with LmtpClient(inst) as c:
        c.lhlo()
        assert c.cmd("FROBNICATE now") == (500, "5.5.1 Unknown command")
        assert c.cmd("NOOP " + "x" * 20000) == (500, "5.5.2 Line too long")
        c.send(b"NO\x00OP\r\n")
        assert c.reply()[0] == 500
        c.send(b"NOOP\rNOOP\r\n")
        assert c.reply()[0] == 500
        # binary junk: a few random lines, each an error, then business as usual
        rnd = random.Random(4)
        junk = bytes(rnd.randrange(256) for _ in range(3000)).replace(b"\n", b"")
        c.send(junk[:1000] + b"\r\n" + junk[1000:2000] + b"\r\n" + b"\xff\xfe\r\n")
        for _ in range(3):
            assert c.reply()[0] == 500
        assert c.cmd("NOOP")[0] == 250
        u = user()
        rr, dr = c.transaction([f"{u}@localhost"], message())
        assert dr[0][0] == 250


def test_too_many_errors_closes(inst):
    with LmtpClient(inst) as c:
        c.send(b"BOGUS\r\n" * 60)
        codes = []
        try:
            while True:
                codes.append(c.reply()[0])
        except (LmtpError, OSError):
            pass
        assert codes[-1] == 421 and codes[:-1] == [500] * (len(codes) - 1), codes


def test_pipelining_everything_in_one_write(inst):
    st = Store(inst)
    a, b = user(), user()
    m1, m2 = message(subject="one"), message(subject="two")
    with LmtpClient(inst) as c:
        c.send(b"LHLO pipe\r\nMAIL FROM:<p@example.com>\r\nRCPT TO:<" + a.encode() +
               b">\r\nRCPT TO:<nobody\"@x>\r\nRCPT TO:<" + b.encode() + b">\r\nDATA\r\n" +
               dot_stuff(m1) + b".\r\nMAIL FROM:<p@example.com>\r\nRCPT TO:<" + a.encode() +
               b">\r\nDATA\r\n" + dot_stuff(m2) + b".\r\nQUIT\r\n")
        replies = []
        try:
            while True:
                replies.append(c.reply()[0])
        except LmtpError:
            pass
    assert replies == [250, 250, 250, 501, 250, 354, 250, 250, 250, 250, 354, 250, 221]
    assert [strip_trace(m)[1] for m in st.messages(f"user.{a}")] == [m1, m2]
    assert [strip_trace(m)[1] for m in st.messages(f"user.{b}")] == [m1]


def test_bdat_chunking(inst):
    st = Store(inst)
    a, b = user(), user()
    msg = message(body=b"line one\r\n.a dot is not special in BDAT\r\nend\r\n")
    with LmtpClient(inst) as c:
        c.lhlo()
        assert c.cmd("MAIL FROM:<s@example.com>")[0] == 250
        assert c.cmd(f"RCPT TO:<{a}>")[0] == 250
        assert c.cmd(f"RCPT TO:<{b}>")[0] == 250
        parts = [msg[:10], msg[10:77], msg[77:]]
        for p in parts[:-1]:
            c.send(f"BDAT {len(p)}\r\n".encode() + p)
            assert c.reply() == (250, f"2.0.0 {len(p)} octets received")
        c.send(f"BDAT {len(parts[-1])} LAST\r\n".encode() + parts[-1])
        assert [c.reply()[0], c.reply()[0]] == [250, 250]
        assert c.cmd("DATA")[0] == 503            # transaction over
        # pipelined BDAT LAST with an empty second chunk
        assert c.cmd("MAIL FROM:<s@example.com>")[0] == 250
        assert c.cmd(f"RCPT TO:<{a}>")[0] == 250
        msg2 = message(subject="second")
        c.send(f"BDAT {len(msg2)}\r\n".encode() + msg2 + b"BDAT 0 LAST\r\nNOOP\r\n")
        assert [c.reply()[0] for _ in range(3)] == [250, 250, 250]
    assert [strip_trace(m)[1] for m in st.messages(f"user.{a}")] == [msg, msg2]
    assert [strip_trace(m)[1] for m in st.messages(f"user.{b}")] == [msg]


def test_nul_in_message_refused(inst):
    u = user()
    with LmtpClient(inst) as c:
        c.lhlo()
        rr, dr = c.transaction([f"{u}@localhost"], message(body=b"a\x00b\r\n"))
        assert dr == [(554, "5.6.0 Message contains NUL characters")]
        assert c.cmd("NOOP")[0] == 250
    # nothing stored (autocreation happens at delivery, so no INBOX either)
    assert Store(inst).messages(f"user.{u}") == []


# ---------------------------------------------------------------------------
# limits: size, recipients, quota, timeouts


@pytest.fixture(scope="module")
def limits(tmp_path_factory):
    i = start_instance(tmp_path_factory.mktemp("lmtplimits"),
                       AUTOCREATE + "maxmessagesize: 20000\nlmtp_max_recipients: 3\n")
    yield i
    stop_instance(i)


def test_size_limit(limits):
    st = Store(limits)
    u = user()
    with LmtpClient(limits) as c:
        caps = c.lhlo()
        assert "SIZE 20000" in caps
        code, text = c.cmd("MAIL FROM:<a@b> SIZE=20001")
        assert (code, text[:5]) == (552, "5.3.4")
        big = message(body=b"x" * 70 + b"\r\n") * 1 + b"y" * 76 * 300 + b"\r\n"
        rr, dr = c.transaction([f"{u}@localhost", f"{u}+Lists@localhost"], big)
        assert [(r[0], r[1][:5]) for r in dr] == [(552, "5.3.4")] * 2
        assert c.cmd("NOOP")[0] == 250       # the session goes on
        rr, dr = c.transaction([f"{u}@localhost"], message())
        assert dr[0][0] == 250
        # BDAT over the limit: the chunk is refused, RSET starts over
        assert c.cmd("MAIL FROM:<a@b>")[0] == 250
        assert c.cmd(f"RCPT TO:<{u}>")[0] == 250
        c.send(b"BDAT 25000\r\n" + b"z" * 25000)
        assert c.reply()[0] == 552
        c.send(b"BDAT 3 LAST\r\nabc")
        assert c.reply()[0] == 503
        assert c.cmd("RSET")[0] == 250
    assert len(st.messages(f"user.{u}")) == 1


def test_too_many_recipients(limits):
    with LmtpClient(limits) as c:
        c.lhlo()
        assert c.cmd("MAIL FROM:<a@b>")[0] == 250
        for i in range(3):
            assert c.cmd(f"RCPT TO:<{user()}>")[0] == 250
        assert c.cmd(f"RCPT TO:<{user()}>") == (452, "4.5.3 Too many recipients")
        assert len(c.data(message(), 3)) == 3


def fill_quota(inst, u, kib):
    """Deliver once (autocreating u), then set a STORAGE quota of kib on it."""
    with LmtpClient(inst) as c:
        c.lhlo()
        c.transaction([u], message())
    tool(inst, "quota", "-l", str(kib), f"user.{u}")


def test_over_quota_temporary_by_default(inst):
    st = Store(inst)
    u = user()
    fill_quota(inst, u, 2)
    body = b"q" * 1500 + b"\r\n"
    with LmtpClient(inst) as c:
        c.lhlo()
        # under the limit: accepted even though it goes over (not strict)
        rr, dr = c.transaction([u], message(body=body))
        assert dr[0][0] == 250
        rr, dr = c.transaction([u, f"{u}+Lists"], message(body=body))
        assert [(r[0], r[1][:5]) for r in rr] == [(452, "4.2.2")] * 2
        # IGNOREQUOTA gets through
        assert c.cmd("MAIL FROM:<a@b>")[0] == 250
        assert c.cmd(f"RCPT TO:<{u}> IGNOREQUOTA")[0] == 250
        assert c.data(message(), 1)[0][0] == 250
    assert len(st.messages(f"user.{u}")) == 3


def test_over_quota_permanent_and_strict(make_instance):
    i = make_instance(AUTOCREATE + "lmtp_over_quota_perm_failure: yes\nlmtp_strict_quota: yes\n")
    u = user()
    fill_quota(i, u, 2)
    with LmtpClient(i) as c:
        c.lhlo()
        # strict: the declared size already does not fit
        assert c.cmd("MAIL FROM:<a@b> SIZE=5000")[0] == 250
        code, text = c.cmd(f"RCPT TO:<{u}>")
        assert (code, text[:5]) == (552, "5.2.2")
        assert c.cmd("RSET")[0] == 250
        # no SIZE: refused after DATA, with the real size
        rr, dr = c.transaction([u], message(body=b"q" * 5000 + b"\r\n"))
        assert rr[0][0] == 250 and (dr[0][0], dr[0][1][:5]) == (552, "5.2.2")
        rr, dr = c.transaction([u], message(body=b"small\r\n"))
        assert dr[0][0] == 250
    assert len(Store(i).messages(f"user.{u}")) == 2


def test_autocreate_quota(make_instance):
    i = make_instance("autocreate_inbox: yes\nautocreate_quota: 1\n")
    u = user()
    with LmtpClient(i) as c:
        c.lhlo()
        rr, dr = c.transaction([u], message(body=b"z" * 2000 + b"\r\n"))
        assert dr[0][0] == 250
        rr, dr = c.transaction([u], message())
        assert rr[0][0] == 452
    out = tool(i, "quota", f"user.{u}").stdout.decode()
    assert f"user.{u}" in out and " 1 " in out.replace("\t", " "), out


def test_idle_timeout_and_timeout_in_data(make_instance):
    i = make_instance(AUTOCREATE + "lmtp_timeout: 1\n")
    u = user()
    with LmtpClient(i) as c:
        c.lhlo()
        t0 = time.monotonic()
        code, text = c.reply()
        assert code == 421 and text.startswith("4.4.2"), text
        assert 0.8 < time.monotonic() - t0 < 5
    with LmtpClient(i) as c:
        c.lhlo()
        assert c.cmd("MAIL FROM:<a@b>")[0] == 250
        assert c.cmd(f"RCPT TO:<{u}>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: half\r\n\r\nhalf a message\r\n")
        assert c.reply()[0] == 421
    assert Store(i).messages(f"user.{u}") == []


# ---------------------------------------------------------------------------
# duplicate suppression


def test_duplicate_suppression(inst):
    st = Store(inst)
    u = user()
    msg = message(msgid=f"<dup-{u}@example.com>")
    with LmtpClient(inst) as c:
        c.lhlo()
        for _ in range(2):
            rr, dr = c.transaction([u, f"{u}+Lists"], msg)
            assert [r[0] for r in dr] == [250, 250]
    assert len(st.messages(f"user.{u}")) == 1
    assert len(st.messages(f"user.{u}.Lists")) == 1
    # after duplicatesuppression_period (3 s here) it is a new delivery
    time.sleep(3.2)
    with LmtpClient(inst) as c:
        c.lhlo()
        c.transaction([u], msg)
    assert len(st.messages(f"user.{u}")) == 2


def test_duplicate_suppression_off(make_instance):
    i = make_instance(AUTOCREATE + "duplicatesuppression: no\n")
    u = user()
    msg = message(msgid="<same@example.com>")
    with LmtpClient(i) as c:
        c.lhlo()
        c.transaction([u], msg)
        c.transaction([u], msg)
    assert len(Store(i).messages(f"user.{u}")) == 2


# ---------------------------------------------------------------------------
# TLS and AUTH


def test_starttls(inst):
    u = user()
    with LmtpClient(inst) as c:
        c.lhlo()
        c.starttls()
        caps = c.lhlo()
        assert "STARTTLS" not in caps
        rr, dr = c.transaction([u], message())
        assert dr[0][0] == 250
    (stored,) = Store(inst).messages(f"user.{u}")
    assert b"with LMTPS id" in strip_trace(stored)[0]


def test_starttls_drops_pipelined_plaintext(inst):
    with LmtpClient(inst) as c:
        c.lhlo()
        c.send(b"STARTTLS\r\nMAIL FROM:<injected@example.com>\r\n")
        assert c.reply()[0] == 220
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c.sock = ctx.wrap_socket(c.sock)
        c.buf = b""
        # the injected MAIL was dropped: LHLO is needed again
        assert c.cmd("MAIL FROM:<a@b>")[0] == 503


def test_auth_required(make_instance):
    i = make_instance(AUTOCREATE + "lmtp_auth: required\nallowplaintext: yes\n")
    i.add_user("poster1", "secret1")
    u = user()
    with LmtpClient(i) as c:
        caps = c.lhlo()
        assert any(x.startswith("AUTH ") and "PLAIN" in x for x in caps), caps
        assert c.cmd("MAIL FROM:<a@b>")[0] == 530
        bad = base64.b64encode(b"\0poster1\0wrong").decode()
        assert c.cmd(f"AUTH PLAIN {bad}")[0] == 535
        good = base64.b64encode(b"\0poster1\0secret1").decode()
        assert c.cmd(f"AUTH PLAIN {good}")[0] == 235
        assert c.cmd(f"AUTH PLAIN {good}")[0] == 503
        rr, dr = c.transaction([u], message())
        assert dr[0][0] == 250
    # the unix socket needs no login
    with LmtpClient(i, unix=True) as c:
        c.lhlo()
        rr, dr = c.transaction([u], message())
        assert dr[0][0] == 250
    msgs = Store(i).messages(f"user.{u}")
    assert b"with LMTPA id" in strip_trace(msgs[0])[0]


# ---------------------------------------------------------------------------
# big messages, concurrency, crashes


def big_message(mib, seed=1):
    rnd = random.Random(seed)
    line = bytes(rnd.randrange(33, 127) for _ in range(76))
    lines = []
    n = mib * 1024 * 1024 // 78
    for i in range(n):
        l = line[i % 76:] + line[:i % 76]
        if i % 997 == 0:
            l = b"." + l[1:]        # lines that need dot-stuffing
        lines.append(l)
    body = b"\r\n".join(lines) + b"\r\n"
    return message(subject=f"{mib} MiB", body=body)


def test_20mib_message_byte_identical(inst):
    u = user()
    msg = big_message(20)
    with LmtpClient(inst, timeout=120) as c:
        c.lhlo()
        rr, dr = c.transaction([u, f"{u}+Lists"], msg)
        assert [r[0] for r in dr] == [250, 250]
    st = Store(inst)
    for mbox in (f"user.{u}", f"user.{u}.Lists"):
        (stored,) = st.messages(mbox)
        _, rest = strip_trace(stored)
        assert hashlib.sha256(rest).hexdigest() == hashlib.sha256(msg).hexdigest()


def test_50_parallel_sessions_each_message_once(inst):
    users = [user("p") for _ in range(8)]
    sent = {}          # msgid -> set of users
    errors = []
    lock = threading.Lock()

    def worker(n):
        try:
            rnd = random.Random(n)
            with LmtpClient(inst, unix=(n % 2 == 0), timeout=60) as c:
                c.lhlo()
                for k in range(3):
                    rcpts = rnd.sample(users, 3)
                    msgid = f"<par-{n}-{k}-{uuid.uuid4().hex}@example.com>"
                    rr, dr = c.transaction(rcpts, message(msgid=msgid))
                    if [r[0] for r in dr] != [250, 250, 250]:
                        raise AssertionError(f"{rr} {dr}")
                    with lock:
                        sent[msgid] = set(rcpts)
                c.cmd("QUIT")
        except Exception as e:  # reported below
            errors.append(f"worker {n}: {e!r}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:5]
    assert len(sent) == 150
    st = Store(inst)
    got = {}
    for u in users:
        for m in st.messages(f"user.{u}"):
            mid = m.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode()
            got.setdefault(mid, []).append(u)
    for mid, rcpts in sent.items():
        assert sorted(got.get(mid, [])) == sorted(rcpts), mid
    assert set(got) == set(sent)


def crash_instance(make_instance):
    """An instance for kill -9 tests.  A process killed inside Berkeley DB
    can leave the next one reading garbage sizes: let malloc fail as it
    does without ASan (allocator_may_return_null), so the error takes the
    production path (a kv error, exit 75, master recovers)."""
    i = make_instance(AUTOCREATE, start=False)
    i.env["ASAN_OPTIONS"] += ":allocator_may_return_null=1"
    i.start()
    return i


def test_kill9_during_data_loses_nothing_acknowledged(make_instance):
    i = crash_instance(make_instance)
    st = Store(i)
    u = user()
    acked = []
    with LmtpClient(i) as c:
        c.lhlo()
        for k in range(5):
            m = message(subject=f"acked {k}")
            rr, dr = c.transaction([u, f"{u}+Lists"], m)
            assert [r[0] for r in dr] == [250, 250]
            acked.append(m)
    # a session in the middle of DATA, killed with its process
    c = LmtpClient(i)
    c.lhlo()
    assert c.cmd("MAIL FROM:<a@b>")[0] == 250
    assert c.cmd(f"RCPT TO:<{u}>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: torn\r\n\r\n" + b"partial line\r\n" * 5000)
    time.sleep(0.3)
    killed = set(lmtpd_pids(i))
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises((LmtpError, OSError)):
        c.send(b"more\r\n" * 1000 + b".\r\n")
        c.reply()
    c.close()
    # master replaces the children; the store is whole
    roost.wait_for(lambda: set(lmtpd_pids(i)) - killed, what="lmtpd restarted")
    assert [strip_trace(m)[1] for m in st.messages(f"user.{u}")] == acked
    assert [strip_trace(m)[1] for m in st.messages(f"user.{u}.Lists")] == acked
    with LmtpClient(i) as c:
        c.lhlo()
        rr, dr = c.transaction([u], message(subject="after"))
        assert dr[0][0] == 250
    assert len(st.messages(f"user.{u}")) == 6


def test_kill9_at_random_moments(make_instance):
    """Deliveries in a loop while lmtpd processes are killed at random
    times: every acknowledged message is stored whole, and every stored
    message is one that was sent, whole."""
    i = crash_instance(make_instance)
    u = user()
    sent, acked = {}, []
    stop = threading.Event()

    def client():
        n = 0
        while not stop.is_set():
            n += 1
            msgid = f"<kill-{n}@example.com>"
            m = message(msgid=msgid, body=b"filler line\r\n" * random.randrange(10, 3000))
            sent[msgid] = m
            try:
                with LmtpClient(i, timeout=10) as c:
                    c.lhlo()
                    rr, dr = c.transaction([u, f"{u}+Lists"], m)
                    if all(r[0] == 250 for r in dr) and len(dr) == 2:
                        acked.append(msgid)
            except (LmtpError, OSError, AssertionError):
                time.sleep(0.05)

    t = threading.Thread(target=client)
    t.start()
    rnd = random.Random(7)
    deadline = time.monotonic() + 6
    kills = 0
    while time.monotonic() < deadline:
        time.sleep(rnd.uniform(0.05, 0.4))
        for pid in lmtpd_pids(i):
            try:
                os.kill(pid, signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
    stop.set()
    t.join(30)
    assert kills > 5 and len(acked) > 3, (kills, len(acked))
    st = Store(i)
    for mbox in (f"user.{u}", f"user.{u}.Lists"):
        stored = {}
        for m in st.messages(mbox):
            rest = strip_trace(m)[1]
            mid = rest.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode()
            assert sent[mid] == rest, f"{mid} torn in {mbox}"
            stored[mid] = stored.get(mid, 0) + 1
        for mid in acked:
            assert stored.get(mid) == 1, f"acknowledged {mid} missing from {mbox}"


# ---------------------------------------------------------------------------
# throughput (ROOST_BENCH=1; figures printed, nothing asserted)


def corpus(n, seed=3):
    """Realistic-looking messages: 2-30 KiB of text, some multipart."""
    rnd = random.Random(seed)
    words = [w.encode() for w in "the of and to in is that for it as was with be by on not he "
             "this are or his from at which but have an they you were her she there been one "
             "all we their has would when if so no will can more".split()]
    out = []
    for k in range(n):
        size = rnd.choice([2, 3, 4, 6, 8, 12, 30]) * 1024
        text = []
        total = 0
        while total < size:
            line = b" ".join(rnd.choice(words) for _ in range(12))
            text.append(line)
            total += len(line) + 2
        body = b"\r\n".join(text) + b"\r\n"
        if k % 3 == 0:
            body = (b"--b1\r\nContent-Type: text/plain\r\n\r\n" + body +
                    b"--b1\r\nContent-Type: application/octet-stream\r\n"
                    b"Content-Transfer-Encoding: base64\r\n\r\n" +
                    b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n" * 40 + b"--b1--\r\n")
            extra = b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n"
        else:
            extra = b""
        out.append(message(subject=f"corpus {k}", body=body, extra=extra))
    return out


@pytest.mark.skipif(os.environ.get("ROOST_BENCH") != "1", reason="set ROOST_BENCH=1")
def test_throughput(make_instance, capsys):
    i = make_instance(AUTOCREATE)
    msgs = corpus(int(os.environ.get("ROOST_BENCH_MESSAGES", "400")))
    for sessions in (1, 4):
        users = [user("b") for _ in range(sessions)]
        for u in users:   # autocreate outside the timing
            with LmtpClient(i) as c:
                c.lhlo()
                c.transaction([u], message())
        per = len(msgs) // sessions

        def run(k):
            with LmtpClient(i, unix=True) as c:
                c.lhlo()
                for m in msgs[k * per:(k + 1) * per]:
                    rr, dr = c.transaction([users[k]], m)
                    assert dr[0][0] == 250

        t0 = time.monotonic()
        threads = [threading.Thread(target=run, args=(k,)) for k in range(sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        dt = time.monotonic() - t0
        with capsys.disabled():
            print(f"\nlmtpd throughput: {sessions} session(s): {per * sessions} messages in "
                  f"{dt:.2f} s = {per * sessions / dt:.0f} msg/s")

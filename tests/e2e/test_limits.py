"""test_limits.py - line, literal, timeout and concurrency limits of
lib/stream, through testsvc under master.

testsvc reads command lines of at most 1024 bytes (STREAM_LINE_DISCARD_MAX,
16 MiB, is where an unending line makes it give up), literals of at most
1 MiB ("LITERAL {n}", answered with the SHA-256 of the bytes) and waits at
most its -t timeout for the client.  Every refusal must leave the session
(and the service) usable.
"""
import hashlib
import os
import socket
import threading
import time

import pytest

import roost

LINE_MAX = 1024
LITERAL_MAX = 1024 * 1024
QUICK_TIMEOUT_MS = 1000


@pytest.fixture
def lim_inst(make_instance):
    inst = make_instance(start=False)
    inst.port_ = roost.add_testsvc(inst, "testsvc")
    inst.quick_port = roost.add_testsvc(inst, "quick", f"-t {QUICK_TIMEOUT_MS}")
    inst.quick_tls_port = roost.add_testsvc(inst, "quicks", f"-s -t {QUICK_TIMEOUT_MS}")
    inst.start()
    return inst


def connect(inst, port=None, timeout=10.0):
    c = roost.LineClient(port if port is not None else inst.port_, timeout=timeout)
    c.greeting()
    return c


def send_in_thread(c, data):
    """sendall() in a thread (the server may answer or close before it has
    read everything); returns the thread, its errors are ignored."""
    def run():
        try:
            c.sock.sendall(data)
        except OSError:
            pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def literal(c, data, announce=None):
    """LITERAL {len(data)}: returns the final answer."""
    n = len(data) if announce is None else announce
    r = c.cmd(f"LITERAL {{{n}}}")
    if r != "+ go ahead":
        return r
    c.send(data + b"\r\n")
    return c.line()


def assert_served(inst):
    with connect(inst) as c:
        assert c.cmd("ECHO served") == "served"


def test_long_lines(lim_inst):
    with connect(lim_inst) as c:
        exact = "ECHO " + "x" * (LINE_MAX - 5)
        assert c.cmd(exact) == "x" * (LINE_MAX - 5)
        assert c.cmd(exact + "y") == "BAD line too long"
        assert c.cmd("ECHO " + "z" * 5000) == "BAD line too long"
        assert c.cmd("ECHO still here") == "still here"
        # Two over-long lines and a good one in one write.
        c.send(("A" * 3000 + "\r\n") * 2 + "ECHO next\r\n")
        assert [c.line(), c.line(), c.line()] == ["BAD line too long"] * 2 + ["next"]


def test_ten_megabyte_line(lim_inst):
    inst = lim_inst
    with connect(inst, timeout=30) as big, connect(inst) as other:
        t = send_in_thread(big, b"ECHO " + b"x" * (10 * 1024 * 1024) + b"\r\n")
        # Others are served meanwhile (a child of their own).
        assert other.cmd("ECHO meanwhile") == "meanwhile"
        assert big.line() == "BAD line too long"
        t.join(30)
        assert big.cmd("ECHO after big") == "after big"
        assert other.cmd("ECHO other") == "other"
    # A line that never ends: the server gives up at 16 MiB and closes.
    with connect(inst, timeout=30) as huge:
        t = send_in_thread(huge, b"y" * (17 * 1024 * 1024))
        assert huge.eof()
        t.join(30)
    assert_served(inst)
    assert "killed by signal" not in inst.log()


def test_nul_byte(lim_inst):
    with connect(lim_inst) as c:
        assert c.cmd(b"ECHO a\x00b") == "BAD NUL"
        assert c.cmd(b"\x00") == "BAD NUL"
        assert c.cmd(b"ECHO still") == "still"


def test_literal_limits(lim_inst):
    with connect(lim_inst) as c:
        for n in (LITERAL_MAX + 1, 4294967295, 10 * LITERAL_MAX):
            # Refused before any byte is read: the next line is a command.
            assert c.cmd(f"LITERAL {{{n}}}") == "NO [TOOBIG] literal too big", n
            assert c.cmd("ECHO after toobig") == "after toobig"
        for bad in ("{4294967296}", "{99999999999999999999}", "{18446744073709551616}",
                    "{-1}", "{}", "{12a}", "{ 1}", "{1", "1}", "", "{0x10}", "{1}{2}"):
            assert c.cmd(f"LITERAL {bad}").startswith("BAD"), bad
            assert c.cmd("ECHO after bad") == "after bad"
        assert literal(c, b"") == "OK " + hashlib.sha256(b"").hexdigest()
        # Bytes after the literal other than CRLF.
        assert c.cmd("LITERAL {3}") == "+ go ahead"
        assert c.cmd(b"abcjunk") == "BAD junk after the literal"
        assert c.cmd("ECHO ok") == "ok"


def test_literal_round_trip(lim_inst):
    with connect(lim_inst, timeout=30) as c:
        data = os.urandom(512 * 1024) + b"\r\n\x00LITERAL {5}\r\n"
        assert literal(c, data) == "OK " + hashlib.sha256(data).hexdigest()
        assert c.cmd("ECHO after literal") == "after literal"
        full = bytes(range(256)) * (LITERAL_MAX // 256)
        assert len(full) == LITERAL_MAX
        assert literal(c, full) == "OK " + hashlib.sha256(full).hexdigest()


def test_idle_client_disconnected(lim_inst):
    inst = lim_inst
    timeout_s = QUICK_TIMEOUT_MS / 1000
    t0 = time.monotonic()
    with connect(inst, inst.quick_port) as c:
        assert c.line() == "* BYE autologout"
        assert c.eof()
    elapsed = time.monotonic() - t0
    assert timeout_s * 0.8 <= elapsed < timeout_s + 5, elapsed

    # Half a line and then silence: the same.
    with connect(inst, inst.quick_port) as c:
        assert c.cmd("ECHO active") == "active"
        c.send(b"ECHO unfinish")
        assert c.line() == "* BYE autologout"
        assert c.eof()

    # Implicit TLS: a client that never sends its ClientHello.
    t0 = time.monotonic()
    with roost.LineClient(inst.quick_tls_port, timeout=10) as c:
        assert c.eof()
    assert time.monotonic() - t0 < timeout_s + 5
    roost.wait_for(lambda: "TLS handshake failed" in inst.log(), 10, what="handshake timeout")

    # A client that keeps talking is not cut off.
    with connect(inst, inst.quick_port) as c:
        for i in range(4):
            time.sleep(timeout_s / 3)
            assert c.cmd(f"ECHO {i}") == str(i)
    # The default service keeps its long timeout.
    with connect(inst) as c:
        time.sleep(timeout_s * 1.5)
        assert c.cmd("ECHO patient") == "patient"


def test_parallel_connections(lim_inst):
    inst = lim_inst
    n = 20
    results = [None] * n

    def one(i):
        try:
            with roost.LineClient(inst.port_, timeout=30) as c:
                pid = c.greeting()
                assert c.cmd(f"ECHO conn {i}") == f"conn {i}"
                data = os.urandom(4096 + i)
                assert literal(c, data) == "OK " + hashlib.sha256(data).hexdigest()
                assert c.cmd("PID") == str(pid)
                results[i] = pid
                # Hold the connection until every client got this far.
                barrier.wait(30)
                assert c.cmd("QUIT") == "* BYE"
        except Exception as e:  # reported below
            results[i] = e
            barrier.abort()     # the others need not wait for this one

    barrier = threading.Barrier(n)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    errors = [r for r in results if not isinstance(r, int)]
    assert not errors, errors
    # All open at once, so each had a child of its own.
    assert len(set(results)) == n
    assert_served(inst)


def test_client_closing_mid_command(lim_inst):
    inst = lim_inst
    # Gone in the middle of a literal, of a SASL exchange, of a line.
    with connect(inst) as c:
        assert c.cmd("LITERAL {1000}") == "+ go ahead"
        c.send(b"x" * 10)
    with connect(inst) as c:
        assert c.cmd("AUTH CRAM-MD5").startswith("+ ")
    with connect(inst) as c:
        c.send(b"ECHO half")
        c.sock.shutdown(socket.SHUT_WR)
        assert c.eof()
    assert_served(inst)
    assert "killed by signal" not in inst.log()

"""test_deliver.py - the deliver command (Cyrus-compatible) against lmtpd.

deliver reads a message on stdin (LF or CRLF line ends) and gives it to
lmtpd over the unix socket named by lmtpsocket.  Exit codes follow
sysexits.h.  Cyrus's own deliver is also run against lmtpd when
cyrus-clients/cyrus-common is installed.
"""
import hashlib
import os
import subprocess

import pytest

from test_lmtp import Store, big_message, create_mailbox, message, set_acl, strip_trace, tool, user
# the shared instances (module-scoped fixtures: this module gets its own)
from test_lmtp import inst, plain  # noqa: F401

CYRUS_DELIVER = "/usr/lib/cyrus/bin/deliver"


def deliver(instance, *args, input=b"", config=True, env=None):
    cmd = [str(instance.bin / "deliver")]
    if config:
        cmd += ["-C", str(instance.config)]
    return subprocess.run(cmd + list(args), input=input, capture_output=True, timeout=120,
                          env=env if env is not None else instance.env)


def lf(msg):
    return msg.replace(b"\r\n", b"\n")


def test_basic_delivery_lf_input(inst):
    u = user()
    msg = message(body=b"first\r\n.leading dot\r\n..two dots\r\n.\r\nlast\r\n")
    r = deliver(inst, u, input=lf(msg))
    assert r.returncode == 0, r.stderr
    (stored,) = Store(inst).messages(f"user.{u}")
    trace, rest = strip_trace(stored)
    assert rest == msg
    assert trace.startswith(b"Return-Path: <>\r\n")
    assert b"(unix socket)" in trace


def test_sender_and_cyrus_options(inst):
    u = user()
    for args, rp in ((["-e", "-r", "alice@example.com"], b"<alice@example.com>"),
                     (["-f", "<bob@example.com>"], b"<bob@example.com>"),
                     (["-E", "3", "-D", "-r", ""], b"<>")):
        r = deliver(inst, *args, u, input=message())
        assert r.returncode == 0, r.stderr
    got = [m.split(b"\r\n")[0] for m in Store(inst).messages(f"user.{u}")]
    assert got == [b"Return-Path: <alice@example.com>", b"Return-Path: <bob@example.com>",
                   b"Return-Path: <>"]


def test_mailbox_option(inst):
    """-m folder: the folder when anyone may post (Lists), else the INBOX;
    -a names the poster (the owner may post to Sent)."""
    st = Store(inst)
    u = user()
    cases = [(["-m", "Lists"], "Lists"), (["-m", "Sent"], None), (["-m", "Missing"], None),
             (["-m", "INBOX.Lists"], "Lists"), (["-m", ""], None), (["-m", "INBOX"], None),
             (["-a", u, "-m", "Sent"], "Sent")]
    for args, where in cases:
        r = deliver(inst, "-e", "-r", "x@example.com", *args, u, input=message(subject=repr(args)))
        assert r.returncode == 0, (args, r.stderr)
    assert len(st.messages(f"user.{u}.Lists")) == 2
    assert len(st.messages(f"user.{u}.Sent")) == 1
    assert len(st.messages(f"user.{u}")) == 4


def test_unknown_user_exit_67(plain):
    r = deliver(plain, "nosuchuser", input=message())
    assert r.returncode == 67, r
    assert b"550 5.1.1" in r.stderr


def test_several_users_one_unknown(plain):
    create_mailbox(plain, "user.dknown")
    r = deliver(plain, "dknown", "dunknown", input=message(subject="several"))
    assert r.returncode == 67
    assert b"<dunknown>: 550 5.1.1" in r.stderr
    msgs = Store(plain).messages("user.dknown")
    assert len(msgs) == 2 and b"Subject: several" in msgs[1]


def test_shared_mailbox_without_users(plain):
    create_mailbox(plain, "shared.dlist")
    set_acl(plain, "shared.dlist", "anyone", "p")
    r = deliver(plain, "-m", "shared.dlist", input=message())
    assert r.returncode == 0, r.stderr
    assert len(Store(plain).messages("shared.dlist")) == 2
    r = deliver(plain, "-m", "shared.nothere", input=message())
    assert r.returncode == 67


def test_quota_and_ignorequota(inst):
    u = user()
    assert deliver(inst, u, input=message()).returncode == 0
    tool(inst, "quota", "-l", "1", f"user.{u}")
    assert deliver(inst, u, input=message(body=b"x" * 2000 + b"\r\n")).returncode == 0
    r = deliver(inst, u, input=message())
    assert r.returncode == 75 and b"452 4.2.2" in r.stderr, r
    r = deliver(inst, "-q", u, input=message())
    assert r.returncode == 0, r.stderr
    assert len(Store(inst).messages(f"user.{u}")) == 3


def test_bad_input_exit_65(inst):
    u = user()
    r = deliver(inst, u, input=message(body=b"nul \x00 byte\r\n"))
    assert r.returncode == 65 and b"554 5.6.0" in r.stderr, r
    assert Store(inst).messages(f"user.{u}") == []


def test_no_final_newline_and_empty_message(inst):
    u = user()
    assert deliver(inst, u, input=b"Subject: x\n\nno newline at the end").returncode == 0
    assert deliver(inst, u, input=b"").returncode == 0
    msgs = [strip_trace(m)[1] for m in Store(inst).messages(f"user.{u}")]
    assert msgs == [b"Subject: x\r\n\r\nno newline at the end\r\n", b""]


def test_lmtpd_unreachable_exit_75(inst, tmp_path):
    conf = tmp_path / "other.conf"
    conf.write_text(f"lmtpsocket: {tmp_path}/no-such-socket\n")
    r = subprocess.run([str(inst.bin / "deliver"), "-C", str(conf), "someone"], input=message(),
                       capture_output=True, env=inst.env)
    assert r.returncode == 75
    assert b"cannot reach lmtpd" in r.stderr


def test_usage_exit_64(inst):
    assert deliver(inst, input=message()).returncode == 64
    assert deliver(inst, "-Z", "x", input=message()).returncode == 64


def test_config_from_environment(inst):
    u = user()
    env = dict(inst.env)
    env["ROOST_CONFIG"] = str(inst.config)
    r = deliver(inst, u, input=message(), config=False, env=env)
    assert r.returncode == 0, r.stderr
    assert len(Store(inst).messages(f"user.{u}")) == 1


def test_20mib_through_deliver(inst):
    u = user()
    msg = big_message(20, seed=9)
    r = deliver(inst, "-r", "big@example.com", u, input=lf(msg))
    assert r.returncode == 0, r.stderr
    (stored,) = Store(inst).messages(f"user.{u}")
    assert hashlib.sha256(strip_trace(stored)[1]).hexdigest() == hashlib.sha256(msg).hexdigest()


def test_cyrus_deliver_against_lmtpd(inst):
    if not os.access(CYRUS_DELIVER, os.X_OK):
        pytest.skip("Cyrus deliver (cyrus-common) not installed")
    u = user()
    msg = message(body=b"from Cyrus deliver\r\n.dot\r\n")
    r = subprocess.run([CYRUS_DELIVER, "-C", str(inst.config), "-r", "c@example.com", "-m",
                        "Lists", u], input=lf(msg), capture_output=True, timeout=60)
    assert r.returncode == 0, r
    (stored,) = Store(inst).messages(f"user.{u}.Lists")
    assert strip_trace(stored)[1] == msg

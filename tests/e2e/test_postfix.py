"""test_postfix.py - real Postfix delivering into Roost, as in the seed HOWTO.

A private Postfix instance (its own config_directory, queue_directory and
data_directory in a temporary directory, smtpd on a free loopback port,
mydestination empty, no delivery anywhere else: local, default and relay
transports are all "error:") hands mail for three virtual domains to Roost:

    roost.test        virtual_transport = lmtp:unix:<instance>/var/run/lmtp
    lmtp.roost.test   lmtp:inet:127.0.0.1:<ROOST_LMTP_PORT>      (transport_maps)
    pipe.roost.test   the seed HOWTO's pipe transport:
                      argv=<build>/bin/deliver -e -r ${sender} -m ${extension} ${user}

Mail is sent with swaks over SMTP.  The machine's own Postfix (/etc/postfix)
is never touched, and the instance is stopped in the fixture's finalizer.

Permissions (why the directories are made the way they are): Postfix's pipe
daemon refuses to run a command as root, so deliver runs as "nobody".  It
must reach the instance's lmtp socket (var/run/lmtp, mode 0777 like every
Roost unix socket) and read its imapd.conf, so the whole test tree lives in
a directory of mode 0755 made here rather than under pytest's private (0700)
tmp_path, and deliver finds the config through ROOST_CONFIG, which main.cf's
import_environment / export_environment hand to the pipe command (the argv
stays exactly the HOWTO's).  Postfix's lmtp client runs as the postfix user
and needs the same socket.  Sanitizer reports of deliver go to a sticky,
world-writable directory and fail the test like any other.
"""
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

import roost
from test_lmtp import Store, create_mailbox, set_acl

POSTFIX = "/usr/sbin/postfix"
SWAKS = shutil.which("swaks") or "/usr/bin/swaks"

pytestmark = pytest.mark.skipif(
    not (os.access(POSTFIX, os.X_OK) and os.access(SWAKS, os.X_OK) and os.geteuid() == 0),
    reason="needs root, postfix and swaks (tools/deps.sh installs them)")

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {pf}/queue
data_directory = {pf}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.roost.test
mydomain = roost.test
myorigin = roost.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_reject_unlisted_recipient = no
virtual_mailbox_domains = roost.test lmtp.roost.test pipe.roost.test
virtual_transport = lmtp:unix:{socket}
transport_maps = texthash:{pf}/etc/transport
recipient_delimiter = +
local_transport = error:5.1.1 no local delivery in this test
default_transport = error:5.4.4 no outside delivery in this test
relay_transport = error:5.4.4 no outside delivery in this test
alias_maps =
alias_database =
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
lmtp_host_lookup = native
smtputf8_enable = no
biff = no
maillog_file = {pf}/maillog
maillog_file_prefixes = {pf}
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
roostdeliver_destination_recipient_limit = 1
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C ROOST_CONFIG={config} ASAN_OPTIONS={asan} UBSAN_OPTIONS={ubsan}
export_environment = TZ MAIL_CONFIG LANG ROOST_CONFIG ASAN_OPTIONS UBSAN_OPTIONS
"""

MASTER_CF = """\
127.0.0.1:{smtp_port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
roostdeliver unix - n n - - pipe
  flags= user=nobody argv={deliver} -e -r ${{sender}} -m ${{extension}} ${{user}}
"""


class PrivatePostfix:
    def __init__(self, base, inst):
        self.dir = base / "postfix"
        self.etc = self.dir / "etc"
        self.etc.mkdir(parents=True)
        (self.dir / "queue").mkdir()       # postfix check makes its subdirectories
        (self.dir / "data").mkdir()
        shutil.chown(self.dir / "data", "postfix", "postfix")
        self.smtp_port = roost.free_port()
        self.maillog = self.dir / "maillog"
        # The pipe runs deliver as "nobody", who may not be able to reach the
        # checkout (a clone under /root, say): run a copy from our 0755 dir.
        deliver = base / "deliver"
        shutil.copy2((inst.bin / "deliver").resolve(), deliver)
        os.chmod(deliver, 0o755)
        (self.etc / "main.cf").write_text(MAIN_CF.format(
            pf=self.dir, socket=inst.info["ROOST_LMTP_SOCKET"], config=inst.config,
            asan=inst.env["ASAN_OPTIONS"], ubsan=inst.env["UBSAN_OPTIONS"]))
        (self.etc / "master.cf").write_text(MASTER_CF.format(smtp_port=self.smtp_port,
                                                             deliver=deliver))
        (self.etc / "transport").write_text(
            f"lmtp.roost.test lmtp:inet:127.0.0.1:{inst.port('lmtp')}\n"
            "pipe.roost.test roostdeliver:\n")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ASAN", "UBSAN", "LSAN"))}

    def run(self, *args, check=True):
        r = subprocess.run([POSTFIX, "-c", str(self.etc), *args], capture_output=True,
                           text=True, env=self.env, timeout=60)
        if check and r.returncode != 0:
            # Postfix prints its fatal errors only to a terminal (or syslog):
            # run it once more under script(1) to show why
            why = subprocess.run(["script", "-qec", " ".join([POSTFIX, "-c", str(self.etc),
                                                               *args]), "/dev/null"],
                                 capture_output=True, text=True, env=self.env, timeout=60)
            raise AssertionError(f"postfix {' '.join(args)} failed ({r.returncode}):\n"
                                 f"{r.stdout}{r.stderr}{why.stdout}\n{self.log()[-3000:]}")
        return r

    def start(self):
        self.run("check")
        self.run("start")
        roost.wait_port(self.smtp_port, timeout=20)

    def stop(self):
        r = self.run("stop", check=False)
        pidfile = self.dir / "queue" / "pid" / "master.pid"
        try:
            roost.wait_for(lambda: not pidfile.exists() or not _alive(pidfile), 15,
                           what="postfix master to stop")
        except TimeoutError:
            self.run("abort", check=False)
        return r

    def log(self):
        return self.maillog.read_text(errors="replace") if self.maillog.exists() else ""


def _alive(pidfile):
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, 0)
        return True
    except (ValueError, OSError, IndexError):
        return False


@pytest.fixture(scope="module")
def mta():
    base = Path(tempfile.mkdtemp(prefix="roost-postfix-"))
    os.chmod(base, 0o755)
    inst = roost.Instance(base / "roost")
    os.chmod(base / "roost", 0o755)
    os.chmod(inst.reports, 0o1777)
    pf = None
    try:
        inst.start()
        roost.wait_for(lambda: Path(inst.info["ROOST_LMTP_SOCKET"]).exists(), what="lmtp socket")
        for name in ("user.test1", "user.owner", "user.test1.Lists"):
            create_mailbox(inst, name)
        set_acl(inst, "user.test1.Lists", "anyone", "p")
        pf = PrivatePostfix(base, inst)
        pf.start()
        yield inst, pf
    finally:
        errors = []
        if pf is not None:
            pf.stop()
        try:
            inst.stop()
        except Exception as e:
            errors.append(str(e))
        try:
            inst.check_sanitizers()
        except AssertionError as e:
            errors.append(str(e))
        log = pf.log() if pf is not None else ""
        if os.environ.get("ROOST_KEEP_POSTFIX_LOG"):
            Path(os.environ["ROOST_KEEP_POSTFIX_LOG"]).write_text(log)
        shutil.rmtree(base, ignore_errors=True)
        if errors:
            pytest.fail("\n".join(errors) + "\npostfix log:\n" + log[-3000:])


def swaks(pf, to, sender="owner@roost.test", subject=None):
    subject = subject or f"swaks {uuid.uuid4().hex}"
    r = subprocess.run([SWAKS, "--server", f"127.0.0.1:{pf.smtp_port}", "--from", sender,
                        "--to", to, "--helo", "client.roost.test", "--header",
                        f"Subject: {subject}", "--body", "Sent by swaks.\n.a dotted line\n",
                        "--timeout", "30"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return subject


def wait_subject(inst, pf, mailbox, subject, timeout=30):
    st = Store(inst)

    def find():
        for m in st.messages(mailbox):
            if f"Subject: {subject}".encode() in m:
                return m
        return None
    try:
        return roost.wait_for(find, timeout, what=f"{subject} in {mailbox}")
    except TimeoutError:
        raise AssertionError(f"{subject} never reached {mailbox}; postfix log:\n"
                             f"{pf.log()[-4000:]}\nroost log:\n{inst.log()[-3000:]}")


def test_lmtp_unix_socket_delivery(mta):
    inst, pf = mta
    subject = swaks(pf, "test1@roost.test")
    m = wait_subject(inst, pf, "user.test1", subject)
    assert m.startswith(b"Return-Path: <owner@roost.test>\r\nReceived: from mx.roost.test (unix socket)")
    assert b"\r\n.a dotted line\r\n" in m
    assert "status=sent" in pf.log()


def test_lmtp_plus_address_to_folder(mta):
    inst, pf = mta
    subject = swaks(pf, "test1+Lists@roost.test")
    wait_subject(inst, pf, "user.test1.Lists", subject)


def test_lmtp_inet_delivery(mta):
    inst, pf = mta
    subject = swaks(pf, "test1@lmtp.roost.test")
    m = wait_subject(inst, pf, "user.test1", subject)
    assert b"Received: from mx.roost.test ([127.0.0.1])" in m


def test_unknown_user_bounces(mta):
    inst, pf = mta
    swaks(pf, "nosuchuser@roost.test", subject="to nobody")
    bounce = wait_subject(inst, pf, "user.owner", "Undelivered Mail Returned to Sender")
    assert b"nosuchuser@roost.test" in bounce
    assert b"550 5.1.1" in bounce
    roost.wait_for(lambda: "status=bounced" in pf.log(), 10, what="bounce logged")


def test_pipe_deliver_plus_address(mta):
    """The seed HOWTO's transport: deliver -e -r ${sender} -m ${extension} ${user}."""
    inst, pf = mta
    subject = swaks(pf, "test1+Lists@pipe.roost.test")
    m = wait_subject(inst, pf, "user.test1.Lists", subject)
    assert m.startswith(b"Return-Path: <owner@roost.test>\r\n")
    assert b"\r\n.a dotted line\r\n" in m
    # no extension: ${extension} is empty, so INBOX
    subject = swaks(pf, "test1@pipe.roost.test")
    wait_subject(inst, pf, "user.test1", subject)
    # an extension that names no folder the poster may use: INBOX
    subject = swaks(pf, "test1+Nope@pipe.roost.test")
    wait_subject(inst, pf, "user.test1", subject)


def test_pipe_deliver_unknown_user_bounces(mta):
    inst, pf = mta
    swaks(pf, "ghost@pipe.roost.test", subject="to a ghost")
    st = Store(inst)

    def bounced():
        return any(b"ghost" in m and b"Undelivered Mail" in m for m in st.messages("user.owner"))
    roost.wait_for(bounced, 30, what=f"bounce for ghost:\n{pf.log()[-3000:]}")

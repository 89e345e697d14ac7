#!/usr/bin/python3
"""imap_bench.py - Roost's imapd against Debian's Cyrus and Dovecot, one run.

    make bench                     (installs what it needs, builds -O2, runs this)
    tests/bench/imap_bench.py [--messages N] [--rounds R] [--only roost,cyrus,dovecot]

Each server gets a private instance in a temporary directory (Roost under
its master; Cyrus 3.6 from Debian's cyrus-imapd, unpacked into build/bench
because it conflicts with dovecot-imapd; Dovecot 2.3 from dovecot-imapd),
one user and the same N-message INBOX delivered over LMTP (the same
generated corpus: plain, multipart/alternative, base64 attachments, QP).
Then, for each server, on the same machine in the same run:

  sync     a Thunderbird-style first sync: SELECT INBOX, then
           UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From
           To Cc Subject Date Message-ID Priority X-Priority References
           Newsgroups In-Reply-To Content-Type Reply-To)]) - seconds, best
           of R rounds, on a fresh connection each time
  search   SEARCH TEXT "<word in 1% of the bodies>" (no full-text index on
           any server) - seconds, best of R
  search2  SEARCH TEXT of a word in no message (every message read)
  idle-rss memory of the server process holding one idle authenticated
           connection in IDLE: VmRSS and its private part (Private_Clean +
           Private_Dirty from /proc/PID/smaps_rollup), KiB

and prints a table with the ratios to Roost (>1 means Roost is faster /
smaller).  Nothing is asserted: the figures go into the issue notes.
"""
import argparse
import imaplib
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import roost  # noqa: E402

USER, PASSWORD = "bench", "benchpw"
FIELDS = ("From To Cc Subject Date Message-ID Priority X-Priority References Newsgroups "
          "In-Reply-To Content-Type Reply-To")
SYNC_CMD = f"UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS ({FIELDS})])"
NEEDLE = "quuxbenchneedle"
ABSENT = "zzqxabsentword"


def free_port():
    return roost.free_port()


def wait_port(port, timeout=20):
    roost.wait_port(port, timeout=timeout)


# ---- the corpus ----

WORDS = ("the of and to in is you that it he was for on are as with his they at be this have "
         "from or one had by word but not what all were we when your can said there use an each "
         "which she do how their if will up other about out many then them these so some her "
         "would make like him into time has look two more write go see number no way could "
         "people my than first water been call who oil its now find long down day did get come "
         "made may part über straße café naïve résumé").split()


def corpus(n, seed=7):
    rnd = random.Random(seed)
    msgs = []
    for i in range(n):
        words = [rnd.choice(WORDS) for _ in range(rnd.randint(200, 4000))]
        if i % 100 == 42:
            words.insert(rnd.randrange(len(words)), NEEDLE)
        text = ""
        line = []
        for w in words:
            line.append(w)
            if len(line) == 12:
                text += " ".join(line) + "\r\n"
                line = []
        text += " ".join(line) + "\r\n"
        subj = " ".join(rnd.choice(WORDS) for _ in range(6))
        head = (f"From: Sender {i % 37} <sender{i % 37}@example.org>\r\n"
                f"To: {USER}@localhost\r\n"
                f"Cc: list{i % 5}@example.net\r\n"
                f"Subject: {subj} {i}\r\n"
                f"Date: Mon, {1 + i % 28} Jun 2026 {i % 24:02d}:{i % 60:02d}:00 +0200\r\n"
                f"Message-ID: <bench.{i}@example.org>\r\n"
                f"References: <bench.{max(0, i - 1)}@example.org>\r\n"
                f"Received: from relay.example.org by mx.example.net; Mon, 1 Jun 2026 10:00:00 +0000\r\n"
                f"X-Mailer: bench\r\nMIME-Version: 1.0\r\n")
        kind = i % 4
        if kind == 0:
            msg = head + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + text
        elif kind == 1:
            msg = (head + 'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
                   "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text +
                   "--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>" +
                   text.replace("\r\n", "<br>\r\n") + "</p></body></html>\r\n--b1--\r\n")
        elif kind == 2:
            import base64
            blob = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1000, 20000)))
            b64 = base64.encodebytes(blob).decode().replace("\n", "\r\n")
            msg = (head + 'Content-Type: multipart/mixed; boundary="b2"\r\n\r\n'
                   "--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text +
                   '--b2\r\nContent-Type: application/octet-stream; name="data.bin"\r\n'
                   "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "--b2--\r\n")
        else:
            import quopri
            qp = quopri.encodestring(text.encode()).decode().replace("\n", "\r\n")
            msg = (head + "Content-Type: text/plain; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp)
        msgs.append(msg.encode())
    return msgs


def lmtp_deliver(host_port, rcpt, msgs):
    """One LMTP session delivering every message (pipelined per message)."""
    if isinstance(host_port, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(host_port)
    else:
        sock = socket.create_connection(host_port)
    f = sock.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if not line:
                raise RuntimeError("LMTP server closed")
            if line[3:4] != b"-":
                return line.decode(errors="replace").strip()

    reply()
    sock.sendall(b"LHLO bench\r\n")
    reply()
    for m in msgs:
        sock.sendall(b"MAIL FROM:<bench@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n" % rcpt.encode())
        for _ in range(3):
            r = reply()
            if not r.startswith(("250", "354")):
                raise RuntimeError(f"LMTP: {r}")
        body = b"\r\n".join((b"." + ln if ln.startswith(b".") else ln) for ln in m.split(b"\r\n"))
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        sock.sendall(body + b".\r\n")
        r = reply()
        if not r.startswith("250"):
            raise RuntimeError(f"LMTP DATA: {r}")
    sock.sendall(b"QUIT\r\n")
    sock.close()


# ---- measuring ----

def socket_owner(local_port, peer_port):
    """pid of the process holding the server side of a loopback TCP
    connection (server port local_port, client port peer_port)."""
    want = (f"{local_port:04X}", f"{peer_port:04X}")
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                parts = line.split()
                lport = parts[1].rsplit(":", 1)[1]
                rport = parts[2].rsplit(":", 1)[1]
                if (lport, rport) == want:
                    inode = parts[9]
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return int(pid)
        except OSError:
            continue
    return None


def memory_kib(pid):
    rss = private = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                private += int(line.split()[1])
    return rss, private


def login(port):
    m = imaplib.IMAP4("127.0.0.1", port, timeout=600)
    m.login(USER, PASSWORD)
    return m


def bench_server(name, port, rounds):
    res = {}
    best = None
    for _ in range(rounds):
        m = login(port)
        t0 = time.perf_counter()
        typ, data = m.select("INBOX")
        assert typ == "OK", (name, data)
        typ, data = m._simple_command("UID", *SYNC_CMD.split(" ", 1)[1:]) if False else (None, None)
        tag = m._new_tag().decode()
        m.send(f"{tag} {SYNC_CMD}\r\n".encode())
        count = 0
        while True:
            line = m.readline()
            if line.startswith(tag.encode() + b" "):
                assert b" OK" in line, (name, line)
                break
            mm = re.search(rb"\{(\d+)\}\r\n$", line)
            if mm:
                m.read(int(mm.group(1)))
            if line.startswith(b"* ") and b" FETCH " in line:
                count += 1
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
        m.logout()
    res["sync"] = best
    res["sync_count"] = count
    for key, word in (("search", NEEDLE), ("search2", ABSENT)):
        best = None
        for _ in range(rounds):
            m = login(port)
            m.select("INBOX", readonly=True)
            t0 = time.perf_counter()
            typ, data = m.search(None, "TEXT", word)
            dt = time.perf_counter() - t0
            assert typ == "OK", (name, data)
            res[key + "_hits"] = len(data[0].split())
            best = dt if best is None else min(best, dt)
            m.logout()
        res[key] = best
    # one idle authenticated connection in IDLE
    m = login(port)
    m.select("INBOX")
    tag = m._new_tag().decode()
    m.send(f"{tag} IDLE\r\n".encode())
    line = m.readline()
    assert line.startswith(b"+"), (name, line)
    time.sleep(0.5)
    pid = socket_owner(port, m.sock.getsockname()[1])
    res["rss"], res["private"] = memory_kib(pid) if pid else (None, None)
    m.send(b"DONE\r\n")
    m.readline()
    m.logout()
    return res


# ---- the servers ----

class RoostServer:
    name = "roost"

    def __init__(self, tmp):
        os.environ.setdefault("ROOST_BUILD", str(ROOT / "build"))
        self.inst = roost.Instance(Path(tmp) / "roost", extra_config="allowplaintext: yes\nadmins: cyrus\n"
                                   "autocreate_inbox: yes\n")
        self.inst.add_user(USER, PASSWORD)

    def start(self):
        self.inst.start()
        self.port = self.inst.port("imap")

    def populate(self, msgs):
        lmtp_deliver(self.inst.info["ROOST_LMTP_SOCKET"], f"{USER}@localhost", msgs)

    def stop(self):
        self.inst.stop()


class DovecotServer:
    name = "dovecot"

    def __init__(self, tmp):
        self.dir = Path(tmp) / "dovecot"
        self.dir.mkdir()
        self.port, self.lmtp_port = free_port(), free_port()
        nobody = pwd.getpwnam("nobody")
        home = self.dir / "home"
        home.mkdir()
        os.chown(home, nobody.pw_uid, nobody.pw_gid)
        (self.dir / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        self.conf = self.dir / "dovecot.conf"
        self.conf.write_text(f"""
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = {self.dir}/passwd
}}
userdb {{
  driver = static
  args = uid={nobody.pw_uid} gid={nobody.pw_gid} home={home}/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
service anvil {{
  chroot =
}}
""")
        os.chmod(self.dir, 0o755)
        os.chmod(tmp, 0o755)

    def start(self):
        self.proc = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_port(self.port)
        wait_port(self.lmtp_port)

    def populate(self, msgs):
        lmtp_deliver(("127.0.0.1", self.lmtp_port), USER, msgs)

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def cyrus_imapd_binary():
    """Debian's cyrus-imapd conflicts with dovecot-imapd, so its imapd is
    unpacked from the package into build/bench (cyrus-common, which holds
    master and lmtpd, comes with cyrus-clients)."""
    dest = ROOT / "build" / "bench" / "cyrus-imapd"
    imapd = dest / "usr" / "lib" / "cyrus" / "bin" / "imapd"
    if not imapd.exists():
        dl = ROOT / "build" / "bench" / "deb"
        dl.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "cyrus-imapd"], cwd=dl, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deb = sorted(dl.glob("cyrus-imapd_*.deb"))[-1]
        subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
    return imapd


class CyrusServer:
    name = "cyrus"

    def __init__(self, tmp):
        self.dir = Path(tmp) / "cyrus"
        for d in ("config", "spool", "run", "sieve"):
            (self.dir / d).mkdir(parents=True)
        self.port, self.lmtp_port = free_port(), free_port()
        imapd = cyrus_imapd_binary()
        self.imapd = Path(tmp) / "cyrus-imapd"
        shutil.copy(imapd, self.imapd)
        self.conf = self.dir / "imapd.conf"
        self.conf.write_text(f"""configdirectory: {self.dir}/config
defaultpartition: default
partition-default: {self.dir}/spool
sievedir: {self.dir}/sieve
admins: cyrus
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {self.dir}/sasldb2
sasl_mech_list: PLAIN LOGIN
lmtpsocket: {self.dir}/run/lmtp
idlesocket: {self.dir}/run/idle
notifysocket: {self.dir}/run/notify
syslog_prefix: cyrus-bench
servername: localhost
virtdomains: off
unixhierarchysep: no
""")
        self.cconf = self.dir / "cyrus.conf"
        self.cconf.write_text(f"""START {{
  recover cmd="/usr/lib/cyrus/bin/ctl_cyrusdb -C {self.conf} -r"
}}
SERVICES {{
  imap cmd="{self.imapd} -C {self.conf}" listen="127.0.0.1:{self.port}" prefork=1
  lmtp cmd="/usr/lib/cyrus/bin/lmtpd -C {self.conf} -a" listen="127.0.0.1:{self.lmtp_port}" prefork=1
}}
EVENTS {{
}}
""")
        for user, pw in ((USER, PASSWORD), ("cyrus", PASSWORD)):
            subprocess.run(["saslpasswd2", "-p", "-c", "-f", str(self.dir / "sasldb2"), "-u", "localhost",
                            user], input=pw.encode(), check=True)
        subprocess.run(["chown", "-R", "cyrus:mail", str(self.dir)], check=True)
        os.chmod(tmp, 0o755)

    def start(self):
        self.proc = subprocess.Popen(["/usr/lib/cyrus/bin/master", "-C", str(self.conf), "-M", str(self.cconf),
                                      "-p", str(self.dir / "run" / "master.pid"), "-D"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_port(self.port)
        wait_port(self.lmtp_port)
        m = imaplib.IMAP4("127.0.0.1", self.port)
        m.login("cyrus", PASSWORD)
        typ, data = m.create(f"user.{USER}")
        assert typ == "OK", data
        m.logout()

    def populate(self, msgs):
        lmtp_deliver(("127.0.0.1", self.lmtp_port), USER, msgs)

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="roost,cyrus,dovecot")
    args = ap.parse_args()
    only = args.only.split(",")
    msgs = corpus(args.messages)
    print(f"corpus: {len(msgs)} messages, {sum(map(len, msgs)) / 1e6:.1f} MB", flush=True)
    tmp = tempfile.mkdtemp(prefix="roost-bench-")
    os.chmod(tmp, 0o755)
    results = {}
    try:
        for cls in (RoostServer, CyrusServer, DovecotServer):
            if cls.name not in only:
                continue
            srv = cls(tmp)
            srv.start()
            try:
                t0 = time.perf_counter()
                srv.populate(msgs)
                load = time.perf_counter() - t0
                r = bench_server(cls.name, srv.port, args.rounds)
                r["load"] = load
                results[cls.name] = r
                print(f"{cls.name}: {r}", flush=True)
            finally:
                srv.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"{len(msgs)} messages; times in seconds (best of {args.rounds}), memory in KiB")
    cols = [n for n in ("roost", "cyrus", "dovecot") if n in results]
    hdr = f"{'':24}" + "".join(f"{c:>12}" for c in cols)
    ratios = [c for c in cols if c != "roost" and "roost" in results]
    hdr += "".join(f"{c + '/roost':>16}" for c in ratios)
    print(hdr)
    rows = (("LMTP load (N msgs)", "load"), ("first sync UID FETCH", "sync"),
            ("SEARCH TEXT (1% hit)", "search"), ("SEARCH TEXT (no hit)", "search2"),
            ("IDLE conn VmRSS", "rss"), ("IDLE conn private", "private"))
    for label, key in rows:
        line = f"{label:24}"
        for c in cols:
            v = results[c].get(key)
            line += f"{v:>12.3f}" if isinstance(v, float) else f"{v if v is not None else '-':>12}"
        for c in ratios:
            a, b = results[c].get(key), results["roost"].get(key)
            line += f"{a / b:>16.2f}" if a and b else f"{'-':>16}"
        print(line)
    for c in cols:
        print(f"{c}: sync returned {results[c]['sync_count']} FETCH responses; search hits "
              f"{results[c]['search_hits']} / {results[c]['search2_hits']}")


if __name__ == "__main__":
    main()

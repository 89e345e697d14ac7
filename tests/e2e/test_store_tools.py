"""The store's command-line tools (store/tools/*.c): mkimap, mbappend,
mbexamine, quota, ctl_mboxlist and reconstruct, run against an instance
directory made by roost.Instance (master is not started: these are the
tools an administrator runs on the files)."""
import fcntl
import re
import shutil
import struct
import subprocess
import time

import pytest

import roost


@pytest.fixture
def inst(tmp_path):
    i = roost.Instance(tmp_path)
    yield i
    i.check_sanitizers()


def run(inst, tool, *args, input=None, config=None, ok=True):
    """Run a tool with -C; returns (returncode, stdout, stderr) as text."""
    cmd = [str(roost.bin_dir() / tool), "-C", str(config or inst.config), *args]
    r = subprocess.run(cmd, input=input, capture_output=True, env=inst.env, timeout=120)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    if ok:
        assert r.returncode == 0, f"{tool} {args}: exit {r.returncode}\n{out}\n{err}"
    return r.returncode, out, err


def message(n, subject="hello"):
    return (f"From: Alice <alice@example.com>\nTo: test1@localhost\n"
            f"Subject: {subject} {n}\nDate: Mon, 7 Feb 1994 21:52:25 -0800\n"
            f"Message-ID: <{n}.{subject}@example.com>\n\nBody number {n}.\n").encode()


def append(inst, mailbox, n, *flags, config=None):
    args = ["-c"]
    for f in flags:
        args += ["-F", f]
    _, out, _ = run(inst, "mbappend", *args, mailbox, input=message(n), config=config)
    m = re.search(r"UIDVALIDITY (\d+) UID (\d+)", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def examine(inst, mailbox, *args, config=None):
    return run(inst, "mbexamine", *args, mailbox, config=config)[1]


def records(text):
    """mbexamine output -> {uid: (flags, keywords)}."""
    out = {}
    for m in re.finditer(r"UID:(\d+) .*\n\s+> FLAGS:\(([^)]*)\) KEYWORDS:\(([^)]*)\)", text):
        out[int(m.group(1))] = (m.group(2), m.group(3))
    return out


def mailbox_dir(inst, mailbox):
    m = re.search(r"Path: (\S+)", examine(inst, mailbox, "-q"))
    assert m
    return roost.Path(m.group(1))


def quota_lines(inst, *args):
    _, out, _ = run(inst, "quota", *args)
    lines = out.splitlines()
    assert lines[0] == "   Quota   % Used     Used Root"
    return lines[1:]


def write_config(path, configdir, spool):
    path.write_text(f"configdirectory: {configdir}\npartition-default: {spool}\n"
                    "defaultpartition: default\nadmins: cyrus\n")


# ---------------------------------------------------------------------------

def test_mkimap_creates_everything(inst, tmp_path):
    conf = tmp_path / "fresh.conf"
    configdir, spool = tmp_path / "fresh" / "config", tmp_path / "fresh" / "spool"
    write_config(conf, configdir, spool)
    _, out, _ = run(inst, "mkimap", config=conf)
    assert f"configuration directory: {configdir}" in out
    assert f"partition default: {spool}" in out
    assert spool.is_dir()
    for db in ("mailboxes", "quota", "seen", "subs", "deliver", "annotations"):
        assert (configdir / f"{db}.db").is_file(), db
    # again: harmless, and the store works
    run(inst, "mkimap", config=conf)
    append(inst, "user.test1", 1, config=conf)
    assert "UID:1 " in examine(inst, "user.test1", config=conf)
    # the instance itself was made with mkimap too
    assert (inst.dir / "config" / "mailboxes.db").is_file()
    rc, _, err = run(inst, "mkimap", "extra", ok=False)
    assert rc == 64 and "usage" in err


def test_mbappend_and_mbexamine(inst):
    uv, uid = append(inst, "user.test1", 1, "\\Seen", "foo")
    assert uid == 1
    assert append(inst, "user.test1", 2, "\\Flagged")[1] == 2
    assert append(inst, "user.test1", 3)[1] == 3
    out = examine(inst, "user.test1")
    assert "Name: user.test1" in out
    assert f"UIDVALIDITY: {uv}  UIDNEXT: 4" in out
    assert "Keywords (1): foo" in out
    assert "Records: 3  Exists: 3  Expunged: 0" in out
    assert "Deleted: 0  Unseen: 2  Answered: 0  Flagged: 1" in out
    recs = records(out)
    assert recs == {1: ("\\Seen", "foo"), 2: ("\\Flagged", ""), 3: ("", "")}
    assert 'SUBJECT:"hello 2"' in out and "FROM:alice@example.com" in out
    # the message is stored with CRLF line ends
    body = (mailbox_dir(inst, "user.test1") / "1.").read_bytes()
    assert body == message(1).replace(b"\n", b"\r\n")
    # one record by UID, by message number; quick mode leaves out the cache
    one = examine(inst, "user.test1", "-u", "2")
    assert list(records(one)) == [2]
    assert list(records(examine(inst, "user.test1", "-s", "3"))) == [3]
    assert "SUBJECT:" not in examine(inst, "user.test1", "-q")
    rc, _, err = run(inst, "mbexamine", "user.nobody", ok=False)
    assert rc == 1 and "no such mailbox" in err
    rc, _, err = run(inst, "mbappend", "user.nobody", input=b"x\n", ok=False)
    assert rc == 1 and "no such mailbox" in err


def test_mbexamine_shows_damage(inst):
    append(inst, "user.test1", 1)
    append(inst, "user.test1", 2)
    d = mailbox_dir(inst, "user.test1")
    data = bytearray((d / "roost.index").read_bytes())
    data[128 + 128 + 5] ^= 0x40               # record 2
    (d / "roost.index").write_bytes(bytes(data))
    (d / "roost.header").write_bytes(b"garbage")
    out = examine(inst, "user.test1")
    assert "roost.header: damaged" in out
    assert "record 1: damaged" in out
    assert list(records(out)) == [1]


def test_quota_report_and_fix(inst):
    for n in range(3):
        append(inst, "user.test1", n)
    append(inst, "user.test2", 9)
    size = sum(len(message(n).replace(b"\n", b"\r\n")) for n in range(3))
    assert quota_lines(inst) == []
    lines = quota_lines(inst, "-l", "1000,10", "user.test1")
    assert lines == [f"    1000        0 {size // 1024:8d} user.test1",
                     f"      10       30        3 user.test1 (messages)"]
    run(inst, "quota", "-l", "none", "user.test2")
    no_limit = f"{'':17s} {0:8d} user.test2"
    assert quota_lines(inst) == lines + [no_limit]
    assert quota_lines(inst, "user.test2") == [no_limit]

    # damage the stored usage (as a disk error would): patch quota.db,
    # then let mkimap make a fresh environment so nothing cached hides it
    configdir = inst.dir / "config"
    db = bytearray((configdir / "quota.db").read_bytes())
    rec = bytes([1]) + struct.pack(">qqqq", 1000, 10, size, 3)
    assert db.count(rec) == 1
    i = db.find(rec)
    db[i:i + 33] = bytes([1]) + struct.pack(">qqqq", 1000, 10, 900 * 1024, 7)
    (configdir / "quota.db").write_bytes(bytes(db))
    for f in configdir.glob("__db.*"):
        f.unlink()
    run(inst, "mkimap")
    assert quota_lines(inst, "user.test1")[0] == "    1000       90      900 user.test1"

    _, out, _ = run(inst, "quota", "-f")
    assert (f"user.test1: usage was {900 * 1024} bytes in 7 messages, "
            f"now {size} bytes in 3 messages") in out
    assert quota_lines(inst, "user.test1") == lines
    _, out, _ = run(inst, "quota", "-f")
    assert "usage was" not in out
    rc, _, _ = run(inst, "quota", "-l", "lots", "user.test1", ok=False)
    assert rc == 64


def test_ctl_mboxlist_round_trip(inst, tmp_path):
    append(inst, "user.test1", 1)
    append(inst, "user.test1.Sent", 2)
    append(inst, "shared.news", 3)
    append(inst, "example.com!user.x", 4)
    _, dump, _ = run(inst, "ctl_mboxlist", "-d")
    lines = dump.splitlines()
    assert [l.split("\t")[0] for l in lines] == [
        "example.com!user.x", "shared.news", "user.test1", "user.test1.Sent"]
    for line in lines:
        f = line.split("\t")
        assert f[1] == "0" and f[2] == "default" and re.fullmatch(r"[0-9a-f]{32}", f[3])
    assert lines[2].endswith("\ttest1\tlrswipkxtea\t")
    _, only, _ = run(inst, "ctl_mboxlist", "-d", "-p", "default")
    assert only == dump
    _, none, _ = run(inst, "ctl_mboxlist", "-d", "-p", "other")
    assert none == ""

    # into a fresh config directory over the same spool
    conf = tmp_path / "copy.conf"
    write_config(conf, tmp_path / "copy-config", inst.dir / "spool")
    run(inst, "mkimap", config=conf)
    run(inst, "ctl_mboxlist", "-u", input=dump.encode(), config=conf)
    _, again, _ = run(inst, "ctl_mboxlist", "-d", config=conf)
    assert again == dump
    assert list(records(examine(inst, "user.test1.Sent", config=conf))) == [1]

    # a damaged dump is refused with its line number
    bad = dump + "user.test9\t0\tdefault\tnot-a-uniqueid\t0\t\t\n"
    rc, _, err = run(inst, "ctl_mboxlist", "-u", input=bad.encode(), config=conf, ok=False)
    assert rc == 1 and "line 5" in err
    rc, _, err = run(inst, "ctl_mboxlist", "-u", input=b"just one field\n", config=conf,
                     ok=False)
    assert rc == 1 and "line 1" in err
    rc, _, _ = run(inst, "ctl_mboxlist", ok=False)
    assert rc == 64


def test_reconstruct_damaged_mailbox(inst):
    uv = 0
    for n in range(1, 6):
        uv, _ = append(inst, "user.test1", n, "\\Seen" if n % 2 else "\\Flagged", f"kw{n % 2}")
    run(inst, "quota", "-l", "10000", "user.test1")
    before = records(examine(inst, "user.test1"))
    d = mailbox_dir(inst, "user.test1")
    # the cache deleted, message 3 gone, record 5 cut off, a stray file
    for f in d.glob("roost.cache.*"):
        f.unlink()
    (d / "3.").unlink()
    with open(d / "roost.index", "r+b") as f:
        f.truncate(128 + 4 * 128)
    (d / "9.").write_bytes(b"Subject: stray\r\n\r\nleft over\r\n")
    assert "CACHE: not readable" in examine(inst, "user.test1")

    _, out, err = run(inst, "reconstruct", "user.test1")
    assert "user.test1: UID 3: message file missing: record dropped" in out
    assert "user.test1: rebuilt: 5 messages" in out
    assert "1 mailbox rebuilt (5 messages)" in err
    text = examine(inst, "user.test1")
    assert f"UIDVALIDITY: {uv}  UIDNEXT: 10" in text
    after = records(text)
    assert set(after) == {1, 2, 4, 5, 9}
    for uid in (1, 2, 4):
        assert after[uid] == before[uid]
    assert after[5] == ("", "")            # its record was cut off
    assert 'SUBJECT:"stray"' in text
    # usage agrees with a recount
    _, out, _ = run(inst, "quota", "-f")
    assert "usage was" not in out
    assert quota_lines(inst)[0].endswith(" user.test1")


def test_reconstruct_f_after_losing_the_config_directory(inst):
    append(inst, "user.test1", 1, "\\Seen")
    append(inst, "user.test1.Sent", 2, "\\Answered")
    append(inst, "shared.news", 3)
    _, dump, _ = run(inst, "ctl_mboxlist", "-d")
    before = {n: records(examine(inst, n)) for n in ("user.test1", "user.test1.Sent")}

    # the databases are gone: a new config directory, then reconstruct -f
    shutil.rmtree(inst.dir / "config")
    (inst.dir / "config").mkdir()
    run(inst, "mkimap")
    _, out, _ = run(inst, "ctl_mboxlist", "-d")
    assert out == ""
    _, out, err = run(inst, "reconstruct", "-f")
    assert out.count("inserted into the mailbox list") == 3
    assert "3 mailboxes rebuilt" in err
    _, again, _ = run(inst, "ctl_mboxlist", "-d")

    def fields(text):   # everything but the creation time
        return [line.split("\t")[:4] + line.split("\t")[5:] for line in text.splitlines()]
    assert fields(again) == fields(dump)
    for n, recs in before.items():
        assert records(examine(inst, n)) == recs
    # -r on a hierarchy; a second -f finds nothing more
    _, out, _ = run(inst, "reconstruct", "-r", "-f", "user.test1")
    assert "inserted" not in out
    assert "user.test1.Sent: rebuilt" in out and "shared.news" not in out
    rc, out, _ = run(inst, "reconstruct", "user.nobody", ok=False)
    assert rc == 1 and "user.nobody: no such mailbox" in out


def test_reconstruct_progress_on_long_runs(inst):
    append(inst, "user.big", 0)
    d = mailbox_dir(inst, "user.big")
    body = b"Subject: bulk\r\nFrom: a@b.example\r\n\r\n" + b"line of text\r\n" * 40
    for uid in range(2, 3002):
        (d / f"{uid}.").write_bytes(body)
    # a short run says nothing
    _, out, err = run(inst, "reconstruct", "user.big")
    assert "user.big: rebuilt: 3001 messages" in out
    # a long one (here: waiting 1.5 s for the mailbox's lock, which this
    # test holds) shows where it is
    with open(d / "roost.index", "r+b") as f:
        fcntl.lockf(f, fcntl.LOCK_EX)
        p = subprocess.Popen([str(roost.bin_dir() / "reconstruct"), "-C", str(inst.config),
                              "user.big"], env=inst.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        time.sleep(1.5)
        fcntl.lockf(f, fcntl.LOCK_UN)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    progress = [l for l in err.decode().splitlines() if l.startswith("reconstruct: mailbox ")]
    assert progress, err
    for line in progress:
        assert re.fullmatch(r"reconstruct: mailbox 1 of 1 \(user\.big\): message \d+ of 3001",
                            line), line

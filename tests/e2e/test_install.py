"""make install: daemons under libexec/roost, user commands prefixed roost-."""
import os
import subprocess

import roost


def test_install_layout(tmp_path):
    build = roost.build_dir()
    san = "1" if build.name == "check" else "0"
    subprocess.run(["make", "-s", "--no-print-directory", "install", f"SAN={san}",
                    f"BUILD={build}", f"DESTDIR={tmp_path}", "PREFIX=/usr"],
                   cwd=roost.ROOT, check=True, stdout=subprocess.DEVNULL)
    libexec = tmp_path / "usr" / "libexec" / "roost"
    bindir = tmp_path / "usr" / "bin"
    assert (libexec / "master").is_file() and os.access(libexec / "master", os.X_OK)
    assert (bindir / "roost-master").exists()
    for cmd in ["roost-config", "roost-mkcert", "roost-mkimap", "roost-reconstruct",
                "roost-quota", "roost-ctl_mboxlist", "roost-mbexamine"]:
        assert (bindir / cmd).is_file(), cmd
    # Nothing that would clash with Debian's cyrus packages.
    clashes = {"cyradm", "deliver", "imtest", "reconstruct", "quota", "mkimap", "master"}
    assert not clashes & {p.name for p in bindir.iterdir()}
    r = subprocess.run([str(bindir / "roost-config"), "--markdown"], capture_output=True)
    assert r.returncode == 0 and b"configdirectory" in r.stdout

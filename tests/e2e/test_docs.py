"""docs/config.md is generated from the key table and must match it."""
import subprocess

import roost


def test_config_md_matches_key_table():
    generated = subprocess.run([str(roost.bin_dir() / "roost-config"), "--markdown"],
                               check=True, capture_output=True, text=True).stdout
    on_disk = (roost.ROOT / "docs" / "config.md").read_text()
    assert generated == on_disk, "docs/config.md is stale: run `make docs`"


def test_roost_config_check_reports_file_and_line(tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("admins: cyrus\n\ntimeout: never\n")
    r = subprocess.run([str(roost.bin_dir() / "roost-config"), "-C", str(bad), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert f"{bad}:3: bad value for timeout" in r.stderr


def test_roost_config_unknown_key_warns(tmp_path):
    conf = tmp_path / "u.conf"
    conf.write_text("no_such_key: 1\n")
    r = subprocess.run([str(roost.bin_dir() / "roost-config"), "-C", str(conf), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0
    assert "unknown configuration key \"no_such_key\"" in r.stderr

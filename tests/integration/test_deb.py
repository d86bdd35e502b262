"""The Debian package: `make deb-test` builds it (dpkg-buildpackage, lintian with --fail-on
error,warning), installs it into a fresh Debian 12 root made by debootstrap, and runs droverd
and a service there (scripts/deb-test says each step). It builds from source whatever build is
under test, so `make test` runs it once, in its first build's pass (DROVER_ONCE_TESTS=1)."""
import os
import subprocess

import pytest

from conftest import ROOT

pytestmark = [
    pytest.mark.skipif(os.environ.get("DROVER_ONCE_TESTS") != "1",
                       reason="runs once per make test, in the first build's pass "
                              "(DROVER_ONCE_TESTS=1 runs it here)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap and chroot need root"),
]


def test_package_builds_is_lintian_clean_installs_and_runs():
    r = subprocess.run(["make", "-s", "deb-test"], cwd=ROOT, capture_output=True, text=True,
                       timeout=1500, stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    for step in ("droverd 0.1.0", "enabled: ", "hello", "== passed"):
        assert step in out, (step, out[-4000:])

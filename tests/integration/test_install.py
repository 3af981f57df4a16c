#!/usr/bin/env python3
"""make install (PREFIX, DESTDIR) lays out the files, and the man pages
render."""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403


@test
def install_lays_out_files():
    dest = make_tmpdir()
    rc, out = run_cmd(["make", "-s", "install", "DESTDIR=" + dest,
                       "PREFIX=/opt/gd"], timeout=300)
    check(rc == 0, "make install: %s" % out[-800:])
    root = dest + "/opt/gd"
    for f, mode in (("bin/guerrillad", 0o755),
                    ("lib/libguerrilla.a", 0o644),
                    ("include/guerrilla.h", 0o644),
                    ("share/man/man8/guerrillad.8", 0o644),
                    ("share/man/man5/guerrillad.conf.5", 0o644),
                    ("share/examples/guerrillad/sample.conf", 0o644),
                    ("share/examples/guerrillad/guerrillad.service", None),
                    ("share/examples/guerrillad/guerrillad.rc", None)):
        p = os.path.join(root, f)
        check(os.path.isfile(p), "missing %s" % f)
        if mode is not None:
            check(os.stat(p).st_mode & 0o777 == mode,
                  "%s has mode %o" % (f, os.stat(p).st_mode & 0o777))
    rc, out = run_cmd(target_cmd([
        root + "/bin/guerrillad", "check", "-c",
        root + "/share/examples/guerrillad/sample.conf"]))
    check(rc == 0, "installed sample.conf: %s" % out)


@test
def man_pages_render():
    for page, words in (("man/guerrillad.8", ("SIGNALS", "SIGUSR1",
                                              "EXIT STATUS")),
                        ("man/guerrillad.conf.5", ("allowed_hosts",
                                                   "save_process"))):
        rc, out = run_cmd(["man", "-l", "--warnings", page])
        check(rc == 0, "man -l %s: %s" % (page, out[-500:]))
        for w in words:
            check(w in out, "%s lacks %s" % (page, w))
        check("warning:" not in out and "troff:" not in out,
              "%s: %s" % (page, out[:500]))


if __name__ == "__main__":
    run_all()

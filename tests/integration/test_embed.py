#!/usr/bin/env python3
"""The embedding library (SPEC 10): examples/embed.c runs two daemons in
one process, each with its own chain and a processor of its own."""
import os
import signal
import smtplib
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

EMBED = os.path.join(ROOT, "examples", "embed")


def send(port, rcpt, subject):
    s = smtplib.SMTP("127.0.0.1", port, timeout=10)
    try:
        s.sendmail("a@b.c", [rcpt],
                   ("Subject: %s\r\n\r\nbody\r\n" % subject).encode())
    finally:
        s.quit()


def run_embed(binary):
    tmp = make_tmpdir()
    pa, pb = free_port(), free_port()
    while pb == pa:
        pb = free_port()
    log = open(os.path.join(tmp, "embed.log"), "wb")
    p = subprocess.Popen(target_cmd([binary, str(pa), str(pb), tmp]),
                         cwd=tmp, stdout=subprocess.PIPE, stderr=log)
    try:
        line = p.stdout.readline().decode()
        check(line.startswith("embed: serving"), "start: %r" % line)
        send(pa, "x@example.com", "to A")
        send(pb, "bob@example.com", "to B one")
        send(pb, "bob@example.com", "to B two")
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()
    check(p.returncode == 0, "exit %r" % p.returncode)
    check("embed: A counted 1, B counted 2" in out.decode(),
          "counts: %r" % out)
    with open(os.path.join(tmp, "embed.log"), "rb") as f:
        text = f.read().decode("utf-8", "replace")
    check('counter A: message 1 from <a@b.c> via 127.0.0.1, subject \\"to A\\"'
          in text, "A's processor did not log: %s" % text[-800:])
    check("counter B: message 2" in text, "B's log: %s" % text[-800:])
    new = os.path.join(tmp, "bob", "new")
    files = os.listdir(new) if os.path.isdir(new) else []
    check(len(files) == 2, "B's Maildir holds %r" % files)
    check(not os.path.exists(os.path.join(tmp, "x")),
          "A has no MailDir in its chain but stored mail")


@test
def two_daemons_in_one_process():
    check(os.path.exists(EMBED), "examples/embed is not built")
    run_embed(EMBED)


@test
def vendored_sources_build_with_one_cc_line():
    # README: copy the sources into another project and build them with
    # one cc line (everything but guerrillad.c, which holds main()).
    tmp = make_tmpdir()
    srcs = sorted(f for f in os.listdir(ROOT)
                  if f.endswith(".c") and f != "guerrillad.c")
    procs = sorted(os.path.join("processors", f)
                   for f in os.listdir(os.path.join(ROOT, "processors"))
                   if f.endswith(".c"))
    out = os.path.join(tmp, "embed")
    # CC and the Makefile's library variables from the environment
    # (tests/cross.sh sets them for its musl and aarch64 builds)
    env = os.environ.get
    cc = env("CC", "cc")
    cflags = (env("BEARSSL_CFLAGS", "") + " " + env("ZLIB_CFLAGS", "")).split()
    libs = (env("LDFLAGS", "") + " " + env("BEARSSL_LIBS", "-lbearssl") +
            " " + env("ZLIB_LIBS", "-lz")).split()
    cmd = [cc, "-std=c99", "-O1", "-I."] + cflags + ["-o", out,
           "examples/embed.c"] + srcs + procs + libs + ["-lpthread"]
    rc, text = run_cmd(cmd, timeout=120)
    check(rc == 0, "vendored build failed: %s" % text[-1500:])
    run_embed(out)


if __name__ == "__main__":
    run_all()

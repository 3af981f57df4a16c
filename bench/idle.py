#!/usr/bin/env python3
"""bench/idle.py - memory of idle sessions (part of `make bench`).

    python3 bench/idle.py [--sessions N]

Starts guerrillad (temporary config, as bench/run.py), smtp-sink and minsmtp,
reads each server's VmRSS after start, opens N (default 5,000) plaintext
sessions that stop after EHLO and stay open, reads VmRSS again and prints
RSS after start and RSS per idle session.  Linux only (/proc/PID/status).
"""
import os
import socket
import sys
import tempfile
import shutil
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: servers, tools, /proc helpers)


def ehlo_session(port):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    buf = b""
    while not buf.endswith(b"\r\n"):
        d = c.recv(4096)
        if not d:
            raise OSError("closed before greeting")
        buf += d
    if not buf.startswith(b"220"):
        raise OSError("greeting: %r" % buf[:80])
    c.sendall(b"EHLO bench.example.com\r\n")
    buf = b""
    while True:
        d = c.recv(4096)
        if not d:
            raise OSError("closed after EHLO")
        buf += d
        last = buf.rstrip(b"\r\n").split(b"\r\n")[-1]
        if buf.endswith(b"\r\n") and last[3:4] == b" ":
            break
    if not buf.startswith(b"250"):
        raise OSError("EHLO: %r" % buf[:80])
    return c


def measure(srv, n):
    time.sleep(0.3)
    rss0 = run.status_kib(srv.pid, "VmRSS")
    socks, err = [], None
    try:
        for _ in range(n):
            socks.append(ehlo_session(srv.port))
    except OSError as e:
        err = "after %d sessions: %s" % (len(socks), e)
    time.sleep(0.3)
    rss1 = run.status_kib(srv.pid, "VmRSS")
    alive = srv.proc.poll() is None
    for s in socks:
        s.close()
    return rss0, rss1, len(socks), err, alive


def idle_tls(tmp):
    """TODO(TLS): once tls.c lands (start_tls_on / tls_always_on accepted at
    load), start guerrillad with a throw-away certificate (openssl req -x509
    in tmp), open 1,000 sessions that do EHLO, STARTTLS and the handshake
    with python's ssl module (and 1,000 SMTPS ones), keep them idle and print
    RSS per idle TLS session like the plaintext figure.  Until then: None."""
    return None


def main():
    n = 5000
    args = sys.argv[1:]
    for i, a in enumerate(args):
        if a == "--sessions":
            n = int(args[i + 1])
    if not os.access(run.GUERRILLAD, os.X_OK):
        run.die("%s not built (make)" % run.GUERRILLAD)
    run.raise_nofile(max(20000, 2 * n + 500))
    src_exe, sink_exe = run.ensure_postfix_tools()
    minsmtp_exe = run.build_minsmtp()
    tmp = tempfile.mkdtemp(prefix="gd-bench-idle-")
    servers = run.start_servers(tmp, sink_exe, minsmtp_exe,
                                max_clients=n + 100)
    print()
    print("idle: %d plaintext sessions after EHLO; RSS = VmRSS" % n)
    print("    %-11s %14s %14s %16s" % ("server", "RSS at start",
                                          "RSS with idle", "per session"))
    try:
        for srv in servers:
            rss0, rss1, got, err, alive = measure(srv, n)
            per = (rss1 - rss0) * 1024.0 / got if got else None
            print("    %-11s %10.2f MiB %10.2f MiB %12s%s" % (
                srv.name, rss0 / 1024, rss1 / 1024,
                "-" if per is None else "%.0f B" % per,
                ("  (%s)" % err if err else "") +
                ("" if alive else "  (server died)")), flush=True)
        tls = idle_tls(tmp)
        print("    idle TLS sessions: %s" % (
            "TODO (no TLS yet)" if tls is None else tls))
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

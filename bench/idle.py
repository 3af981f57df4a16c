#!/usr/bin/env python3
"""bench/idle.py - memory of idle sessions (part of `make bench`).

    python3 bench/idle.py [--sessions N]

Starts guerrillad (temporary config, as bench/run.py), smtp-sink and minsmtp,
reads each server's VmRSS after start, opens N (default 5,000) plaintext
sessions that stop after EHLO and stay open, reads VmRSS again and prints
RSS after start and RSS per idle session.  Then 1,000 idle TLS sessions
(STARTTLS, handshake, EHLO) on guerrillad alone, the same way.  Linux only (/proc/PID/status).
"""
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import shutil
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: servers, tools, /proc helpers)


def read_reply(c):
    buf = b""
    while True:
        d = c.recv(4096)
        if not d:
            raise OSError("closed")
        buf += d
        last = buf.rstrip(b"\r\n").split(b"\r\n")[-1]
        if buf.endswith(b"\r\n") and last[3:4] == b" ":
            return buf


def ehlo_session(port):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    buf = read_reply(c)
    if not buf.startswith(b"220"):
        raise OSError("greeting: %r" % buf[:80])
    c.sendall(b"EHLO bench.example.com\r\n")
    buf = read_reply(c)
    if not buf.startswith(b"250"):
        raise OSError("EHLO: %r" % buf[:80])
    return c


def measure(srv, n):
    time.sleep(0.3)
    rss0 = run.status_kib(srv.pid, "VmRSS")
    srv.detail = start_detail(srv.pid)
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


def tls_session(port, ctx):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    if not read_reply(c).startswith(b"220"):
        raise OSError("no greeting")
    c.sendall(b"EHLO bench.example.com\r\n")
    read_reply(c)
    c.sendall(b"STARTTLS\r\n")
    if not read_reply(c).startswith(b"220"):
        raise OSError("STARTTLS refused")
    t = ctx.wrap_socket(c, server_hostname="bench.example.com")
    t.sendall(b"EHLO bench.example.com\r\n")
    if not read_reply(t).startswith(b"250"):
        raise OSError("EHLO over TLS refused")
    return t


def idle_tls(tmp, n=1000):
    """guerrillad alone (neither smtp-sink nor minsmtp speaks TLS here):
    n sessions that did EHLO, STARTTLS, the handshake (python's ssl, an
    ECDSA P-256 certificate made with openssl) and EHLO again, then idle.
    Returns the line to print."""
    key, crt = os.path.join(tmp, "k.pem"), os.path.join(tmp, "c.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", crt, "-days", "2",
                        "-subj", "/CN=bench.example.com"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        return "not measured (openssl could not make a certificate)"
    port = run.free_port()
    conf = run.guerrillad_config(tmp, port, False, max_clients=n + 100)
    with open(conf) as f:
        cfg = json.load(f)
    cfg["servers"][0]["tls"] = {"start_tls_on": True,
                                "private_key_file": key,
                                "public_key_file": crt}
    with open(conf, "w") as f:
        json.dump(cfg, f)
    srv = run.Server("guerrillad-tls", [run.GUERRILLAD, "serve", "-c", conf],
                     port, tmp)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    socks, err = [], None
    try:
        time.sleep(0.3)
        rss0 = run.status_kib(srv.pid, "VmRSS")
        try:
            for _ in range(n):
                socks.append(tls_session(port, ctx))
        except (OSError, ssl.SSLError) as e:
            err = "after %d sessions: %s" % (len(socks), e)
        time.sleep(0.3)
        rss1 = run.status_kib(srv.pid, "VmRSS")
    finally:
        for s in socks:
            s.close()
        srv.stop()
    got = len(socks)
    per = "%.0f B" % ((rss1 - rss0) * 1024.0 / got) if got else "-"
    return "%d after STARTTLS + EHLO: %.2f MiB -> %.2f MiB, %s per session%s" % (
        got, rss0 / 1024, rss1 / 1024, per, "  (%s)" % err if err else "")


def start_detail(pid):
    """What RSS at start is made of: the process's own anonymous memory
    and the file-backed pages it maps (mostly shared libraries, shared with
    every process that maps them)."""
    anon = run.status_kib(pid, "RssAnon")
    files = run.status_kib(pid, "RssFile")
    return "anon %.2f MiB + file-backed %.2f MiB" % (anon / 1024, files / 1024)


def static_deps(tmp):
    """RSS after start and stripped size of guerrillad linked with BearSSL
    and zlib statically (make guerrillad-static, as make STATIC_DEPS=1
    links); a reason instead when that link is not possible here."""
    r = subprocess.run(["make", "-s", "guerrillad-static"], cwd=run.ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        return "not built: %s" % r.stderr.decode(errors="replace").strip()
    exe = os.path.join(run.ROOT, "guerrillad-static")
    d = os.path.join(tmp, "static")
    os.makedirs(d, exist_ok=True)
    port = run.free_port()
    conf = run.guerrillad_config(d, port, False)
    srv = run.Server("guerrillad-static", [exe, "serve", "-c", conf], port, d)
    try:
        time.sleep(0.3)
        rss0 = run.status_kib(srv.pid, "VmRSS")
        detail = start_detail(srv.pid)
    finally:
        srv.stop()
    sz = run.stripped_size(exe)
    size = "-" if sz is None else "%.0f KiB" % (sz / 1024.0)
    return "RSS at start %.2f MiB (%s), stripped %s" % (rss0 / 1024, detail,
                                                        size)


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
        print("    RSS at start of guerrillad: %s" % servers[0].detail,
              flush=True)
        print("    idle TLS sessions (guerrillad): %s" % idle_tls(tmp),
              flush=True)
        print("    BearSSL and zlib linked statically (make STATIC_DEPS=1): %s"
              % static_deps(tmp), flush=True)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

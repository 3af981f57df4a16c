#!/usr/bin/env python3
"""Signals and graceful shutdown (SMTP-61, OPS-07, OPS-09, OPS-10, LOG-01,
LOG-04)."""
import json
import os
import re
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

QUEUED_RE = r"250 2\.0\.0 OK: queued as [0-9a-f]{12}"
SAYONARA = ("421 4.3.0 Server is shutting down. Please try again later. "
            "Sayonara!")
N_UPLOADS = 20
_results = {}


def start_upload(d, i, token):
    c = d.client()
    c.send("EHLO c%d.example\r\n" % i)
    c.reply()
    c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
    c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
    c.expect("DATA", DATA_REPLY_354)
    c.send(b"Subject: upload %d\r\n\r\nfirst half of %s\r\n" %
           (i, token.encode()))
    return c


def finish_upload(c, token):
    """Send the rest; returns the final reply line or 'closed'."""
    try:
        c.send(b"second half of %s\r\n.\r\n" % token.encode())
        r = c.readline()
    except (EOFError, ConnectionResetError, BrokenPipeError) as e:
        return "closed", str(e)
    after = None
    if r.startswith("250 "):
        try:
            after = c.readline(timeout=5)
        except (EOFError, ConnectionResetError):
            after = "closed"
        except socket.timeout:
            after = "open"
    return r, after


@test
def sigterm_with_uploads_in_flight():
    d = Daemon()
    tokens = ["tok-%d-%d-%x" % (os.getpid(), i, int(time.time() * 1e6))
              for i in range(N_UPLOADS)]
    clients = [start_upload(d, i, tokens[i]) for i in range(N_UPLOADS)]
    idle = d.client()
    idle.expect("NOOP", "250 2.0.0 OK")
    partial = d.client()
    partial.send("MAIL FROM:<a@b")          # mid-line: idle too
    time.sleep(0.2)
    t0 = time.monotonic()
    d.send_signal(signal.SIGTERM)
    # the idle sessions are told at once (SMTP-61 [DEV])
    for who, c in (("idle", idle), ("mid-line", partial)):
        r = c.readline(timeout=5)
        check(r == SAYONARA, "%s client got %r" % (who, r))
        check(time.monotonic() - t0 < 3, "421 to the %s client took "
              "%.2fs" % (who, time.monotonic() - t0))
        c.expect_eof()
    # the listener is closed: no new sessions
    try:
        s = socket.create_connection(("127.0.0.1", d.port), timeout=3)
        try:
            s.settimeout(3)
            data = s.recv(512)
        except (ConnectionResetError, socket.timeout):
            data = b""
        s.close()
        check(not data.startswith(b"220"), "new session greeted after "
              "SIGTERM: %r" % data)
    except ConnectionRefusedError:
        pass
    outcomes = [finish_upload(c, t) for c, t in zip(clients, tokens)]
    for c in clients:
        c.close()
    rc = d.wait(15)
    check(rc is not None, "daemon still running 15 s after SIGTERM")
    el = time.monotonic() - t0
    check(el < 10, "daemon needed %.1fs to exit after SIGTERM" % el)
    d.stop()    # checks exit status 0
    log = d.log_text()
    check("Shutdown completed, exiting." in log, "log: %s" % d.log_tail())
    stored = [split_delivery(m[1]) for m in d.messages()]
    for i, (tok, (r, after)) in enumerate(zip(tokens, outcomes)):
        n = sum(1 for b in stored if tok.encode() in b)
        if re.fullmatch(QUEUED_RE, r):
            check(n == 1, "client %d got %r but its message is stored %d "
                  "times" % (i, r, n))
            want = (b"Subject: upload %d\n\nfirst half of %s\n"
                    b"second half of %s\n" % (i, tok.encode(), tok.encode()))
            check(want in stored, "client %d: stored bytes differ" % i)
        else:
            check(r == "closed" or r.startswith("4"),
                  "client %d got %r (%s)" % (i, r, after))
            check(n == 0, "client %d got %r yet its message was stored" %
                  (i, r))
    _results["outcomes"] = outcomes


@test
def sigterm_lets_data_sessions_finish():
    # SMTP-61 [DEV]: sessions in DATA finish; each then gets the 421
    outcomes = _results.get("outcomes")
    check(outcomes is not None, "previous test did not run to the end")
    for i, (r, after) in enumerate(outcomes):
        check(re.fullmatch(QUEUED_RE, r), "client %d: %r (%s)" %
              (i, r, after))
        check(after == SAYONARA, "client %d: after the 250 got %r" %
              (i, after))


@test
def sigterm_while_saving():
    d = Daemon(overrides={"backend_config": {"sleep_seconds": 2}})
    with d.client() as c:
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        c.send(b"Subject: saving\r\n\r\nin the worker\r\n.\r\n")
        time.sleep(0.5)
        d.send_signal(signal.SIGTERM)
        r = c.readline(timeout=8)
        check(re.fullmatch(QUEUED_RE, r), "reply %r" % r)
        check(c.readline(timeout=5) == SAYONARA, "no 421 after the 250")
        c.expect_eof()
    rc = d.wait(10)
    check(rc == 0, "exit status %r" % rc)
    d.stop()
    check(len(d.messages()) == 1, "message lost")


@test
def sigterm_after_save_timeout():
    # the session got its 451 and waits for the stuck worker; SIGTERM then
    # lets the worker finish and the session gets the 421
    d = Daemon(overrides={"backend_config": {"sleep_seconds": 3,
                                             "gw_save_timeout": "1s"}})
    with d.client() as c:
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        c.send(b"Subject: stuck\r\n\r\n.\r\n")
        r = c.readline(timeout=5)
        check(r == "451 4.3.0 Error: transaction timeout", "reply %r" % r)
        d.send_signal(signal.SIGTERM)
        r = c.readline(timeout=8)
        check(r == SAYONARA, "after the 451 and SIGTERM: %r" % r)
        c.expect_eof()
    rc = d.wait(10)
    check(rc == 0, "exit status %r" % rc)
    d.stop()


@test
def sigterm_with_stalled_upload():
    # an upload that stops moving is cut by its idle timeout (SMTP-59);
    # then the shutdown completes
    d = Daemon(overrides={"servers": [server_cfg(timeout=2)]})
    c = d.client()
    c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
    c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
    c.expect("DATA", DATA_REPLY_354)
    c.send(b"Subject: stalled\r\n\r\nand then nothing")
    t0 = time.monotonic()
    d.send_signal(signal.SIGTERM)
    rc = d.wait(10)
    el = time.monotonic() - t0
    check(rc == 0, "exit status %r after %.1fs" % (rc, el))
    check(el < 5, "shutdown took %.1fs with a 2 s client timeout" % el)
    c.close()
    d.stop()
    check(d.messages() == [], "stalled upload stored")


@test
def sigint_and_sigquit_are_graceful():
    for sig in (signal.SIGINT, signal.SIGQUIT):
        d = Daemon()
        with d.client() as c:
            c.expect("NOOP", "250 2.0.0 OK")
            d.send_signal(sig)
            r = c.readline(timeout=5)
            check(r == SAYONARA, "signal %d: %r" % (sig, r))
            c.expect_eof()
        rc = d.stop(sig=sig, timeout=15)
        check(rc == 0, "signal %d: exit %r" % (sig, rc))
        check("Shutdown completed, exiting." in d.log_text(),
              "signal %d: log" % sig)


@test
def sighup_keeps_serving():
    # OPS-08: a reload that cannot be applied keeps the daemon running
    d = Daemon()
    with d.client() as c:
        d.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        c.expect("NOOP", "250 2.0.0 OK")
        r = c.transaction(b"Subject: hup\r\n\r\n.\r\n")
        check(re.fullmatch(QUEUED_RE, r), "DATA %r" % r)
    with d.client() as c:
        c.expect("QUIT", "221 2.0.0 Bye")
    check(d.proc.poll() is None, "daemon exited after SIGHUP")
    d.stop()


@test
def log_format_and_lines():
    d = Daemon()
    with d.client() as c:
        r = c.transaction(b"Subject: l\r\n\r\n.\r\n")
        check(re.fullmatch(QUEUED_RE, r), "DATA %r" % r)
    d.stop()
    log = d.log_text()
    iface = "127.0.0.1:%d" % d.port
    for want in ("Listening on TCP %s" % iface,
                 "Handle client [127.0.0.1], id: 1",
                 "Server [%s] has stopped accepting new clients" % iface,
                 "shutdown completed for [%s]" % iface,
                 "Backend shutdown completed",
                 "processing worker started",
                 "Shutdown completed, exiting."):
        check(want in log, "log lacks %r (LOG-04): %s" % (want, log[-800:]))
    line_re = re.compile(r'time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d'
                         r'(\.\d+)?(Z|[+-]\d\d:\d\d)" '
                         r'level=(debug|info|warning|error|fatal|panic) '
                         r'msg="')
    for line in log.splitlines():
        check(line_re.match(line), "LOG-01 format: %r" % line)


@test
def sigusr1_reopens_log():
    d = Daemon(start=False)
    path = os.path.join(d.dir, "main.log")
    d.config["log_file"] = path
    with open(d.conf, "w") as f:
        json.dump(d.config, f)
    d.cfg_log = path
    d.start()
    os.rename(path, path + ".1")
    d.send_signal(signal.SIGUSR1)
    check(wait_for(lambda: os.path.exists(path), 3),
          "log file not re-created after SIGUSR1")
    with d.client() as c:
        c.expect("QUIT", "221 2.0.0 Bye")
    check(wait_for(lambda: "Handle client" in open(path).read(), 3),
          "new log file does not get new entries")
    check("Handle client" not in open(path + ".1").read(),
          "rotated log still written")
    d.stop()


if __name__ == "__main__":
    run_all()

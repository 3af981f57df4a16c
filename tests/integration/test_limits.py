#!/usr/bin/env python3
"""Size, client and time limits (SMTP-04, SMTP-48, SMTP-59)."""
import os
import re
import select
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

QUEUED_RE = r"250 2\.0\.0 OK: queued as [0-9a-f]{12}"
TOO_BIG_100 = "552 5.3.4 Error: maximum DATA size exceeded (100)"


@test
def max_size_boundary():
    d = Daemon(overrides={"servers": [server_cfg(max_size=100)]})
    with d.client() as c:
        c.send("EHLO c.example\r\n")
        ehlo = c.reply()
        check("250-SIZE 100" in ehlo, "EHLO %r" % ehlo)
        c.expect("MAIL FROM:<a@b.c> SIZE=100", "250 2.1.0 OK")
        c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        c.send(b"A" * 99 + b"\r\n.\r\n")        # stored: 99 + LF = 100
        r = c.reply1()
        check(re.fullmatch(QUEUED_RE, r), "100 octets: %r" % r)

        c.expect("MAIL FROM:<a@b.c> SIZE=101",
                 "552 5.3.4 Message size exceeds fixed maximum message size")
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        c.send(b"B" * 100 + b"\r\n.\r\n")       # stored would be 101
        r = c.reply1()
        check(r == TOO_BIG_100, "101 octets: %r" % r)
        # the session goes on and the transaction was reset
        c.expect("NOOP", "250 2.0.0 OK")
        c.expect("RCPT TO:<test@example.com>",
                 "503 5.5.1 Error: need MAIL command")
        # the limit counts stored octets: 50 x "C\r\n" is 150 on the wire,
        # 100 stored; "..\r\n" is stored as ".\n"
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        c.send(b"C\r\n" * 48 + b"..\r\n" * 2 + b".\r\n")
        r = c.reply1()
        check(re.fullmatch(QUEUED_RE, r), "150 wire / 100 stored: %r" % r)
        c.expect("QUIT", "221 2.0.0 Bye")
        c.expect_eof()
    bodies = sorted(split_delivery(m[1]) for m in d.messages())
    want = sorted([b"A" * 99 + b"\n", b"C\n" * 48 + b".\n" * 2])
    check(bodies == want, "stored %r" % bodies)
    d.stop()


@test
def oversize_flood_gets_552_and_close():
    d = Daemon(overrides={"servers": [server_cfg(max_size=100)]})
    with d.client() as c:
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        stop = threading.Event()

        def flood():
            chunk = (b"x" * 1022 + b"\r\n") * 64
            sent = 0
            try:
                while not stop.is_set() and sent < 1400000:
                    c.sock.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass
        t = threading.Thread(target=flood, daemon=True)
        t.start()
        try:
            r = c.readline(timeout=10)
        except ConnectionResetError as e:
            raise AssertionError("reset before any reply: %s" % e)
        finally:
            stop.set()
        check(r == TOO_BIG_100, "flood reply %r" % r)
        try:
            c.expect_eof(timeout=5)
        except ConnectionResetError:
            pass
        t.join(5)
    check(d.messages() == [], "oversized message stored")
    d.stop()


@test
def max_clients_answers_421():
    d = Daemon(overrides={"servers": [server_cfg(max_clients=2)]})
    c1 = d.client()
    c2 = d.client()
    c3 = d.client(greet=False)
    r = c3.readline()
    check(r == "421 4.7.0 mx.test Error: too many connections, try again "
          "later", "third client got %r" % r)
    c3.expect_eof()
    c3.close()
    # the two admitted sessions work
    c2.expect("NOOP", "250 2.0.0 OK")
    c1.expect("QUIT", "221 2.0.0 Bye")
    c1.expect_eof()
    c1.close()

    def admitted():
        c = d.client(greet=False)
        line = c.readline()
        if line.startswith("220 "):
            return c
        c.close()
        return None
    c4 = wait_for(admitted, timeout=3, step=0.1)
    check(c4, "no slot freed after a client quit")
    c4.expect("NOOP", "250 2.0.0 OK")
    c4.close()
    c2.close()
    d.stop()


@test
def idle_timeout_421():
    d = Daemon(overrides={"servers": [server_cfg(timeout=1)]})
    with d.client() as c:
        t0 = time.monotonic()
        r = c.readline(timeout=6)
        el = time.monotonic() - t0
        check(r == "421 4.4.2 mx.test Error: timeout exceeded",
              "idle client got %r" % r)
        check(0.7 <= el <= 3.0, "421 after %.2fs" % el)
        c.expect_eof()
    # the timer restarts after every reply
    with d.client() as c:
        for _ in range(4):
            time.sleep(0.6)
            c.expect("NOOP", "250 2.0.0 OK")
    d.stop()


@test
def trickled_command_is_cut():
    d = Daemon(overrides={"servers": [server_cfg(timeout=1)]})
    with d.client() as c:
        t0 = time.monotonic()
        line = b"MAIL FROM:<slowloris@example.com>\r\n"
        for i in range(len(line)):
            try:
                c.send(line[i:i + 1])
            except OSError:
                break
            r, _, _ = select.select([c.sock], [], [], 0.4)
            if r:
                break
        try:
            r = c.readline(timeout=3)
        except EOFError as e:
            raise AssertionError("closed without the 421: %s" % e)
        el = time.monotonic() - t0
        check(r == "421 4.4.2 mx.test Error: timeout exceeded",
              "trickling client got %r" % r)
        check(el <= 3.0, "cut only after %.2fs" % el)
        c.expect_eof()
    d.stop()


@test
def data_deadline_is_per_line():
    d = Daemon(overrides={"servers": [server_cfg(timeout=1)]})
    with d.client() as c:
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        # an upload that keeps moving is never cut (about 3 s in all)
        for i in range(8):
            c.send(b"line %d\r\n" % i)
            time.sleep(0.4)
        c.send(b".\r\n")
        r = c.reply1()
        check(re.fullmatch(QUEUED_RE, r), "slow upload: %r" % r)
        # a line trickled byte by byte in DATA is cut, nothing stored
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        t0 = time.monotonic()
        closed = False
        for _ in range(15):
            try:
                c.send(b"z")
            except OSError:
                closed = True
                break
            r, _, _ = select.select([c.sock], [], [], 0.4)
            if r:
                break
        el = time.monotonic() - t0
        # SMTP-59: closed without storing; SMTP-49 allows a 451 first
        if not closed:
            try:
                line = c.readline(timeout=2)
                check(line.startswith("451 4.3.0 "), "got %r" % line)
                c.expect_eof()
            except (EOFError, ConnectionResetError):
                pass
        check(el <= 3.0, "trickled DATA line cut only after %.2fs" % el)
    bodies = [split_delivery(m[1], proto="SMTP") for m in d.messages()]
    check(bodies == [b"".join(b"line %d\n" % i for i in range(8))],
          "stored %r" % bodies)
    d.stop()


if __name__ == "__main__":
    run_all()

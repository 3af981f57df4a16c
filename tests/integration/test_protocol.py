#!/usr/bin/env python3
"""SMTP command-level behaviour over raw sockets (SPEC 3.3-3.11, 9)."""
import os
import re
import socket
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

GREETING_RE = (r"220 mx\.test SMTP Guerrilla\(.+\) #%d \(%d\) "
               r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)")

EHLO_REPLY = [
    "250-mx.test Hello",
    "250-SIZE 10485760",
    "250-PIPELINING",
    "250-ENHANCEDSTATUSCODES",
    "250-8BITMIME",
    "250 HELP",
]


def expect_reply(c, line, lines):
    c.send(line + "\r\n")
    got = c.reply()
    check(got == lines, "%r: expected %r, got %r" % (line, lines, got))


@test
def greeting_format():
    d = Daemon()
    c1 = d.client()
    check(re.fullmatch(GREETING_RE % (1, 1), c1.greeting),
          "greeting %r" % c1.greeting)
    c2 = d.client()         # SMTP-10: client id 2, 2 active sessions
    check(re.fullmatch(GREETING_RE % (2, 2), c2.greeting),
          "second greeting %r" % c2.greeting)
    c1.expect("QUIT", "221 2.0.0 Bye")
    c1.expect_eof()
    c2.expect("QUIT", "221 2.0.0 Bye")
    c2.expect_eof()
    d.stop()


@test
def ehlo_helo_replies():
    d = Daemon()
    with d.client() as c:
        expect_reply(c, "EHLO client.example", EHLO_REPLY)
        c.expect("HELO client.example", "250 mx.test Hello")
        expect_reply(c, "ehlo [127.0.0.1]", EHLO_REPLY)
        expect_reply(c, "EHLO [IPv6:::1]", EHLO_REPLY)
        # SMTP-19: missing / illegal argument
        c.expect("HELO", "550 5.5.2 Syntax error")
        c.expect("EHLO", "550 5.5.2 Syntax error")
        c.expect("HELO bad_name.example", "550 5.5.2 Syntax error")
        c.expect("HELO a.example junk", "550 5.5.2 Syntax error")
        c.expect("HELO [1.2.3.4]", "550 5.5.2 Syntax error")
        # [DEV] trailing blanks are ignored (SMTP-17)
        c.expect("HELO c.example \t ", "250 mx.test Hello")
        # syntax errors do not count as unrecognised commands (SMTP-15)
        c.expect("NOOP", "250 2.0.0 OK")
        c.expect("QUIT", "221 2.0.0 Bye")
        c.expect_eof()
    d.stop()


@test
def simple_commands():
    d = Daemon()
    with d.client() as c:
        c.expect("NOOP", "250 2.0.0 OK")
        c.expect("noop", "250 2.0.0 OK")
        c.expect("VRFY test", "252 2.5.0 Cannot verify user")
        c.expect("VRFY", "252 2.5.0 Cannot verify user")
        expect_reply(c, "HELP", [
            "214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT "
            "VRFY HELP",
            "214 2.0.0 End of HELP info"])
        c.expect("RSET", "250 2.1.0 OK")
        # SMTP-13: prefix matching, kept for compatibility
        c.expect("NOOPX", "250 2.0.0 OK")
        # SMTP-11: bare LF command line
        c.send("NOOP\n")
        check(c.reply1() == "250 2.0.0 OK", "bare-LF NOOP")
        c.send("QUIT\r\n")
        check(c.reply1() == "221 2.0.0 Bye", "QUIT")
        c.expect_eof()
    d.stop()


@test
def sequence_errors():
    d = Daemon()
    with d.client() as c:
        c.send("EHLO c.example\r\n")
        c.reply()
        c.expect("RCPT TO:<test@example.com>",
                 "503 5.5.1 Error: need MAIL command")
        c.expect("DATA", "503 5.5.1 Error: No sender")
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("MAIL FROM:<a@b.c>", "503 5.5.1 Error: nested MAIL command")
        c.expect("DATA", "503 5.5.1 Error: No recipients")
        c.expect("RSET", "250 2.1.0 OK")
        # SMTP-22 [DEV]: the null sender opens a transaction too
        c.expect("MAIL FROM:<>", "250 2.1.0 OK")
        c.expect("MAIL FROM:<a@b.c>", "503 5.5.1 Error: nested MAIL command")
        c.expect("RSET", "250 2.1.0 OK")
        c.expect("RCPT TO:<test@example.com>",
                 "503 5.5.1 Error: need MAIL command")
        # HELO/EHLO resets the transaction (SMTP-17)
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("HELO c.example", "250 mx.test Hello")
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("QUIT", "221 2.0.0 Bye")
    d.stop()


@test
def relay_and_postmaster():
    d = Daemon()
    with d.client() as c:
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("RCPT TO:<x@other.org>",
                 "454 4.1.1 Error: Relay access denied: other.org")
        c.expect("RCPT TO:<x@[1.2.3.4]>",
                 "454 4.1.1 Error: Relay access denied: 1.2.3.4")
        c.expect("RCPT TO:<x@sub.example.com>",
                 "454 4.1.1 Error: Relay access denied: sub.example.com")
        c.expect("RCPT TO:<test@EXAMPLE.com>", "250 2.1.5 OK")
        c.expect("RCPT TO:<other@localhost>", "250 2.1.5 OK")
        c.expect("RCPT TO:<PostMaster>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        c.send("Subject: relay\r\n\r\nhi\r\n.\r\n")
        r = c.reply1()
        check(re.fullmatch(r"250 2\.0\.0 OK: queued as [0-9a-f]{12}", r),
              "after DATA: %r" % r)
        c.expect("QUIT", "221 2.0.0 Bye")
    # relay-denied recipients were not added: only test, other, postmaster
    msgs = d.messages("test")
    check(len(msgs) == 1, "test mailbox has %d messages" % len(msgs))
    check(len(d.messages("other")) == 1, "other mailbox")
    check(msgs[0][1] == d.messages("other")[0][1],
          "test and other got different bytes")
    check(not os.path.exists(d.maildir("x")), "mailbox for refused x exists")
    pm = d.messages("postmaster")
    check(len(pm) == 1, "postmaster mailbox has %d messages" % len(pm))
    d.stop()


@test
def unrecognised_commands_close():
    d = Daemon()
    with d.client() as c:
        for i in range(4):
            c.expect("FOO%d" % i, "554 5.5.1 Unrecognized command")
            # valid commands and syntax errors do not reset the counter
            c.expect("NOOP", "250 2.0.0 OK")
        c.expect("MAIL FROM :<a@b.c>", "554 5.5.1 Too many unrecognized "
                 "commands")
        c.expect_eof()
    d.stop()


@test
def line_length_limit():
    d = Daemon()
    with d.client() as c:
        line = "NOOP " + "x" * (1024 - 2 - 5)     # 1024 octets with CRLF
        check(len(line) + 2 == 1024, "test bug")
        c.expect(line, "250 2.0.0 OK")
        line = "NOOP " + "x" * (1025 - 2 - 5)     # 1025 octets
        c.expect(line, "554 5.5.1 Line too long.")
        c.expect_eof()
    d.stop()


@test
def mail_parameters():
    d = Daemon()
    with d.client() as c:
        c.send("EHLO c.example\r\n")
        c.reply()
        c.expect("MAIL FROM:<a@b.c> SIZE=999999999",
                 "552 5.3.4 Message size exceeds fixed maximum message size")
        # no transaction was opened
        c.expect("RCPT TO:<test@example.com>",
                 "503 5.5.1 Error: need MAIL command")
        c.expect("MAIL FROM:<a@b.c> SIZE=10485761",
                 "552 5.3.4 Message size exceeds fixed maximum message size")
        c.expect("MAIL FROM:<a@b.c> SIZE=abc",
                 "501 5.5.4 Syntax error in parameters")
        c.expect("MAIL FROM:<a@b.c> BODY=BINARY",
                 "501 5.5.4 Syntax error in parameters")
        c.expect("MAIL FROM:<a@b.c> FOO=bar",
                 "555 5.5.4 Unsupported option: FOO")
        c.expect("MAIL FROM:<a@b.c> SIZE=10485760 BODY=8BITMIME",
                 "250 2.1.0 OK")
        c.expect("RCPT TO:<test@example.com> NOTIFY=NEVER",
                 "555 5.5.4 Unsupported option: NOTIFY")
        c.expect("RSET", "250 2.1.0 OK")
        c.expect("mail from:<a@b.c> size=100 body=7bit", "250 2.1.0 OK")
        c.expect("QUIT", "221 2.0.0 Bye")
    d.stop()


@test
def address_errors():
    d = Daemon()
    with d.client() as c:
        c.expect("MAIL FROM:a@b.c", "501 5.5.4 Invalid address")
        c.expect("MAIL FROM:<a@b.c", "501 5.5.4 Invalid address")
        c.expect("MAIL FROM:<a..b@b.c>", "501 5.5.4 Invalid address")
        # SMTP-35 oracles from GG
        c.expect("MAIL FROM:<%s@grr.la>" % ("a" * 129),
                 "550 5.5.4 Local part too long, cannot exceed 64 characters")
        path = "<" + "a" * 64 + "@" + "b" * 186 + ".la>"
        check(len(path) == 256, "test bug")
        c.send("MAIL FROM:%s\r\n" % path)
        r = c.reply1()
        check(r != "550 5.5.4 Path too long", "256-octet path: %r" % r)
        if r == "250 2.1.0 OK":
            c.expect("RSET", "250 2.1.0 OK")
        path = "<" + "a" * 64 + "@" + "b" * 187 + ".la>"
        c.expect("MAIL FROM:" + path, "550 5.5.4 Path too long")
        c.expect('MAIL FROM:<"john \\"q\\" doe"@b.c>', "250 2.1.0 OK")
        c.expect("RSET", "250 2.1.0 OK")
        c.expect("MAIL FROM: <a@b.c>", "250 2.1.0 OK")
        c.expect("RSET", "250 2.1.0 OK")
        c.expect("MAIL FROM:<%s@grr.la>" % ("a" * 127), "250 2.1.0 OK")
        c.expect("RCPT TO:<%s@example.com>" % ("a" * 129),
                 "550 5.5.4 Local part too long, cannot exceed 64 characters")
        c.expect("RCPT TO:<%s@example.com>" % ("a" * 127), "250 2.1.5 OK")
        c.expect("RCPT TO:<@relay.example:test@example.com>", "250 2.1.5 OK")
        c.expect("RCPT TO:<x@%s.com>" % ("b." * 130),
                 "550 5.5.4 Path too long")
        c.expect("RCPT TO:<x@exa_mple.com>", "501 5.5.4 Invalid address")
        c.expect("QUIT", "221 2.0.0 Bye")
    d.stop()


@test
def recipient_limit_100():
    d = Daemon()
    with d.client() as c:
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.send("".join("RCPT TO:<u%d@example.com>\r\n" % i
                       for i in range(101)))
        for i in range(100):
            r = c.reply1()
            check(r == "250 2.1.5 OK", "rcpt %d: %r" % (i, r))
        r = c.reply1()
        check(r == "452 4.5.3 Too many recipients", "rcpt 101: %r" % r)
        c.expect("RCPT TO:<u999@example.com>",
                 "452 4.5.3 Too many recipients")
        c.expect("RSET", "250 2.1.0 OK")
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("RCPT TO:<u0@example.com>", "250 2.1.5 OK")
        c.expect("QUIT", "221 2.0.0 Bye")
    d.stop()


@test
def ipv6_listener():
    d = Daemon(overrides={"servers": [{
        "is_enabled": True, "host_name": "mx.test",
        "listen_interface": "[::1]:PORT", "max_size": 10485760,
        "timeout": 30, "max_clients": 100}]}, family=socket.AF_INET6)
    with d.client() as c:
        check(re.fullmatch(GREETING_RE % (1, 1), c.greeting),
              "greeting %r" % c.greeting)
        c.send("EHLO c.example\r\n")
        c.reply()
        r = c.transaction("Subject: v6\r\n\r\nover v6\r\n.\r\n")
        check(r.startswith("250 2.0.0 OK: queued as "), "DATA: %r" % r)
        c.expect("QUIT", "221 2.0.0 Bye")
    msgs = d.messages()
    check(len(msgs) == 1, "%d messages" % len(msgs))
    body = split_delivery(msgs[0][1], ip="::1")
    check(body == b"Subject: v6\n\nover v6\n", "stored %r" % body)
    # an IPv4 client cannot reach an [::1] listener
    try:
        s = socket.create_connection(("127.0.0.1", d.port), timeout=2)
        s.close()
        raise AssertionError("IPv4 connect to an [::1] listener succeeded")
    except ConnectionRefusedError:
        pass
    d.stop()


@test
def proxy_and_xclient_off_by_default():
    d = Daemon()
    with d.client() as c:
        # SMTP-08 / SMTP-41: not recognised unless configured
        c.expect("PROXY TCP4 1.2.3.4 5.6.7.8 1 2",
                 "554 5.5.1 Unrecognized command")
        c.expect("XCLIENT ADDR=1.2.3.4", "554 5.5.1 Unrecognized command")
        c.expect("STARTTLS", "554 5.5.1 Unrecognized command")
        c.expect("QUIT", "221 2.0.0 Bye")
    d.stop()


@test
def pipelining_flood_in_order():
    import threading
    d = Daemon()
    with d.client() as c:
        n = 5000
        cmds = []
        for i in range(n):
            cmds.append(("NOOP", "250 2.0.0 OK") if i % 3 else
                        ("VRFY u%d" % i, "252 2.5.0 Cannot verify user"))
        data = "".join(x[0] + "\r\n" for x in cmds).encode()
        t = threading.Thread(target=c.send, args=(data,), daemon=True)
        t.start()
        for i, (cmd, want) in enumerate(cmds):
            try:
                r = c.reply1(timeout=5)
            except socket.timeout:
                raise AssertionError("replies stalled after %d of %d "
                                     "pipelined commands" % (i, n))
            check(r == want, "reply %d to %r: %r" % (i, cmd, r))
        t.join(10)
        c.expect("QUIT", "221 2.0.0 Bye")
        c.expect_eof()
    d.stop()


@test
def xclient_when_enabled():
    d = Daemon(overrides={"servers": [server_cfg(xclient_on=True)]})
    with d.client() as c:
        expect_reply(c, "HELP", [
            "214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT "
            "VRFY HELP XCLIENT",
            "214 2.0.0 End of HELP info"])
        expect_reply(c, "EHLO c.example", EHLO_REPLY)   # not advertised
        c.expect("XCLIENT", "250 2.1.0 OK")             # GAP-10: no crash
        c.expect("XCLIENT ADDR=not-an-ip HELO=[UNAVAILABLE]", "250 2.1.0 OK")
        c.expect("XCLIENT NAME=spike.porcupine.org ADDR=10.1.2.3 PORT=25 "
                 "garbage", "250 2.1.0 OK")
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("XCLIENT ADDR=10.9.9.9",
                 "503 5.5.1 Error: XCLIENT not allowed in a transaction")
        c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        c.send("Subject: xclient\r\n\r\n.\r\n")
        r = c.reply1()
        check(r.startswith("250 2.0.0 OK: queued as "), "DATA %r" % r)
        c.expect("XCLIENT ADDR=IPV6:2001:DB8:0:0::1", "250 2.1.0 OK")
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        c.send("Subject: xclient6\r\n\r\n.\r\n")
        r = c.reply1()
        check(r.startswith("250 2.0.0 OK: queued as "), "DATA %r" % r)
        c.expect("QUIT", "221 2.0.0 Bye")
    got = sorted(m[1] for m in d.messages())
    check(len(got) == 2, "%d messages" % len(got))
    ips = sorted(re.match(rb"[^\n]*\nReceived: from (\S+) ", m).group(1)
                 for m in got)
    check(ips == [b"10.1.2.3", b"2001:db8::1"], "Received from %r" % ips)
    d.stop()


@test
def proxy_protocol_v1():
    d = Daemon(overrides={"servers": [server_cfg(proxyon=True)]})
    # SMTP-05: the header comes before the greeting
    with d.client(greet=False) as c:
        check(not c.is_closed(0.5) and c.buf == b"",
              "server spoke before the PROXY header: %r" % c.buf)
        c.send("PROXY TCP4 192.0.2.7 127.0.0.1 40000 25\r\n")
        g = c.reply1()
        check(g.startswith("220 mx.test SMTP Guerrilla("), "greeting %r" % g)
        # SMTP-08: a second header is an ordinary unrecognised command
        c.expect("PROXY TCP4 198.51.100.1 127.0.0.1 1 2",
                 "554 5.5.1 Unrecognized command")
        r = c.transaction(b"Subject: proxied\r\n\r\n.\r\n")
        check(r.startswith("250 2.0.0 OK: queued as "), "DATA %r" % r)
        c.expect("QUIT", "221 2.0.0 Bye")
    msgs = d.messages()
    check(len(msgs) == 1, "%d messages" % len(msgs))
    split_delivery(msgs[0][1], ip="192.0.2.7", proto="SMTP")
    # SMTP-07: bad headers close the connection without any reply
    for bad in ("HELO x\r\n", "PROXY TCP4\r\n",
                "PROXY TCP4 1.2.3.04 127.0.0.1 1 2\r\n",
                "PROXY TCP6 1.2.3.4 127.0.0.1 1 2\r\n",
                "PROXY TCP4 1.2.3.4 127.0.0.1 1 2 " + "x" * 100 + "\r\n"):
        with d.client(greet=False) as c:
            c.send(bad)
            c.expect_eof(timeout=5)
    d.stop()


@test
def xclient_refused_from_untrusted_peer():
    # CFG-07a: XCLIENT only from xclient_trusted (here loopback is not)
    d = Daemon(overrides={"servers": [server_cfg(
        xclient_on=True, xclient_trusted=["192.0.2.0/24"])]})
    with d.client() as c:
        c.expect("XCLIENT ADDR=10.1.2.3",
                 "550 5.7.0 Error: insufficient authorization")
        r = c.transaction(b"Subject: x\r\n\r\nhi\r\n.\r\n")
        check(r.startswith("250 2.0.0 OK: queued as "), "DATA %r" % r)
    got = d.messages()
    check(len(got) == 1 and b"Received: from 127.0.0.1 " in got[0][1],
          "the spoofed address was used: %r" % (got,))
    d.stop()


if __name__ == "__main__":
    run_all()

#!/usr/bin/env python3
"""End-to-end delivery: real clients in, Maildir files out (SMTP-44..51,
PROC-11, PROC-16)."""
import datetime
import email.generator
import email.message
import email.utils
import io
import os
import re
import smtplib
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

QUEUED_RE = r"250 2\.0\.0 OK: queued as [0-9a-f]{12}"


def one_message(d, user="test"):
    msgs = d.messages(user)
    check(len(msgs) == 1, "expected 1 message for %s, found %d" %
          (user, len(msgs)))
    return msgs[0][1]


def check_date_recent(data):
    m = re.search(rb";\n\t([^\n]+)\n", data)
    check(m is not None, "no date line in %r" % data[:300])
    when = email.utils.parsedate_to_datetime(m.group(1).decode())
    now = datetime.datetime.now(datetime.timezone.utc)
    check(abs((now - when).total_seconds()) < 120,
          "Received date %r is not now" % m.group(1))


@test
def smtplib_data_exact_bytes():
    d = Daemon()
    msg = (b"From: a@b.c\r\nTo: test@example.com\r\nSubject: hello\r\n\r\n"
           b"line1\r\n.dotline\r\n..two dots\r\n"
           b"8bit: \xe9\xff\x80 nul:\x00 end\r\n"
           b"bare\rcr\r\n\r\n"
           b"last line without CRLF")
    s = smtplib.SMTP("127.0.0.1", d.port, local_hostname="client.example",
                     timeout=SOCK_TIMEOUT)
    try:
        code, _ = s.ehlo()
        check(code == 250, "EHLO %r" % code)
        check(s.has_extn("8bitmime") and s.has_extn("pipelining"),
              "EHLO features %r" % s.esmtp_features)
        check(s.esmtp_features.get("size") == "10485760",
              "SIZE %r" % s.esmtp_features.get("size"))
        r = s.mail("a@b.c")
        check(r == (250, b"2.1.0 OK"), "MAIL %r" % (r,))
        r = s.rcpt("test@example.com")
        check(r == (250, b"2.1.5 OK"), "RCPT %r" % (r,))
        code, text = s.data(msg)   # smtplib dot-stuffs and adds CRLF.CRLF
        check(code == 250 and re.fullmatch(
            rb"2\.0\.0 OK: queued as [0-9a-f]{12}", text),
            "DATA %r %r" % (code, text))
        r = s.quit()
        check(r == (221, b"2.0.0 Bye"), "QUIT %r" % (r,))
    finally:
        s.close()
    data = one_message(d)
    body = split_delivery(data)
    want = (b"From: a@b.c\nTo: test@example.com\nSubject: hello\n\n"
            b"line1\n.dotline\n..two dots\n"
            b"8bit: \xe9\xff\x80 nul:\x00 end\n"
            b"bare\rcr\n\n"
            b"last line without CRLF\n")
    check(body == want, "stored %r, want %r" % (body, want))
    check_date_recent(data)
    d.stop()


@test
def smtplib_send_message():
    d = Daemon()
    m = email.message.EmailMessage()
    m["From"] = "Sender <a@b.c>"
    m["To"] = "test@example.com"
    m["Bcc"] = "hidden@example.com"
    m["Subject"] = "caf\u00e9 society"
    m["Message-ID"] = email.utils.make_msgid(domain="b.c")
    m.set_content("Hello there.\n.leading dot line\nBye.\n")
    with smtplib.SMTP("127.0.0.1", d.port, timeout=SOCK_TIMEOUT) as s:
        refused = s.send_message(m)   # MAIL with SIZE=, RCPT x2
        check(refused == {}, "refused %r" % refused)
    # send_message drops Bcc from what it transmits
    del m["Bcc"]
    buf = io.BytesIO()
    email.generator.BytesGenerator(buf).flatten(m, linesep="\n")
    want = buf.getvalue()
    for user in ("test", "hidden"):
        body = split_delivery(one_message(d, user))
        check(body == want, "%s: stored %r, want %r" % (user, body, want))
    d.stop()


@test
def smtplib_sendmail_many():
    d = Daemon()
    with smtplib.SMTP("127.0.0.1", d.port, timeout=SOCK_TIMEOUT) as s:
        for i in range(5):
            refused = s.sendmail("a@b.c", ["test@example.com"],
                                 b"Subject: n%d\r\n\r\nbody %d\r\n" % (i, i))
            check(refused == {}, "refused %r" % refused)
    msgs = d.messages()
    check(len(msgs) == 5, "%d messages" % len(msgs))
    bodies = sorted(split_delivery(x[1]) for x in msgs)
    check(bodies == [b"Subject: n%d\n\nbody %d\n" % (i, i) for i in range(5)],
          "bodies %r" % bodies)
    ids = set(re.search(rb" id ([0-9a-f]{32})@", x[1]).group(1) for x in msgs)
    check(len(ids) == 5, "Received ids not unique: %r" % ids)
    d.stop()


@test
def raw_header_proto_and_storage_form():
    d = Daemon()
    with d.client() as c:
        # no HELO at all: plain SMTP (SMTP-20)
        r = c.transaction(b"a\rb\r\nc\nd\r\n\x00\xff\xfe\r\n\r\r\nz\r\n.\r\n")
        check(re.fullmatch(QUEUED_RE, r), "DATA 1 %r" % r)
        c.expect("HELO c.example", "250 mx.test Hello")
        r = c.transaction(b"Subject: helo\r\n\r\nx\r\n.\r\n")
        check(re.fullmatch(QUEUED_RE, r), "DATA 2 %r" % r)
        c.send("EHLO c.example\r\n")
        c.reply()
        # empty message: the terminator right after the 354
        r = c.transaction(b".\r\n")
        check(re.fullmatch(QUEUED_RE, r), "DATA 3 %r" % r)
        # [DEV] HELO clears ESMTP again (SMTP-20)
        c.expect("HELO c.example", "250 mx.test Hello")
        r = c.transaction(b"Subject: helo again\r\n\r\n.\r\n")
        check(re.fullmatch(QUEUED_RE, r), "DATA 4 %r" % r)
        c.expect("QUIT", "221 2.0.0 Bye")
    msgs = [m[1] for m in d.messages()]
    check(len(msgs) == 4, "%d messages" % len(msgs))
    got = {}
    for data in msgs:
        for proto in ("SMTP", "ESMTP"):
            m = HEADER_RE(proto=proto).match(data)
            if m:
                got[m.group(1)] = proto
    check(got.get(b"a\rb\nc\nd\n\x00\xff\xfe\n\r\nz\n") == "SMTP",
          "message 1 (bare CR/LF, NUL, 8-bit) %r" % msgs)
    check(got.get(b"Subject: helo\n\nx\n") == "SMTP", "message 2 %r" % msgs)
    check(got.get(b"") == "ESMTP", "message 3 (empty) %r" % msgs)
    check(got.get(b"Subject: helo again\n\n") == "SMTP",
          "message 4 (HELO after EHLO) %r" % msgs)
    d.stop()


@test
def dot_unstuffing():
    d = Daemon()
    with d.client() as c:
        r = c.transaction(b"Subject: dots\r\n\r\n..one\r\n.two\r\n...\r\n"
                          b". \r\n.\r\n")
        check(re.fullmatch(QUEUED_RE, r), "DATA %r" % r)
        c.expect("QUIT", "221 2.0.0 Bye")
    body = split_delivery(one_message(d), proto="SMTP")
    want = b"Subject: dots\n\n.one\ntwo\n..\n \n"
    check(body == want, "stored %r, want %r" % (body, want))
    d.stop()


@test
def smuggling_bare_lf_dot_does_not_end_data():
    d = Daemon()
    with d.client() as c:
        c.send("EHLO c.example\r\n")
        c.reply()
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        c.send(b"Subject: smuggle\r\n\r\nstart\n.\nMAIL FROM:<x@y.z>\r\n"
               b"RCPT TO:<evil1@example.com>\r\nDATA\r\nsmuggled-one\r\n"
               b"\r\n.\nMAIL FROM:<x@y.z>\r\nRCPT TO:<evil2@example.com>\r\n"
               b"DATA\r\nsmuggled-two\r\n"
               b"\n.\r\nMAIL FROM:<x@y.z>\r\nRCPT TO:<evil3@example.com>\r\n"
               b"DATA\r\nsmuggled-three\r\n")
        # nothing may be answered yet: still in DATA
        time.sleep(0.3)
        check(not c.is_closed(0.2) and c.buf == b"",
              "reply before the real terminator: %r" % c.buf)
        c.send(b"END-OF-BODY\r\n.\r\n")
        r = c.reply1()
        check(re.fullmatch(QUEUED_RE, r), "DATA %r" % r)
        c.expect("NOOP", "250 2.0.0 OK")
        c.expect("QUIT", "221 2.0.0 Bye")
    body = split_delivery(one_message(d))
    for token in (b"smuggled-one", b"smuggled-two", b"smuggled-three",
                  b"RCPT TO:<evil3@example.com>\n", b"END-OF-BODY\n"):
        check(token in body, "%r missing from stored %r" % (token, body))
    check(body.endswith(b"END-OF-BODY\n"), "stored tail %r" % body[-40:])
    for u in ("evil1", "evil2", "evil3"):
        check(not d.messages(u), "smuggled message delivered to %s" % u)
    d.stop()


@test
def pipelined_session_one_send():
    d = Daemon()
    with d.client() as c:
        c.send(b"EHLO c.example\r\nMAIL FROM:<a@b.c>\r\n"
               b"RCPT TO:<test@example.com>\r\nDATA\r\n"
               b"Subject: pipe\r\n\r\npipelined 1\r\n.\r\n"
               b"MAIL FROM:<>\r\nRCPT TO:<test@example.com>\r\nDATA\r\n"
               b"Subject: pipe\r\n\r\npipelined 2\r\n.\r\nQUIT\r\n")
        ehlo = c.reply()
        check(ehlo[0] == "250-mx.test Hello" and len(ehlo) == 6,
              "EHLO %r" % ehlo)
        got = [c.reply1() for _ in range(9)]
        want = ["250 2.1.0 OK", "250 2.1.5 OK", DATA_REPLY_354, QUEUED_RE,
                "250 2.1.0 OK", "250 2.1.5 OK", DATA_REPLY_354, QUEUED_RE,
                "221 2.0.0 Bye"]
        for g, w in zip(got, want):
            check(g == w or (w == QUEUED_RE and re.fullmatch(w, g)),
                  "pipelined replies %r" % got)
        check(got[3] != got[7], "same queued id twice: %r" % got)
        c.expect_eof()
    bodies = sorted(split_delivery(m[1]) for m in d.messages())
    check(bodies == [b"Subject: pipe\n\npipelined 1\n",
                     b"Subject: pipe\n\npipelined 2\n"], "stored %r" % bodies)
    d.stop()


@test
def one_byte_chunks():
    d = Daemon()
    with d.client() as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = (b"EHLO c.example\r\nMAIL FROM:<a@b.c>\r\n"
                   b"RCPT TO:<test@example.com>\r\nDATA\r\n"
                   b"Subject: chunks\r\n\r\n..dot\r\nbare\rcr\r\n.\r\n"
                   b"QUIT\r\n")
        for i in range(len(session)):
            c.send(session[i:i + 1])
            time.sleep(0.002)
        check(len(c.reply()) == 6, "EHLO")
        got = [c.reply1() for _ in range(5)]
        check(got[:3] == ["250 2.1.0 OK", "250 2.1.5 OK", DATA_REPLY_354]
              and re.fullmatch(QUEUED_RE, got[3])
              and got[4] == "221 2.0.0 Bye", "replies %r" % got)
        c.expect_eof()
    body = split_delivery(one_message(d))
    check(body == b"Subject: chunks\n\n.dot\nbare\rcr\n", "stored %r" % body)
    d.stop()


@test
def swaks_delivery():
    d = Daemon()
    token = "swaks-token-%d" % os.getpid()
    rc, out = run_cmd(["swaks", "--to", "test@example.com", "--from",
                       "sender@b.c", "--server", "127.0.0.1:%d" % d.port,
                       "--helo", "client.example",
                       "--header", "Subject: swaks test",
                       "--body", "Body with %s" % token], timeout=30)
    check(rc == 0, "swaks exit %d: %s" % (rc, out[-800:]))
    check(re.search(r"<- {1,2}250 2\.0\.0 OK: queued as [0-9a-f]{12}", out),
          "no queued reply in swaks output: %s" % out[-800:])
    check("<-  221 2.0.0 Bye" in out, "no 221 in swaks output")
    body = split_delivery(one_message(d))
    check(b"Subject: swaks test\n" in body, "subject missing: %r" % body)
    check(("Body with %s\n" % token).encode() in body, "body %r" % body)
    check(b"\r" not in body, "CR left in stored %r" % body)
    d.stop()


@test
def curl_upload_byte_exact():
    d = Daemon()
    src = os.path.join(d.dir, "msg.eml")
    content = (b"From: a@b.c\r\nTo: test@example.com\r\nSubject: curl\r\n\r\n"
               b"curl body\r\n.starts with a dot\r\n\xc3\xa9t\xc3\xa9\r\n"
               b"end\r\n")
    with open(src, "wb") as f:
        f.write(content)
    rc, out = run_cmd(["curl", "-sS", "--max-time", "20",
                       "smtp://127.0.0.1:%d" % d.port,
                       "--mail-from", "a@b.c", "--mail-rcpt",
                       "test@example.com", "-T", src], timeout=30)
    check(rc == 0, "curl exit %d: %s" % (rc, out))
    body = split_delivery(one_message(d))
    check(body == content.replace(b"\r\n", b"\n"),
          "stored %r" % body)
    d.stop()


@test
def null_sender_and_multiple_transactions():
    d = Daemon()
    with d.client() as c:
        c.send("EHLO c.example\r\n")
        c.reply()
        ids = []
        for i in range(3):
            r = c.transaction(b"Subject: t%d\r\n\r\n.\r\n" % i, sender="<>")
            check(re.fullmatch(QUEUED_RE, r), "DATA %d %r" % (i, r))
            ids.append(r)
        check(len(set(ids)) == 3, "queued ids repeat (ENV-09): %r" % ids)
        c.expect("QUIT", "221 2.0.0 Bye")
    check(len(d.messages()) == 3, "3 messages")
    d.stop()


@test
def large_message_and_long_line():
    d = Daemon()
    # SMTP-50: no line length limit inside DATA; 3 MB stored byte-exact
    long_line = bytes(range(33, 127)) * 1100          # ~100 KB, one line
    lines = [b"Subject: large", b"", long_line]
    lines += [b"%06d " % i + bytes([i % 256 | 0x80]) * 60 +
              (b"." if i % 7 == 0 else b"") for i in range(40000)]
    wire = b"\r\n".join(l if not l.startswith(b".") else b"." + l
                         for l in lines) + b"\r\n.\r\n"
    want = b"\n".join(lines) + b"\n"
    with d.client() as c:
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        c.send(wire)
        r = c.reply1(timeout=30)
        check(re.fullmatch(QUEUED_RE, r), "DATA %r" % r)
        c.expect("QUIT", "221 2.0.0 Bye")
    body = split_delivery(one_message(d), proto="SMTP")
    check(len(body) == len(want), "stored %d octets, want %d" %
          (len(body), len(want)))
    check(body == want, "stored bytes differ")
    d.stop()


def run_clients(d, n, session, join=60):
    """n smtplib clients at once, client i running session(smtp, i); fails
    the test when any of them raised."""
    import threading
    results = [None] * n

    def one(i):
        try:
            with smtplib.SMTP("127.0.0.1", d.port,
                              timeout=SOCK_TIMEOUT * 2) as s:
                session(s, i)
            results[i] = "ok"
        except Exception as e:
            results[i] = repr(e)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(join)
    bad = [(i, r) for i, r in enumerate(results) if r != "ok"]
    check(not bad, "failed clients: %r" % bad[:5])


@test
def concurrent_clients():
    d = Daemon()
    n = 40
    run_clients(d, n, lambda s, i: s.sendmail(
        "a@b.c", ["test@example.com"],
        b"Subject: c%d\r\n\r\nclient %d\r\n" % (i, i)))
    bodies = sorted(split_delivery(m[1]) for m in d.messages())
    want = sorted(b"Subject: c%d\n\nclient %d\n" % (i, i) for i in range(n))
    check(bodies == want, "stored %d of %d" % (len(bodies), n))
    d.stop()


@test
def big_buffers_reused_exactly():
    """Messages bigger than the 64 KiB a session keeps reuse the I/O loop's
    spare buffers (one loop, so each reuses the last one's): every message
    is stored with exactly its own bytes, nothing of a longer one before."""
    d = Daemon({"io_threads": 1})
    sizes = [300000, 100000, 200000, 70000, 300000]

    def body(i, n):
        line = b"%d%s" % (i, b"abcdefghij"[i % 10:i % 10 + 1] * 70)
        k = n // (len(line) + 2)
        return (b"Subject: big %d\r\n\r\n" % i) + (line + b"\r\n") * k

    for i, n in enumerate(sizes):
        if i == 3:      # two in one session too
            with smtplib.SMTP("127.0.0.1", d.port, timeout=SOCK_TIMEOUT) as s:
                s.sendmail("a@b.c", ["test@example.com"], body(i, n))
                s.sendmail("a@b.c", ["test@example.com"], body(i + 1,
                                                                sizes[i + 1]))
            break
        with smtplib.SMTP("127.0.0.1", d.port, timeout=SOCK_TIMEOUT) as s:
            s.sendmail("a@b.c", ["test@example.com"], body(i, n))
    got = sorted(split_delivery(m[1]) for m in d.messages())
    want = sorted(body(i, n).replace(b"\r\n", b"\n")
                  for i, n in enumerate(sizes))
    check(len(got) == len(want), "stored %d of %d" % (len(got), len(want)))
    for g, w in zip(got, want):
        check(g == w, "stored %d bytes, sent %d: %r..." % (len(g), len(w),
                                                           g[:40]))
    d.stop()


@test
def many_workers_one_maildir():
    """8 workers (8 MailDir instances) store into one Maildir and into
    catch-all ones made on first delivery, all at once: every message lands
    once with its bytes (names unique across workers, none overwritten)."""
    d = Daemon({"backend_config": {"save_workers_size": 8}})
    n, per = 50, 2

    def rcpt(i):
        return "test@example.com" if i % 2 else "new%d@example.com" % (i % 5)

    def session(s, i):
        for k in range(per):
            s.sendmail("a@b.c", [rcpt(i)],
                       b"Subject: w%d-%d\r\n\r\nbody %d %d\r\n" % (i, k, i, k))
    run_clients(d, n, session, join=90)
    got = {}
    for user in sorted(set(rcpt(i).split("@")[0] for i in range(n))):
        for name, data in d.messages(user):
            got.setdefault(user, []).append(split_delivery(
                data, rcpt_local=user))
    for user, bodies in got.items():
        want = sorted(b"Subject: w%d-%d\n\nbody %d %d\n" % (i, k, i, k)
                      for i in range(n) for k in range(per)
                      if rcpt(i).split("@")[0] == user)
        check(sorted(bodies) == want, "%s: stored %d of %d" %
              (user, len(bodies), len(want)))
    check(sum(len(b) for b in got.values()) == n * per,
          "stored %d of %d" % (sum(len(b) for b in got.values()), n * per))
    d.stop()


@test
def disconnect_mid_data_stores_nothing():
    d = Daemon()
    c = d.client()
    c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
    c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
    c.expect("DATA", DATA_REPLY_354)
    c.send(b"Subject: cut\r\n\r\nhalf a message\r\n")
    c.close()
    c = d.client()
    c.send(b"MAIL FROM:<a@b.c>\r\nRCPT TO:<test@example.com>\r\nDATA\r\n"
           b"Subject: cut2\r\n\r\nno terminator")
    c.sock.shutdown(socket.SHUT_WR)
    check(c.reply1() == "250 2.1.0 OK", "MAIL")
    check(c.reply1() == "250 2.1.5 OK", "RCPT")
    check(c.reply1() == DATA_REPLY_354, "DATA")
    # SMTP-49: a 451 may come before the close, never a 250
    try:
        r = c.readline(timeout=5)
        check(r.startswith("451 4.3.0 "), "after EOF in DATA: %r" % r)
        c.expect_eof()
    except EOFError:
        pass
    c.close()
    time.sleep(0.3)
    with d.client() as c2:
        c2.expect("NOOP", "250 2.0.0 OK")
    check(d.messages() == [], "a cut message was stored")
    d.stop()


if __name__ == "__main__":
    run_all()

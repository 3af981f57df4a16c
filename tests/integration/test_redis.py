#!/usr/bin/env python3
"""The Redis processor against a real redis-server (PROC-13, PROC-15):
SETEX of the message text under hashes[0], zlib with Compressor, AUTH,
SELECT, a Redis that dies and comes back (451, then stored without a
daemon restart), a missing Hasher, init failure.

Each test starts its own redis-server on a free loopback port in a
temporary folder (no persistence) and stops it afterwards.  Without the
redis-server package the tests FAIL and name it (tests/deps.sh and
.ci/run install it)."""
import os
import socket
import sys
import time
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403
from stores import *  # noqa: E402,F401,F403

QUEUED_RE = "250 2.0.0 OK: queued as "


def redis_daemon(r, chain="HeadersParser|Hasher|Header|Redis|MailDir",
                 **extra):
    bc = {"save_process": chain,
          "redis_interface": "127.0.0.1:%d" % r.port,
          "redis_expire_seconds": 300}
    bc.update(extra)
    return Daemon(overrides={"backend_config": bc})


def send_one(d, body, rcpt="<test@example.com>"):
    with d.client() as c:
        rep = c.transaction(body, rcpts=(rcpt,))
        c.expect("QUIT", "221 2.0.0 Bye")
    return rep


def queued_id(rep):
    check(rep.startswith(QUEUED_RE), "reply %r" % rep)
    qid = rep[len(QUEUED_RE):]
    check(len(qid) == 32 and all(ch in "0123456789abcdef" for ch in qid),
          "queued id %r is not hashes[0]" % qid)
    return qid


BODY = (b"Subject: to redis\r\nFrom: a@b.c\r\n\r\nline one\r\n"
        b"..dot stuffed\r\n\xff binary \x00 byte\r\n.\r\n")


@test
def redis_setex_message_text():
    r = Redis()
    try:
        d = redis_daemon(r)
        qid = queued_id(send_one(d, BODY))
        msgs = d.messages()
        check(len(msgs) == 1, "MailDir after Redis stored %d" % len(msgs))
        val = r.cmd("GET", qid)
        check(val == msgs[0][1], "redis value %r != stored text %r" %
              (val, msgs[0][1]))
        split_delivery(val, proto="SMTP")
        ttl = r.cmd("TTL", qid)
        check(isinstance(ttl, int) and 0 < ttl <= 300, "TTL %r" % ttl)
        d.stop()
    finally:
        r.kill()


@test
def redis_compressor_value_inflates_to_text():
    r = Redis()
    try:
        d = redis_daemon(
            r, chain="HeadersParser|Hasher|Header|Compressor|Redis|MailDir")
        big = b"Subject: zz\r\n\r\n" + b"compress me please\r\n" * 5000 + \
            b".\r\n"
        qid = queued_id(send_one(d, big))
        msgs = d.messages()
        check(len(msgs) == 1, "MailDir stored %d" % len(msgs))
        val = r.cmd("GET", qid)
        check(isinstance(val, bytes) and val[:1] == b"\x78",
              "not a zlib stream: %r" % (val[:20],))
        check(len(val) < len(msgs[0][1]) // 10, "level-1 zlib of a "
              "repetitive text is %d of %d bytes" % (len(val),
                                                     len(msgs[0][1])))
        text = zlib.decompress(val)
        check(text == msgs[0][1], "inflated value differs from the text")
        # the data buffer is untouched: MailDir after Compressor got it all
        check(b"compress me please\n" * 3 in text or
              b"compress me please\r\n" * 3 in text, "body missing")
        d.stop()
    finally:
        r.kill()


@test
def redis_password_and_db():
    r = Redis(password="s3cret pass")
    try:
        d = redis_daemon(r, redis_password="s3cret pass", redis_db=3)
        qid = queued_id(send_one(d, BODY))
        val = r.cmd("GET", qid, db=3)
        check(val == d.messages()[0][1], "value in db 3: %r" % (val,))
        check(r.cmd("GET", qid) is None, "value also in db 0")
        d.stop()
        # a wrong password fails init with GG's message
        rc, out = serve_fail(json_config(r, redis_password="wrong"))
        check(rc != 0 and rc != "running", "serve status %r" % rc)
        check("redis cannot connect, check your settings:" in out,
              "output: %r" % out)
    finally:
        r.kill()


def json_config(r, **extra):
    import json
    tmp = make_tmpdir()
    cfg = default_config(tmp)
    cfg["servers"][0]["listen_interface"] = "127.0.0.1:%d" % free_port()
    cfg["backend_config"].update({
        "save_process": "HeadersParser|Hasher|Header|Redis",
        "redis_interface": "127.0.0.1:%d" % r.port,
        "redis_expire_seconds": 60})
    cfg["backend_config"].update(extra)
    return json.dumps(cfg)


@test
def redis_init_fails_when_down():
    port = free_port()

    class Down:
        pass
    down = Down()
    down.port = port
    rc, out = serve_fail(json_config(down))
    check(rc != 0 and rc != "running", "serve status %r" % rc)
    check("redis cannot connect, check your settings:" in out and
          "error while initializing the backend" in out, "output %r" % out)


@test
def redis_down_451_then_back_without_restart():
    r = Redis()
    try:
        d = redis_daemon(r, chain="HeadersParser|Hasher|Header|Redis")
        queued_id(send_one(d, BODY))
        r.kill()
        t0 = time.monotonic()
        for i in range(3):      # whichever worker takes it
            rep = send_one(d, b"Subject: lost?\r\n\r\nx\r\n.\r\n")
            check(rep == "451 4.3.0 Error: storage not available",
                  "with redis down: %r" % rep)
        check(time.monotonic() - t0 < 10, "451s took too long")
        r.start()
        for i in range(4):      # every worker reconnects
            qid = queued_id(send_one(d, b"Subject: back %d\r\n\r\nx\r\n"
                                        b".\r\n" % i))
            val = r.cmd("GET", qid)
            check(isinstance(val, bytes) and
                  val.endswith(b"Subject: back %d\r\n\r\nx\r\n" % i) or
                  isinstance(val, bytes) and
                  val.endswith(b"Subject: back %d\n\nx\n" % i),
                  "value after restart: %r" % (val,))
        check("connection dropped" in d.log_text(), "no log line")
        d.stop()
    finally:
        r.kill()


@test
def redis_needs_hasher():
    r = Redis()
    try:
        d = redis_daemon(r, chain="HeadersParser|Header|Redis")
        rep = send_one(d, BODY)
        check(rep == "554 5.5.0 Error:", "reply %r" % rep)
        check("needs a Hasher() process before it" in d.log_text(),
              "no log line")
        check(r.cmd("DBSIZE") == 0, "something was stored")
        d.stop()
    finally:
        r.kill()


@test
def redis_malformed_reply_is_451():
    """A fake server that answers garbage: 451, no crash, and the daemon
    keeps serving."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    port = ls.getsockname()[1]
    import threading
    stop = []
    answers = [b"$-5\r\n", b"*99999999\r\n", b":12x\r\n",
               b"+O\nK\r\n", b"?\r\n", b"$3\r\nabcd\r\n", b"-ERR nope\r\n"]

    def one(c):
        c.settimeout(3)
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    break
                c.sendall(answers.pop(0) if answers else b"-ERR x\r\n")
        except OSError:
            pass
        c.close()

    def serve():
        ls.settimeout(0.2)
        while not stop:
            try:
                c, _ = ls.accept()
            except socket.timeout:
                continue
            threading.Thread(target=one, args=(c,), daemon=True).start()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        class Fake:
            pass
        f = Fake()
        f.port = port
        d = redis_daemon(f, chain="HeadersParser|Hasher|Redis")
        for i in range(7):
            rep = send_one(d, b"Subject: m\r\n\r\nx\r\n.\r\n")
            check(rep == "451 4.3.0 Error: storage not available",
                  "answer %d: %r" % (i, rep))
        d.stop()
    finally:
        stop.append(1)
        t.join(5)
        ls.close()


@test
def redis_slow_is_451_after_io_timeout():
    """A server that accepts and reads but never answers: 451 after the
    5 s I/O timeout (not retried), well within gw_save_timeout."""
    import threading
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    conns = []
    stop = []

    def serve():
        ls.settimeout(0.2)
        while not stop:
            try:
                conns.append(ls.accept()[0])
            except socket.timeout:
                continue
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        class Fake:
            pass
        f = Fake()
        f.port = ls.getsockname()[1]
        d = redis_daemon(f, chain="HeadersParser|Hasher|Redis",
                         save_workers_size=1)
        t0 = time.monotonic()
        rep = send_one(d, b"Subject: slow\r\n\r\nx\r\n.\r\n")
        el = time.monotonic() - t0
        check(rep == "451 4.3.0 Error: storage not available", "reply %r" %
              rep)
        check(4.5 <= el <= 8, "451 after %.1fs" % el)
        check("i/o timeout" in d.log_text(), "no timeout in the log")
        d.stop()
    finally:
        stop.append(1)
        t.join(5)
        for c in conns:
            c.close()
        ls.close()


run_all()

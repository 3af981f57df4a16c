#!/usr/bin/env python3
"""The FastCGI processor against a real php-fpm (PROC-18): every form
field of a save arrives (tcp and unix sockets), SAVED continues the
chain, another answer is 554, RCPT validation accepts PASSED and refuses
unknown users, and a php-fpm that is down gives 451 (save) and
451 ... storage not available (RCPT), never 250.

Each test starts its own php-fpm in the foreground (-F -n -y) with a
pool on a free loopback port and one on a unix socket in a temporary
folder, and stops it afterwards.  Without the php-fpm package the tests
FAIL and name it (tests/deps.sh and .ci/run install it)."""
import base64
import glob
import json
import os
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

NO_SUCH = "550 5.1.1 User unknown in local recipient table no such user"

# writes what it received, one JSON line per request, values base64'd
PHP_LOG = r'''<?php
function b($a) { $o = array(); foreach ($a as $k => $v)
    $o[$k] = base64_encode($v); return $o; }
$s = array();
foreach (array('REQUEST_METHOD', 'SERVER_SOFTWARE', 'REMOTE_ADDR',
    'SERVER_PROTOCOL', 'CONTENT_TYPE', 'QUERY_STRING') as $k)
    $s[$k] = isset($_SERVER[$k]) ? $_SERVER[$k] : null;
file_put_contents(__DIR__ . '/got.jsonl', json_encode(array(
    'script' => basename(__FILE__), 'server' => $s,
    'get' => b($_GET), 'post' => b($_POST))) . "\n",
    FILE_APPEND | LOCK_EX);
'''
PHP_SAVE = PHP_LOG + r'''
if (isset($_POST['mail_from']) && strpos($_POST['mail_from'], 'refuse')
    !== false) { echo "NOT TODAY"; exit; }
echo "SAVED";
'''
PHP_VALIDATE = PHP_LOG + r'''
$u = isset($_GET['rcpt_to']) ? $_GET['rcpt_to'] : '';
if ($u === 'test@example.com') echo "PASSED";
elseif ($u === 'old@example.com') echo "PASS";
else echo "UNKNOWN";
'''


def fpm_binary():
    for pat in ("/usr/sbin/php-fpm*", "/usr/local/sbin/php-fpm*"):
        for p in sorted(glob.glob(pat)):
            if os.access(p, os.X_OK):
                return p
    raise AssertionError("php-fpm not found: install the Debian package "
                         "php-fpm (apt-get install -y php-fpm)")


class Fpm:
    def __init__(self):
        self.bin = fpm_binary()
        self.dir = make_tmpdir()
        self.port = free_port()
        self.sock = os.path.join(self.dir, "fpm.sock")
        for name, text in (("save.php", PHP_SAVE),
                           ("validate.php", PHP_VALIDATE)):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        root = os.getuid() == 0
        who = "user = root\ngroup = root\n" if root else ""
        conf = ("[global]\npid = {d}/fpm.pid\nerror_log = {d}/fpm.log\n"
                "daemonize = no\n"
                "[tcp]\nlisten = 127.0.0.1:{p}\n{w}pm = static\n"
                "pm.max_children = 2\n"
                "[unix]\nlisten = {s}\n{w}pm = static\n"
                "pm.max_children = 1\n").format(d=self.dir, p=self.port,
                                                s=self.sock, w=who)
        self.conf = os.path.join(self.dir, "fpm.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.args = [self.bin, "-F", "-n", "-y", self.conf] + \
            (["-R"] if root else [])
        self.proc = None
        self.start()

    def start(self):
        self.log = open(os.path.join(self.dir, "fpm.out"), "ab")
        self.proc = subprocess.Popen(self.args, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("php-fpm exited with %r: %s" % (
                    self.proc.returncode, self.read("fpm.log")))
            if not os.path.exists(self.sock):
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         timeout=1).close()
                return True
            except OSError:
                return False
        check(wait_for(up, timeout=10), "php-fpm not listening: %s" %
              self.read("fpm.log"))

    def read(self, name):
        try:
            with open(os.path.join(self.dir, name)) as f:
                return f.read()
        except OSError:
            return ""

    def got(self):
        """The requests the scripts saw, values decoded to bytes."""
        out = []
        for line in self.read("got.jsonl").splitlines():
            j = json.loads(line)
            for k in ("get", "post"):
                j[k] = {n: base64.b64decode(v) for n, v in
                        (j[k] or {}).items()}
            out.append(j)
        return out

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def fc_daemon(fpm, kind="tcp", validate=True, **extra):
    bc = {"save_process": "HeadersParser|Hasher|Header|FastCGI|MailDir",
          "fcgi_script_filename_save": os.path.join(fpm.dir, "save.php"),
          "fcgi_script_filename_validate":
              os.path.join(fpm.dir, "validate.php"),
          "fcgi_connection_type": kind,
          "fcgi_connection_address": fpm.sock if kind == "unix" else
              "127.0.0.1:%d" % fpm.port}
    if validate:
        bc["validate_process"] = "FastCGI"
    bc.update(extra)
    return Daemon(overrides={"backend_config": bc})


BODY = (b"Subject: =?UTF-8?B?w6lsw6h2ZQ==?= & more+100%\r\n"
        b"From: a@b.c\r\n\r\nline one & two = three\r\n"
        b"..dot\r\n+plus %41 \xc3\xa9\r\n.\r\n")


def save_fields(kind):
    fpm = Fpm()
    try:
        d = fc_daemon(fpm, kind=kind, validate=False)
        with d.client() as c:
            c.send("EHLO client.test\r\n")
            c.reply()
            rep = c.transaction(BODY, sender="<from@b.c>",
                                rcpts=("<test@example.com>",
                                       "<\"x y\"@example.com>"))
            check(rep.startswith("250 2.0.0 OK: queued as "),
                  "reply %r" % rep)
            c.expect("QUIT", "221 2.0.0 Bye")
        stored = d.messages()
        check(len(stored) == 1, "MailDir after FastCGI: %d" % len(stored))
        posts = [g for g in fpm.got() if g["script"] == "save.php"]
        check(len(posts) == 1, "save requests: %r" % posts)
        p, s = posts[0]["post"], posts[0]["server"]
        check(s["REQUEST_METHOD"] == "POST", "method %r" % s)
        check(s["SERVER_SOFTWARE"] == "Go-guerrilla fastcgi", "%r" % s)
        check(s["REMOTE_ADDR"] == "127.0.0.1", "%r" % s)
        check(s["SERVER_PROTOCOL"] == "HTTP/1.1", "%r" % s)
        check(s["CONTENT_TYPE"] == "application/x-www-form-urlencoded",
              "%r" % s)
        want = {
            "rcpt_to_0": b"test@example.com",
            "rcpt_to_1": b"\"x y\"@example.com",
            "remote_ip": b"127.0.0.1",
            "subject": "\u00e9l\u00e8ve & more+100%".encode(),
            "tls_on": b"false",
            "helo": b"client.test",
            "mail_from": b"from@b.c",
            "body": stored[0][1],
        }
        for k, v in want.items():
            check(p.get(k) == v, "field %s: %r, want %r" % (k, p.get(k), v))
        check(set(p) == set(want), "fields %r" % sorted(p))
        d.stop()
    finally:
        fpm.stop()


@test
def fastcgi_save_all_fields_tcp():
    save_fields("tcp")


@test
def fastcgi_save_all_fields_unix():
    save_fields("unix")


@test
def fastcgi_validate_and_refused_save():
    fpm = Fpm()
    try:
        d = fc_daemon(fpm)
        with d.client() as c:
            c.expect("HELO client.test", "250 mx.test Hello")
            c.expect("MAIL FROM:<refuse@b.c>", "250 2.1.0 OK")
            c.expect("RCPT TO:<nobody@example.com>", NO_SUCH)
            c.expect("RCPT TO:<old@example.com>", "250 2.1.5 OK")
            c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
            c.expect("DATA", DATA_REPLY_354)
            c.send(b"Subject: no\r\n\r\nno\r\n.\r\n")
            r = c.reply1()
            check(r == "554 Error: could not save email for "
                  "[old@example.com]", "refused save: %r" % r)
            c.expect("QUIT", "221 2.0.0 Bye")
        check(d.messages() == [], "a refused message reached MailDir")
        gets = [g for g in fpm.got() if g["script"] == "validate.php"]
        asked = [g["get"].get("rcpt_to") for g in gets]
        for a in (b"nobody@example.com", b"old@example.com",
                  b"test@example.com"):
            check(a in asked, "validate never asked for %r: %r" % (a, asked))
        check(all(g["server"]["REQUEST_METHOD"] == "GET" and
                  g["server"]["SERVER_PROTOCOL"] == "HTTP/1.1"
                  for g in gets), "GET params %r" % gets[:1])
        check(any(g["server"]["QUERY_STRING"] ==
                  "rcpt_to=nobody%40example.com" for g in gets),
              "query strings %r" % [g["server"]["QUERY_STRING"]
                                    for g in gets])
        d.stop()
    finally:
        fpm.stop()


@test
def fastcgi_down_is_451_never_250():
    fpm = Fpm()
    try:
        d = fc_daemon(fpm, validate=False)
        with d.client() as c:
            rep = c.transaction(b"Subject: up\r\n\r\nup\r\n.\r\n")
            check(rep.startswith("250 "), "with php-fpm up: %r" % rep)
        fpm.stop()
        for i in range(2):
            with d.client() as c:
                rep = c.transaction(b"Subject: down\r\n\r\nx\r\n.\r\n")
                check(rep == "451 4.3.0 Error: fastcgi unavailable",
                      "with php-fpm down: %r" % rep)
        check(len(d.messages()) == 1, "stored while down")
        fpm.start()
        with d.client() as c:
            rep = c.transaction(b"Subject: back\r\n\r\nx\r\n.\r\n")
            check(rep.startswith("250 "), "php-fpm back: %r" % rep)
        d.stop()
        # validation: transport failure is temporary, not "no such user"
        fpm.stop()
        d2 = fc_daemon(fpm)
        with d2.client() as c:
            # the probe runs in backend init, which ends before
            # "Listening on TCP" and the greeting
            check("FastCGI: test request to" in d2.log_text(),
                  "init probe failure not logged")
            c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
            c.expect("RCPT TO:<test@example.com>",
                     "451 4.3.0 Error: storage not available")
            c.expect("QUIT", "221 2.0.0 Bye")
        d2.stop()
    finally:
        fpm.stop()


@test
def fastcgi_bad_connection_type():
    d = Daemon(overrides={"backend_config": {
        "save_process": "FastCGI",
        "fcgi_script_filename_save": "/x.php",
        "fcgi_script_filename_validate": "/y.php",
        "fcgi_connection_type": "udp",
        "fcgi_connection_address": "127.0.0.1:9"}}, start=False)
    with open(d.conf) as f:
        rc, out = serve_fail(f.read())
    check(rc != 0 and rc != "running", "status %r" % rc)
    check("fcgi_connection_type: want 'tcp' or 'unix', got 'udp'" in out,
          "output %r" % out)


@test
def fastcgi_hostile_server_is_451():
    """A fake FastCGI server answering garbage, a truncated record, an
    oversized stream or an overloaded status: 451, no crash."""
    import threading
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    rec = lambda t, c: bytes([1, t, 0, 1, len(c) >> 8, len(c) & 255, 0,
                              0]) + c
    answers = [
        b"HTTP/1.1 200 OK\r\n\r\nSAVED",                  # not FastCGI
        rec(6, b"\r\n\r\nSAVED")[:10],                     # cut short
        rec(6, b"\r\n\r\nSAVED") + rec(3, bytes([0, 0, 0, 0, 2, 0, 0,
                                                  0])),     # overloaded
        rec(6, b"Status: 503 Busy\r\n\r\nSAVED") +
        rec(3, bytes(8)),                                   # CGI 5xx
        rec(6, b"\r\n\r\nSAVED") + rec(3, b"\0\0"),            # short end
    ]
    stop = []

    def one(c, ans):
        c.settimeout(3)
        try:
            c.recv(65536)
            c.sendall(ans)
            c.shutdown(socket.SHUT_WR)
            while c.recv(65536):
                pass
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
            ans = answers.pop(0) if answers else b"junk"
            threading.Thread(target=one, args=(c, ans), daemon=True).start()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        d = Daemon(overrides={"backend_config": {
            "save_process": "HeadersParser|Hasher|Header|FastCGI",
            "fcgi_script_filename_save": "/s.php",
            "fcgi_script_filename_validate": "/v.php",
            "fcgi_connection_type": "tcp",
            "fcgi_connection_address":
                "127.0.0.1:%d" % ls.getsockname()[1]}})
        # init's probes (one per instance) take some answers first; every
        # answer, down to the final "junk", is hostile
        n = len(answers)
        for i in range(5):
            with d.client() as c:
                rep = c.transaction(b"Subject: h\r\n\r\nx\r\n.\r\n")
                check(rep == "451 4.3.0 Error: fastcgi unavailable",
                      "answer %d (%d left before): %r" % (i, n, rep))
        d.stop()
    finally:
        stop.append(1)
        t.join(5)
        ls.close()


run_all()

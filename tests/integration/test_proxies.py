#!/usr/bin/env python3
"""guerrillad behind the real proxies people put in front of it (SMTP-05..08,
SMTP-41/42, CFG-07a):

- HAProxy in TCP mode with `send-proxy` (PROXY v1) and `send-proxy-v2`
  (binary v2, with a CRC32C TLV), and a health-checked backend whose
  `check-send-proxy` checks send a v2 LOCAL header;
- nginx's mail proxy with `xclient on`, which asks a small HTTP auth
  service (run here in a thread) for the upstream and then announces the
  client with XCLIENT.

The SMTP client connects from 127.0.0.5 (Linux routes all of 127/8 on lo),
the proxies from 127.0.0.1; the stored message's Received header must name
127.0.0.5.  The same PROXY headers and XCLIENT sent directly from an
untrusted address (127.0.0.7) are refused.

Each test starts its own servers on free loopback ports in a temporary
folder and stops them afterwards, also on failure.  Without the haproxy,
nginx or libnginx-mod-mail packages the tests FAIL and name them
(tests/deps.sh and .ci/run install them)."""
import glob
import http.server
import os
import re
import shutil
import smtplib
import socket
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

CLIENT_IP = "127.0.0.5"     # the real client, behind a proxy
UNTRUSTED_IP = "127.0.0.7"  # talks to the daemon directly
QUEUED_RE = r"2.0.0 OK: queued as [0-9a-f]+"
V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def find_tool(name, package):
    path = shutil.which(name, path=os.environ.get("PATH", "") +
                        ":/usr/sbin:/usr/local/sbin")
    if path is None:
        raise AssertionError("%s not found: install the Debian package %s "
                             "(apt-get install -y %s)" %
                             (name, package, package))
    return path


def stop_proc(proc, timeout=10):
    """SIGTERM, then SIGKILL; never leaves the process behind."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def wait_listening(port, proc, what, logf, host="127.0.0.1", timeout=10):
    """Until host:port accepts a connection; fails when proc exits."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError("%s exited with %r before listening: %s" %
                                 (what, proc.returncode, tail(logf)))
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("%s not listening on %d after %ss: %s" %
                         (what, port, timeout, tail(logf)))


def tail(path, n=10):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(lines[-n:])


class BoundClient(Client):
    """harness.Client, but from a chosen source address."""

    def __init__(self, port, source, greet=True, timeout=SOCK_TIMEOUT):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.bind((source, 0))
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        self.timeout = timeout
        self.greeting = None
        if greet:
            g = self.reply()
            check(len(g) == 1, "multi-line greeting %r" % g)
            self.greeting = g[0]


def send_via(port, subject, source=CLIENT_IP):
    """One message with smtplib from source through port; returns the
    server's reply to the message."""
    s = smtplib.SMTP("127.0.0.1", port, timeout=SOCK_TIMEOUT,
                     source_address=(source, 0))
    try:
        s.ehlo("client.test")
        code, resp = s.mail("<a@b.c>")
        check(code == 250, "MAIL %r %r" % (code, resp))
        code, resp = s.rcpt("<test@example.com>")
        check(code == 250, "RCPT %r %r" % (code, resp))
        code, resp = s.data(("Subject: %s\r\n\r\nbody of %s\r\n" %
                             (subject, subject)).encode())
        check(code == 250 and re.fullmatch(QUEUED_RE, resp.decode()),
              "DATA %r %r" % (code, resp))
        s.quit()
    finally:
        s.close()
    return resp


def received_from(d):
    """{subject: the address in the Received header} of stored mail."""
    out = {}
    for _, data in d.messages():
        m = re.match(rb"Delivered-To: [^\n]*\nReceived: from (\S+) "
                     rb"\(\[(\S+)\]\)\n", data)
        check(m is not None and m.group(1) == m.group(2),
              "delivery header %r" % data[:200])
        subj = re.search(rb"\nSubject: (\S+)\r?\n", data)
        check(subj is not None, "no Subject in %r" % data[:300])
        out[subj.group(1).decode()] = m.group(1).decode()
    return out


# ---------------------------------------------------------------- HAProxy

class HAProxy:
    """haproxy -db (foreground) with a TCP frontend per backend in
    `servers`: {name: "server line options"}; a stats socket in the temp
    folder."""

    def __init__(self, daemon_port, servers, checked=None):
        self.bin = find_tool("haproxy", "haproxy")
        self.dir = make_tmpdir()
        self.ports = {}
        self.sock = os.path.join(self.dir, "stats.sock")
        self.logf = os.path.join(self.dir, "haproxy.log")
        conf = [
            "global",
            "    maxconn 200",
            "    stats socket %s mode 600 level admin" % self.sock,
            "defaults",
            "    mode tcp",
            "    timeout connect 5s",
            "    timeout client 30s",
            "    timeout server 30s",
        ]
        for name, opts in servers.items():
            self.ports[name] = free_port()
            conf += [
                "frontend fe_%s" % name,
                "    bind 127.0.0.1:%d" % self.ports[name],
                "    default_backend be_%s" % name,
                "backend be_%s" % name,
                "    server gd 127.0.0.1:%d %s" % (daemon_port, opts),
            ]
        if checked:
            # no frontend: only HAProxy's own SMTP health checks
            conf += [
                "backend be_check",
                "    option smtpchk HELO haproxy.test",
                "    server gd 127.0.0.1:%d %s" % (daemon_port, checked),
            ]
        self.conf = os.path.join(self.dir, "haproxy.cfg")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        rc, out = run_cmd([self.bin, "-c", "-f", self.conf])
        check(rc == 0, "haproxy -c refused the config: %s" % out)
        self._log = open(self.logf, "ab")
        self.proc = subprocess.Popen([self.bin, "-db", "-f", self.conf],
                                     stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        try:
            for name, port in self.ports.items():
                wait_listening(port, self.proc, "haproxy", self.logf)
            check(wait_for(lambda: os.path.exists(self.sock) or
                           self.proc.poll() is not None, timeout=10) and
                  self.proc.poll() is None,
                  "haproxy: no stats socket: %s" % tail(self.logf))
        except Exception:
            self.stop()
            raise

    def stats(self):
        """`show stat` rows as dicts."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(self.sock)
            s.sendall(b"show stat\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        lines = data.decode().splitlines()
        check(lines and lines[0].startswith("# "), "show stat %r" % data)
        keys = lines[0][2:].split(",")
        return [dict(zip(keys, ln.split(","))) for ln in lines[1:] if ln]

    def stop(self):
        stop_proc(self.proc)
        self._log.close()


def proxy_daemon():
    return Daemon(overrides={"servers": [server_cfg(
        proxyon=True, proxy_trusted=["127.0.0.1/32"])]})


@test
def haproxy_send_proxy_v1_and_v2():
    d = proxy_daemon()
    h = HAProxy(d.port, {
        "v1": "send-proxy",
        "v2": "send-proxy-v2 proxy-v2-options crc32c",
    })
    try:
        r1 = send_via(h.ports["v1"], "via-v1")
        r2 = send_via(h.ports["v2"], "via-v2")
    finally:
        h.stop()
    check(r1 != r2, "two messages, one queue id: %r" % r1)
    got = received_from(d)
    check(got == {"via-v1": CLIENT_IP, "via-v2": CLIENT_IP},
          "Received headers name %r, want %s for both" % (got, CLIENT_IP))
    d.stop()


@test
def haproxy_v2_local_health_checks():
    # check-send-proxy: HAProxy's own checks open with a v2 LOCAL header;
    # the daemon keeps the real peer and answers the SMTP check
    d = proxy_daemon()
    h = HAProxy(d.port, {}, checked="send-proxy-v2 check check-send-proxy "
                "inter 200ms fall 1 rise 1")
    try:
        def checked_ok():
            # a row once the first check has completed
            for row in h.stats():
                if row["pxname"] == "be_check" and row["svname"] == "gd" \
                        and row["check_status"] not in ("", "INI"):
                    return row
            return None
        row = wait_for(checked_ok, timeout=10)
        check(row, "no health check ran: %r" % h.stats())
        time.sleep(0.6)     # a few more checks
        row = [r for r in h.stats() if r["pxname"] == "be_check" and
               r["svname"] == "gd"][0]
    finally:
        h.stop()
    # "* " marks a check in progress; the status is the last result
    check(row["check_status"].lstrip("* ") == "L7OK" and
          row["status"] == "UP" and
          row["chkfail"] == "0",
          "health check through a v2 LOCAL header: status %s, check %s "
          "(%s), %s failed; daemon log: %s" % (
              row["status"], row["check_status"], row.get("check_desc"),
              row["chkfail"], d.log_tail(5)))
    check("invalid PROXY header" not in d.log_text(),
          "daemon refused a header: %s" % d.log_tail(5))
    check(d.messages() == [], "a health check stored mail")
    d.stop()


def v1_header(src):
    return ("PROXY TCP4 %s 127.0.0.1 40000 25\r\n" % src).encode()


def v2_header(src):
    addrs = socket.inet_aton(src) + socket.inet_aton("127.0.0.1") + \
        struct.pack(">HH", 40000, 25)
    tlv = b"\x05\x00\x03id1"                # PP2_TYPE_UNIQUE_ID
    body = addrs + tlv
    return V2SIG + b"\x21\x11" + struct.pack(">H", len(body)) + body


@test
def proxy_header_direct_trusted_and_untrusted():
    d = proxy_daemon()
    # control: the headers are good ones - from the trusted balancer's
    # address (127.0.0.1) they are taken, also with SMTP right behind
    for name, hdr in (("v1", v1_header(CLIENT_IP)),
                      ("v2", v2_header(CLIENT_IP))):
        with BoundClient(d.port, "127.0.0.1", greet=False) as c:
            c.send(hdr + b"EHLO client.test\r\n")
            g = c.reply1()
            check(g.startswith("220 mx.test "), "%s: greeting %r" % (name, g))
            ehlo = c.reply()
            check(ehlo[0] == "250-mx.test Hello", "%s: EHLO %r" % (name, ehlo))
            r = c.transaction(("Subject: direct-%s\r\n\r\nx\r\n.\r\n" %
                               name).encode())
            check(re.fullmatch("250 " + QUEUED_RE, r), "DATA %r" % r)
            c.expect("QUIT", "221 2.0.0 Bye")
    got = received_from(d)
    check(got == {"direct-v1": CLIENT_IP, "direct-v2": CLIENT_IP},
          "Received headers %r" % got)
    # CFG-07a: the same bytes from an address outside proxy_trusted: the
    # connection is closed before any reply, nothing is stored
    for name, hdr in (("v1", v1_header(CLIENT_IP)),
                      ("v2", v2_header(CLIENT_IP))):
        with BoundClient(d.port, UNTRUSTED_IP, greet=False) as c:
            try:
                c.send(hdr + b"EHLO client.test\r\nMAIL FROM:<a@b.c>\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            try:
                c.expect_eof(timeout=5)
            except AssertionError as e:
                raise AssertionError("%s header from %s: %s" %
                                     (name, UNTRUSTED_IP, e))
    check(len(d.messages()) == 2, "mail stored from the untrusted address")
    check(d.log_text().count("PROXY header from an untrusted address "
                             "refused") == 2,
          "daemon log: %s" % d.log_tail(6))
    d.stop()


# ---------------------------------------------------------------- nginx

class AuthHTTP:
    """nginx's auth_http service: every request gets Auth-Status OK and
    the daemon as the upstream; the request headers are kept."""

    def __init__(self, upstream_port):
        seen = self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(dict(self.headers.items()))
                self.send_response(200)
                self.send_header("Auth-Status", "OK")
                self.send_header("Auth-Server", "127.0.0.1")
                self.send_header("Auth-Port", str(upstream_port))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def mail_module():
    find_tool("nginx", "nginx")
    mods = sorted(glob.glob("/usr/lib/nginx/modules/ngx_mail_module.so") +
                  glob.glob("/usr/lib*/nginx/modules/ngx_mail_module.so") +
                  glob.glob("/usr/lib/*/nginx/modules/ngx_mail_module.so"))
    if not mods:
        raise AssertionError("nginx mail module not found: install the "
                             "Debian package libnginx-mod-mail (apt-get "
                             "install -y libnginx-mod-mail)")
    return mods[0]


class Nginx:
    """nginx in the foreground (daemon off, no master) with one SMTP mail
    proxy server; prefix, pid, logs in the temp folder."""

    def __init__(self, auth_port):
        self.bin = find_tool("nginx", "nginx")
        mod = mail_module()
        self.dir = make_tmpdir()
        self.port = free_port()
        self.logf = os.path.join(self.dir, "error.log")
        conf = [
            "load_module %s;" % mod,
            "user root;" if os.geteuid() == 0 else "",
            "worker_processes 1;",
            "pid %s/nginx.pid;" % self.dir,
            "error_log %s info;" % self.logf,
            "events { worker_connections 64; }",
            "mail {",
            "    auth_http 127.0.0.1:%d/auth;" % auth_port,
            "    xclient on;",
            "    server {",
            "        listen 127.0.0.1:%d;" % self.port,
            "        protocol smtp;",
            "        server_name proxy.test;",
            "        smtp_auth none;",
            "    }",
            "}",
        ]
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        base = [self.bin, "-p", self.dir, "-e", self.logf, "-c", self.conf,
                "-g", "daemon off; master_process off;"]
        rc, out = run_cmd(base + ["-t"])
        check(rc == 0, "nginx -t refused the config: %s" % out)
        self._log = open(os.path.join(self.dir, "nginx.out"), "ab")
        self.proc = subprocess.Popen(base, stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        try:
            wait_listening(self.port, self.proc, "nginx", self.logf)
        except Exception:
            self.stop()
            raise

    def stop(self):
        stop_proc(self.proc)
        self._log.close()


@test
def nginx_mail_proxy_xclient():
    d = Daemon(overrides={"servers": [server_cfg(
        xclient_on=True, xclient_trusted=["127.0.0.1/32"])]})
    auth = AuthHTTP(d.port)
    ngx = None
    try:
        ngx = Nginx(auth.port)
        send_via(ngx.port, "via-nginx")
    finally:
        if ngx is not None:
            ngx.stop()
        auth.stop()
    check(auth.requests, "nginx never asked auth_http")
    check(auth.requests[-1].get("Client-IP") == CLIENT_IP,
          "auth_http request %r" % auth.requests[-1])
    got = received_from(d)
    check(got == {"via-nginx": CLIENT_IP},
          "Received header names %r, want %s" % (got, CLIENT_IP))
    d.stop()


@test
def xclient_direct_from_untrusted_refused():
    d = Daemon(overrides={"servers": [server_cfg(
        xclient_on=True, xclient_trusted=["127.0.0.1/32"])]})
    with BoundClient(d.port, UNTRUSTED_IP) as c:
        c.send("EHLO client.test\r\n")
        c.reply()
        c.expect("XCLIENT ADDR=%s NAME=[UNAVAILABLE]" % CLIENT_IP,
                 "550 5.7.0 Error: insufficient authorization")
        c.expect("XCLIENT HELO=spoofed.test", "550 5.7.0 Error: "
                 "insufficient authorization")
        r = c.transaction(b"Subject: untrusted\r\n\r\nx\r\n.\r\n")
        check(re.fullmatch("250 " + QUEUED_RE, r), "DATA %r" % r)
        c.expect("QUIT", "221 2.0.0 Bye")
    got = received_from(d)
    check(got == {"untrusted": UNTRUSTED_IP},
          "XCLIENT from an untrusted peer changed the address: %r" % got)
    d.stop()


if __name__ == "__main__":
    run_all()

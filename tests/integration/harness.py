"""harness.py - helpers for the guerrillad integration tests.

Python 3 standard library only.  Every test program does

    from harness import *

    @test
    def something():
        d = Daemon()
        ...

    run_all()

run_all() prints exactly one "PASS name" or "FAIL name: reason" line per
test and exits 1 when any test failed.  Daemons started by a test are
stopped (and their exit status checked: it must be 0, which also catches
AddressSanitizer leak reports under SAN=1) when the test ends, unless the
test stopped them itself.  Temporary folders live under tests/tmp/ and are
removed when the test passed; a failing test keeps them and names the
folder in its FAIL line.

Nothing here may hang: every socket has a timeout and every subprocess
call has a timeout.
"""
import copy
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# GUERRILLAD=/path/to/guerrillad runs the suite against another build
# (e.g. an AddressSanitizer build made in a copy of the tree).
BINARY = os.environ.get("GUERRILLAD") or os.path.join(ROOT, "guerrillad")
# GD_EXEC_WRAPPER="qemu-aarch64" runs the built programs (guerrillad,
# examples/embed, tests/spec9_host) under that command (tests/cross.sh);
# the tools the tests use (swaks, curl, openssl, the stores) stay native.
EXEC_WRAPPER = os.environ.get("GD_EXEC_WRAPPER", "").split()
TMPROOT = os.path.join(ROOT, "tests", "tmp")
SOCK_TIMEOUT = 8.0

__all__ = [
    "test", "run_all", "Daemon", "Client", "free_port", "make_tmpdir",
    "deep_merge", "default_config", "server_cfg", "read_maildir", "split_delivery",
    "HEADER_RE", "run_cmd", "serve_fail", "wait_for", "check",
    "ROOT", "BINARY", "SOCK_TIMEOUT", "DATA_REPLY_354", "target_cmd",
]

DATA_REPLY_354 = "354 Enter message, ending with '.' on a line by itself"

# ---------------------------------------------------------------- registry

_tests = []
_current = {"daemons": [], "dirs": []}


def test(fn):
    """Register a test function (runs in definition order)."""
    _tests.append(fn)
    return fn


def check(cond, msg):
    """assert that survives python -O."""
    if not cond:
        raise AssertionError(msg)


def _cleanup(passed):
    """Stop leftover daemons; returns an error string or None."""
    err = None
    for d in _current["daemons"]:
        if d.proc is not None and d.proc.poll() is None:
            try:
                rc = d.stop(check_rc=False)
                if rc != 0 and err is None:
                    err = "daemon exit status %r after SIGTERM; log:\n%s" % (
                        rc, d.log_tail())
            except Exception as e:  # pragma: no cover
                if err is None:
                    err = "stopping daemon: %s" % e
        elif d.proc is not None and not d.stopped_by_test:
            rc = d.proc.returncode
            if rc != 0 and err is None:
                err = "daemon died with status %r; log:\n%s" % (
                    rc, d.log_tail())
    for path in _current["dirs"]:
        if passed and err is None:
            shutil.rmtree(path, ignore_errors=True)
    return err


def run_all():
    """Run every registered test; print PASS/FAIL lines; exit status."""
    only = set(sys.argv[1:])
    failed = 0
    for fn in _tests:
        name = fn.__name__
        if only and name not in only:
            continue
        _current["daemons"] = []
        _current["dirs"] = []
        reason = None
        try:
            fn()
        except Exception as e:
            reason = "%s: %s" % (type(e).__name__, e)
            if os.environ.get("GD_TEST_TRACE"):
                traceback.print_exc(file=sys.stderr)
        err = _cleanup(reason is None)
        if reason is None and err is not None:
            reason = err
        if reason is None:
            print("PASS %s" % name, flush=True)
        else:
            failed += 1
            if _current["dirs"]:
                reason += " [kept %s]" % " ".join(_current["dirs"])
            # one line per test: fold the reason
            reason = reason.replace("\r", "\\r").replace("\n", " | ")
            print("FAIL %s: %s" % (name, reason), flush=True)
    try:
        os.rmdir(TMPROOT)   # only when empty
    except OSError:
        pass
    sys.exit(1 if failed else 0)


# ---------------------------------------------------------------- helpers

def make_tmpdir():
    os.makedirs(TMPROOT, exist_ok=True)
    path = tempfile.mkdtemp(prefix="it-", dir=TMPROOT)
    _current["dirs"].append(path)
    return path


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def deep_merge(base, over):
    """Return base with over merged in (dicts recursively; a None value
    deletes the key)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def default_config(tmpdir):
    return {
        "log_level": "info",
        "log_file": "stderr",
        "allowed_hosts": ["example.com", "localhost"],
        "servers": [server_cfg()],
        "backend_config": {
            "save_workers_size": 2,
            # Hasher before Header: chains run left to right (BE-03), so
            # Header sees hashes[0] and the Received id is a real hash
            # (with "Header|Hasher" it says "unknown", PROC-11).
            "save_process": "HeadersParser|Hasher|Header|Debugger|MailDir",
            "primary_mail_host": "mx.test",
            "log_received_mails": True,
            "maildir_path": os.path.join(tmpdir, "mail", "[user]"),
            "maildir_user_map": "*=-1:-1",
            "gw_save_timeout": "30s",
            "gw_val_rcpt_timeout": "5s",
        },
    }


def server_cfg(**kw):
    """The default server object with keys replaced by kw."""
    srv = {
        "is_enabled": True,
        "host_name": "mx.test",
        "listen_interface": "127.0.0.1:PORT",
        "max_size": 10485760,
        "timeout": 30,
        "max_clients": 100,
    }
    srv.update(kw)
    return srv


def target_cmd(argv):
    """argv of a program built by this tree, behind GD_EXEC_WRAPPER."""
    return EXEC_WRAPPER + list(argv)


def run_cmd(args, timeout=20, cwd=ROOT, input=None):
    """Run a command; returns (exit status, stdout+stderr as text)."""
    p = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout,
                       input=input)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def wait_for(pred, timeout=5.0, step=0.05):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            return v
        time.sleep(step)


def serve_fail(config_text, timeout=15):
    """Run `guerrillad serve` on a config expected NOT to start.  Returns
    (exit status, output).  If it does start, it is killed and the status
    is reported as 'running'."""
    tmp = make_tmpdir()
    conf = os.path.join(tmp, "bad.conf")
    with open(conf, "w") as f:
        f.write(config_text)
    pidf = os.path.join(tmp, "pid")
    try:
        rc, out = run_cmd(target_cmd([BINARY, "serve", "-c", conf,
                                      "-p", pidf]),
                          timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.output or b"").decode("utf-8", "replace")
        return "running", out
    return rc, out


# ---------------------------------------------------------------- daemon

class Daemon:
    """A guerrillad serving a temporary config on a free loopback port."""

    def __init__(self, overrides=None, config=None, family=socket.AF_INET,
                 start=True, extra_args=(), port=None, use_p=True):
        self.dir = make_tmpdir()
        self.family = family
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        self.host = host
        self.port = port if port is not None else free_port(family, host)
        cfg = config if config is not None else default_config(self.dir)
        if overrides:
            cfg = deep_merge(cfg, overrides)
        self._template = json.loads(json.dumps(cfg).replace("TMPDIR",
                                                            self.dir))
        self.conf = os.path.join(self.dir, "guerrillad.conf")
        self._write_config()
        self.pidfile = os.path.join(self.dir, "guerrillad.pid")
        self.logfile = os.path.join(self.dir, "daemon.log")
        self.extra_args = list(extra_args)
        self.use_p = use_p
        lf = cfg.get("log_file", "")
        self.cfg_log = lf if lf not in ("", "stderr", "stdout", "off") \
            else None
        self.proc = None
        self.stopped_by_test = False
        _current["daemons"].append(self)
        if start:
            for attempt in range(3):
                try:
                    self.start()
                    break
                except RuntimeError as e:
                    # the free port was taken by someone else meanwhile
                    if port is not None or attempt == 2 or \
                            "Cannot listen on port" not in str(e):
                        raise
                    self._logf.close()
                    os.unlink(self.logfile)
                    self.port = free_port(family, host)
                    self._write_config()

    def _write_config(self):
        cfg = copy.deepcopy(self._template)
        for srv in cfg.get("servers", []):
            if "listen_interface" in srv:
                srv["listen_interface"] = srv["listen_interface"].replace(
                    "PORT", str(self.port))
        self.config = cfg
        with open(self.conf, "w") as f:
            json.dump(cfg, f, indent=2)

    @property
    def pid(self):
        return self.proc.pid

    def start(self, wait=10.0):
        self._logf = open(self.logfile, "ab")
        args = [BINARY] + self.extra_args + ["serve", "-c", self.conf]
        if self.use_p:
            args += ["-p", self.pidfile]
        self.proc = subprocess.Popen(target_cmd(args), cwd=ROOT,
                                     stdout=self._logf,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if "Listening on TCP" in self.log_text():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("guerrillad exited with %r before "
                                   "listening; log:\n%s" % (
                                       self.proc.returncode, self.log_tail()))
            time.sleep(0.02)
        raise RuntimeError("guerrillad not listening after %ss; log:\n%s" %
                           (wait, self.log_tail()))

    def log_text(self):
        """The daemon's stdout+stderr, plus the configured log file."""
        text = ""
        for path in (self.logfile, self.cfg_log):
            if path is None:
                continue
            try:
                with open(path, "rb") as f:
                    text += f.read().decode("utf-8", "replace")
            except FileNotFoundError:
                pass
        return text

    def log_tail(self, n=15):
        return "\n".join(self.log_text().splitlines()[-n:])

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=70, check_rc=True,
             expect_rc=0):
        """Send sig, wait for the exit; returns the exit status.  With
        check_rc, a status other than expect_rc raises."""
        self.stopped_by_test = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError("guerrillad did not exit within %ss "
                                     "of signal %d; log:\n%s" % (
                                         timeout, sig, self.log_tail()))
        self._logf.close()
        rc = self.proc.returncode
        if check_rc and rc != expect_rc:
            raise AssertionError("guerrillad exit status %r (expected %r); "
                                 "log:\n%s" % (rc, expect_rc,
                                               self.log_tail()))
        return rc

    def maildir(self, user):
        return os.path.join(self.dir, "mail", user)

    def messages(self, user="test"):
        return read_maildir(self.maildir(user), self.proc.pid)

    def client(self, **kw):
        return Client(self.port, host=self.host, family=self.family, **kw)


# ---------------------------------------------------------------- client

class Client:
    """A raw SMTP client over one socket: exact bytes out, exact reply
    lines in."""

    def __init__(self, port, host="127.0.0.1", family=socket.AF_INET,
                 greet=True, timeout=SOCK_TIMEOUT):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = b""
        self.timeout = timeout
        self.greeting = None
        if greet:
            g = self.reply()
            check(len(g) == 1, "multi-line greeting %r" % g)
            self.greeting = g[0]

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        finally:
            self.sock.settimeout(self.timeout)
        return chunk

    def readline(self, timeout=None):
        """One reply line without its CRLF.  Raises EOFError on close."""
        timeout = self.timeout if timeout is None else timeout
        end = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise socket.timeout("no complete reply line within %ss; "
                                     "have %r" % (timeout, self.buf))
            chunk = self._fill(left)
            if not chunk:
                raise EOFError("connection closed; unterminated %r" %
                               self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("latin-1")

    def reply(self, timeout=None):
        """A complete (possibly multi-line) reply as a list of lines."""
        lines = []
        while True:
            line = self.readline(timeout)
            lines.append(line)
            check(re.match(r"^\d\d\d([ -]|$)", line),
                  "malformed reply line %r (after %r)" % (line, lines[:-1]))
            if len(line) == 3 or line[3] == " ":
                return lines

    def reply1(self, timeout=None):
        """A reply expected to be one line; returns the line."""
        r = self.reply(timeout)
        check(len(r) == 1, "expected a one-line reply, got %r" % r)
        return r[0]

    def cmd(self, line, timeout=None):
        """Send one command line (CRLF added) and return its one-line
        reply."""
        self.send(line + "\r\n")
        return self.reply1(timeout)

    def expect(self, line, expected, timeout=None):
        got = self.cmd(line, timeout)
        check(got == expected, "%r: expected %r, got %r" %
              (line, expected, got))
        return got

    def expect_eof(self, timeout=5.0, allow_reset=True):
        """The server closes the connection (any unread reply data is an
        error)."""
        end = time.monotonic() + timeout
        while True:
            if self.buf:
                raise AssertionError("expected EOF, got %r" % self.buf)
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("connection still open after %ss" %
                                     timeout)
            try:
                chunk = self._fill(left)
            except socket.timeout:
                raise AssertionError("connection still open after %ss" %
                                     timeout)
            except ConnectionResetError:
                if not allow_reset:
                    raise AssertionError("connection reset, not closed "
                                         "(a reply before it can be lost)")
                return
            if not chunk:
                return
            self.buf += chunk

    def is_closed(self, timeout=0.2):
        """True if the peer has closed (EOF or reset) with no data."""
        try:
            chunk = self._fill(timeout)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if chunk:
            self.buf += chunk
            return False
        return True

    def transaction(self, body, sender="<a@b.c>", rcpts=("<test@example.com>",)):
        """MAIL/RCPT/DATA/body; body is sent as given and must end with
        the terminator.  Returns the final reply line."""
        self.expect("MAIL FROM:" + sender, "250 2.1.0 OK")
        for r in rcpts:
            self.expect("RCPT TO:" + r, "250 2.1.5 OK")
        self.expect("DATA", DATA_REPLY_354)
        self.send(body)
        return self.reply1()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# ---------------------------------------------------------------- maildir

_DAYS = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONS = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"


def HEADER_RE(rcpt_local="test", rcpt_domain="example.com",
              ip="127.0.0.1", proto="ESMTP", host="mx.test",
              hashre="[0-9a-f]{32}"):
    """PROC-11: the delivery header, as a compiled bytes regex that
    matches at the start of a stored file; group 1 = the message."""
    d = re.escape(rcpt_domain)
    pat = (
        "Delivered-To: %s@%s\n"
        "Received: from %s \\(\\[%s\\]\\)\n"
        "\tby %s with %s id %s@%s;\n"
        "\t%s, \\d\\d %s \\d{4} \\d\\d:\\d\\d:\\d\\d [+-]\\d{4}\n"
    ) % (re.escape(rcpt_local), re.escape(host), re.escape(ip),
         re.escape(ip), d, proto, hashre, d, _DAYS, _MONS)
    return re.compile(pat.encode() + b"(.*)\\Z", re.S)


def split_delivery(data, **kw):
    """Check the PROC-11 header at the start of data; return the rest."""
    m = HEADER_RE(**kw).match(data)
    if m is None:
        raise AssertionError("stored file does not start with the expected "
                             "delivery header: %r" % data[:300])
    return m.group(1)


def read_maildir(path, pid=None):
    """All messages in <path>/new/ as a list of (name, bytes), oldest name
    first; checks the ',S=<size>' suffix against the file size and that
    tmp/ holds no leftovers."""
    new = os.path.join(path, "new")
    if not os.path.isdir(new):
        return []
    out = []
    for name in sorted(os.listdir(new)):
        full = os.path.join(new, name)
        with open(full, "rb") as f:
            data = f.read()
        # PROC-16: <unix>.M<usec>P<pid>_<counter>.<hostname>,S=<size>
        m = re.fullmatch(r"\d+\.M\d+P(\d+)_\d+\.[^/,]+,S=(\d+)", name)
        check(m is not None, "maildir file name %r" % name)
        check(pid is None or int(m.group(1)) == pid,
              "maildir name %s: P%s is not the daemon pid %s" %
              (name, m.group(1), pid))
        mode = os.stat(full).st_mode & 0o777
        check(mode == 0o600, "maildir file %s has mode %o" % (name, mode))
        check(int(m.group(2)) == len(data),
              "maildir name %s says S=%s but the file has %d octets" %
              (name, m.group(2), len(data)))
        out.append((name, data))
    tmp = os.path.join(path, "tmp")
    if os.path.isdir(tmp):
        left = os.listdir(tmp)
        check(not left, "maildir tmp/ not empty: %r" % left)
    return out

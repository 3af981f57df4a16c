"""stores.py - real store servers for the integration tests, shared by
test_redis.py, test_sql.py and test_dbredis.py (not a test file itself:
run.sh runs only test_*.py).

Redis(port=None, password=None): a redis-server on a free loopback port
in a temporary folder, without persistence; .cmd(...) sends one command
over a fresh raw RESP connection; .kill() / .start() for outages.

db(): one MariaDB server per test program (mariadb-install-db into a
temporary datadir under tests/tmp, mariadbd on a free loopback port and a
unix socket), with database gmail, user gm (password PASSWORD) and the
table from processors/sql_schema.sql; removed when the program exits.
.rows(where) returns the rows of new_mail as dicts of bytes.

Python 3 standard library only.  A missing server FAILs the test with a
message naming the package to install."""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, check, free_port, make_tmpdir, run_cmd  # noqa: E402

__all__ = ["PASSWORD", "MariaDB", "db", "Redis", "need_redis", "resp_cmd",
           "resp_read", "which"]

PASSWORD = "s3cr'et\"\\"      # quotes and a backslash survive the DSN


def which(*names):
    for n in names:
        p = shutil.which(n) or next((os.path.join(d, n) for d in (
            "/usr/sbin", "/usr/local/sbin", "/usr/libexec") if
            os.access(os.path.join(d, n), os.X_OK)), None)
        if p:
            return p
    return None


class MariaDB:
    """One server for the whole file."""

    def __init__(self):
        self.server = which("mariadbd", "mysqld")
        self.install = which("mariadb-install-db", "mysql_install_db")
        self.client = which("mariadb", "mysql")
        if not (self.server and self.install and self.client):
            raise RuntimeError(
                "MariaDB not found: install the packages mariadb-server "
                "and mariadb-client (apt-get install -y mariadb-server "
                "mariadb-client)")
        os.makedirs(os.path.join(ROOT, "tests", "tmp"), exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="mariadb-",
                                    dir=os.path.join(ROOT, "tests", "tmp"))
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.port = free_port()
        self.proc = None
        rc, out = run_cmd([self.install, "--no-defaults",
                           "--datadir=" + self.data,
                           "--auth-root-authentication-method=normal",
                           "--user=" + self._user(), "--skip-test-db"],
                          timeout=60)
        if rc != 0:
            raise RuntimeError("mariadb-install-db failed: %s" % out[-500:])
        self.start()
        self.root_sql(
            "CREATE DATABASE gmail; "
            "CREATE USER 'gm'@'localhost' IDENTIFIED BY '%s'; "
            "CREATE USER 'gm'@'127.0.0.1' IDENTIFIED BY '%s'; "
            "GRANT ALL ON gmail.* TO 'gm'@'localhost'; "
            "GRANT ALL ON gmail.* TO 'gm'@'127.0.0.1';" % (
                self._q(PASSWORD), self._q(PASSWORD)))
        with open(os.path.join(ROOT, "processors", "sql_schema.sql")) as f:
            self.root_sql(f.read(), db="gmail")

    @staticmethod
    def _user():
        import pwd
        return pwd.getpwuid(os.getuid()).pw_name

    @staticmethod
    def _q(s):
        return s.replace("\\", "\\\\").replace("'", "\\'")

    def start(self):
        self.log = open(os.path.join(self.dir, "mariadbd.log"), "ab")
        self.proc = subprocess.Popen(
            [self.server, "--no-defaults", "--datadir=" + self.data,
             "--socket=" + self.sock, "--port=%d" % self.port,
             "--bind-address=127.0.0.1", "--skip-networking=0",
             "--skip-name-resolve", "--user=" + self._user(),
             "--pid-file=" + os.path.join(self.dir, "pid"),
             "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M",
             "--innodb-flush-log-at-trx-commit=2",
             "--skip-log-bin", "--max-connections=50"],
            stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("mariadbd exited with %r" %
                                   self.proc.returncode)
            rc, _ = run_cmd([self.client, "--no-defaults", "-S", self.sock,
                             "-u", "root", "-e", "SELECT 1"], timeout=10)
            if rc == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("mariadbd did not come up within 30 s")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=20)
        self.proc = None
        self.log.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def root_sql(self, sql, db=None):
        args = [self.client, "--no-defaults", "-S", self.sock, "-u", "root",
                "-N", "-B"]
        if db:
            args.append(db)
        p = subprocess.run(args, input=sql.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        out = p.stdout.decode("utf-8", "replace")
        check(p.returncode == 0, "mariadb client: %s" % out)
        return out

    COLS = ["to", "from", "subject", "body", "mail", "spam_score", "hash",
            "content_type", "recipient", "has_attach", "ip_addr",
            "return_path", "is_tls", "message_id", "reply_to", "sender",
            "charset"]

    def rows(self, where="1=1"):
        """Every matching row as a dict of bytes (HEX() on the wire, so no
        byte is lost to the client's output escaping)."""
        sel = ", ".join("HEX(CONCAT(`%s`))" % c for c in self.COLS)
        out = self.root_sql("SELECT %s, TIMESTAMPDIFF(SECOND, `date`, NOW())"
                            " FROM new_mail WHERE %s ORDER BY mail_id" % (
                                sel, where), db="gmail")
        rows = []
        for line in out.splitlines():
            f = line.split("\t")
            r = {c: bytes.fromhex(v) for c, v in zip(self.COLS, f)}
            r["age"] = int(f[-1])
            rows.append(r)
        return rows

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


_db = {"db": None, "error": None}


def db():
    if _db["error"] is not None:
        raise RuntimeError(_db["error"])
    if _db["db"] is None:
        try:
            _db["db"] = MariaDB()
        except Exception as e:
            _db["error"] = str(e)
            raise
        atexit.register(_db["db"].cleanup)
    return _db["db"]


def need_redis():
    path = shutil.which("redis-server")
    if path is None:
        raise AssertionError("redis-server not found: install the Debian "
                             "package redis-server (apt-get install -y "
                             "redis-server)")
    return path


class Redis:
    """A redis-server subprocess on 127.0.0.1:port in a temp folder."""

    def __init__(self, port=None, password=None):
        self.bin = need_redis()
        self.dir = make_tmpdir()
        self.port = port or free_port()
        self.password = password
        self.proc = None
        self.start()

    def start(self):
        args = [self.bin, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.dir,
                "--daemonize", "no", "--logfile", "",
                "--loglevel", "warning"]
        if self.password:
            args += ["--requirepass", self.password]
        self.log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(args, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                if self.cmd("PING") == b"PONG":
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited with %r" %
                                     self.proc.returncode)
            time.sleep(0.05)
        raise AssertionError("redis-server not answering on port %d" %
                             self.port)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()

    def cmd(self, *args, db=0):
        """One command over a fresh raw RESP connection (AUTH / SELECT
        first when needed); returns the decoded reply."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        try:
            f = s.makefile("rb")
            pre = []
            if self.password:
                pre.append(("AUTH", self.password))
            if db:
                pre.append(("SELECT", str(db)))
            for p in pre:
                s.sendall(resp_cmd(*p))
                r = resp_read(f)
                check(r == b"OK", "%s: %r" % (p[0], r))
            s.sendall(resp_cmd(*args))
            return resp_read(f)
        finally:
            s.close()


def resp_cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def resp_read(f):
    line = f.readline()
    check(line.endswith(b"\r\n"), "RESP line %r" % line)
    t, rest = line[:1], line[1:-2]
    if t == b"+":
        return rest
    if t == b"-":
        return RuntimeError(rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if t == b"*":
        return [resp_read(f) for _ in range(int(rest))]
    raise AssertionError("RESP type %r" % t)

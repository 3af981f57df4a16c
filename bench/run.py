#!/usr/bin/env python3
"""bench/run.py - `make bench`: guerrillad against Postfix's smtp-sink and the
minsmtp floor, driven by Postfix's smtp-source (DESIGN "Performance").

    python3 bench/run.py [--quick] [--rounds N] [--only a,c] [--no-idle]

QUICK=1 in the environment (make bench QUICK=1) is --quick: a tenth of each
scenario, for a smoke check.  SCENARIOS=a,e is --only a,e; WORKERS=n sets
guerrillad's save_workers_size (default 2); IO_THREADS=n its io_threads.
Python 3 standard library only; Linux only (it reads /proc/PID/stat and
/proc/PID/status).

Three servers take part, each on its own loopback port and all started per
scenario:  guerrillad (a temporary config, log_level error), smtp-sink (a
server that answers and stores nothing: the ceiling) and minsmtp (the floor,
../shared/tools/minsmtp.c, built into bench/out/).  The rounds are
interleaved: guerrillad, smtp-sink, minsmtp, guerrillad, ... and each figure
is the median over the rounds.  Per round and server it measures

  msgs/s       messages / wall time of the smtp-source run
  CPU s/10k    utime+stime of the server process (all threads), delta over
               the round, from /proc/PID/stat, per 10,000 messages
  peak RSS     VmHWM from /proc/PID/status; reset before every round by
               writing 5 to /proc/PID/clear_refs when the kernel allows it
               (otherwise it is the peak since the server started)

and prints the ratios guerrillad / smtp-sink and guerrillad / minsmtp (the
floor: the same run's noise moves both).  Nothing here is asserted:
the figures to reach are in the issue, the table only tells.
"""
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
GUERRILLAD = os.environ.get("GUERRILLAD") or os.path.join(ROOT, "guerrillad")
MINSMTP_SRC = os.environ.get("MINSMTP_SRC") or os.path.join(
    ROOT, "..", "shared", "tools", "minsmtp.c")
CLK = os.sysconf("SC_CLK_TCK")
# IO_THREADS=n (make bench IO_THREADS=1): guerrillad's io_threads; 0 = one
# poll loop per online CPU (the default).
IO_THREADS = int(os.environ.get("IO_THREADS") or 0)
# WORKERS=n (make bench WORKERS=8): guerrillad's save_workers_size.
WORKERS = int(os.environ.get("WORKERS") or 2)
PAGE = os.sysconf("SC_PAGE_SIZE")
DOMAIN = "example.com"
CHAIN = "HeadersParser|Header|Hasher"

# name: (sessions, messages, payload bytes, recipients, one connection, maildir)
SCENARIOS = [
    ("a", 100, 50000, 4096, 1, False, False),
    ("b", 1, 10000, 4096, 1, True, False),
    ("c", 20, 2000, 1048576, 1, False, False),
    ("d", 100, 20000, 4096, 10, False, False),
    ("e", 100, 50000, 4096, 1, False, True),
]
DESCR = {
    "a": "100 sessions, 4 KiB, 1 rcpt, new connection per message",
    "b": "1 session, 4 KiB, 1 rcpt, one connection for all (-d)",
    "c": "20 sessions, 1 MiB, 1 rcpt",
    "d": "100 sessions, 4 KiB, 10 rcpts",
    "e": "as a, chain + MailDir (fsync before 250)",
}
RUN_TIMEOUT = 600


def die(msg):
    sys.stderr.write("bench: " + msg + "\n")
    sys.exit(1)


# ------------------------------------------------------------------ tools

def find_tool(name):
    p = shutil.which(name)
    if p:
        return p
    for d in ("/usr/sbin", "/usr/local/sbin", "/usr/libexec/postfix",
              "/usr/lib/postfix/sbin", "/usr/local/libexec/postfix"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


HOW = ("install Postfix's test tools (Debian/Ubuntu package postfix), as root:\n"
       "  echo 'postfix postfix/main_mailer_type select No configuration' "
       "| debconf-set-selections\n"
       "  DEBIAN_FRONTEND=noninteractive apt-get install -y postfix\n"
       "and make sure no postfix service is left running (postfix stop).")


def postfix_running():
    try:
        r = subprocess.run(["postfix", "status"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=20)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_postfix_tools():
    src, sink = find_tool("smtp-source"), find_tool("smtp-sink")
    if src and sink:
        return src, sink
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        die("smtp-source/smtp-sink not found; " + HOW)
    was_running = postfix_running()
    print("bench: installing postfix (for smtp-source and smtp-sink) ...",
          flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["debconf-set-selections"], input=(
        b"postfix postfix/main_mailer_type select No configuration\n"),
        check=False)
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    r = subprocess.run(["apt-get", "install", "-y", "-q", "postfix"], env=env)
    if r.returncode != 0:
        die("apt-get install postfix failed; " + HOW)
    # The package may start its service: we want the tools only.
    if not was_running and postfix_running():
        subprocess.run(["postfix", "stop"], check=False)
    src, sink = find_tool("smtp-source"), find_tool("smtp-sink")
    if not (src and sink):
        die("postfix installed but smtp-source/smtp-sink not found")
    return src, sink


def build_minsmtp():
    os.makedirs(OUT, exist_ok=True)
    exe = os.path.join(OUT, "minsmtp")
    if not os.path.exists(MINSMTP_SRC):
        die("minsmtp source not found: %s (set MINSMTP_SRC)" % MINSMTP_SRC)
    if (not os.path.exists(exe) or
            os.path.getmtime(exe) < os.path.getmtime(MINSMTP_SRC)):
        cc = os.environ.get("CC") or "cc"
        r = subprocess.run([cc, "-O2", "-o", exe, MINSMTP_SRC])
        if r.returncode != 0:
            die("building minsmtp failed")
    return exe


def stripped_size(exe=GUERRILLAD):
    if not shutil.which("strip"):
        return None
    os.makedirs(OUT, exist_ok=True)
    dst = os.path.join(OUT, os.path.basename(exe) + ".stripped")
    r = subprocess.run(["strip", "-o", dst, exe])
    if r.returncode != 0:
        return None
    return os.path.getsize(dst)


def raise_nofile(want=20000):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft == resource.RLIM_INFINITY or soft >= want:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        return want
    except (ValueError, OSError):
        return soft


# ------------------------------------------------------------------- /proc

def cpu_ticks(pid):
    """utime+stime of the whole process (all threads), in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])   # fields 14 and 15 of stat


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_hwm(pid):
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ----------------------------------------------------------------- servers

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_listening(port, proc, what, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            die("%s exited at start (status %s)" % (what, proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.settimeout(2)
                c.recv(512)          # the greeting
                c.sendall(b"QUIT\r\n")
                try:
                    c.recv(512)
                except OSError:
                    pass
            return
        except OSError:
            time.sleep(0.05)
    die("%s did not listen on port %d" % (what, port))


class Server:
    def __init__(self, name, argv, port, tmp, env=None):
        self.name, self.port = name, port
        self.log = open(os.path.join(tmp, name + ".log"), "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, env=env)
        wait_listening(port, self.proc, name)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def guerrillad_config(tmp, port, maildir, max_clients=1000):
    bcfg = {
        "save_workers_size": WORKERS,
        "save_process": CHAIN,
        "primary_mail_host": "bench.example.com",
        "log_received_mails": False,
        "gw_save_timeout": "30s",
        "gw_val_rcpt_timeout": "5s",
    }
    if maildir:
        md = os.path.join(tmp, "maildir")
        os.makedirs(md, exist_ok=True)
        bcfg["save_process"] = CHAIN + "|MailDir"
        bcfg["maildir_path"] = os.path.join(md, "[user]")
        bcfg["maildir_user_map"] = "*=-1:-1"
    cfg = {
        "log_file": os.path.join(tmp, "guerrillad.err"),
        "log_level": "error",
        "io_threads": IO_THREADS,
        "allowed_hosts": [DOMAIN],
        "pid_file": os.path.join(tmp, "guerrillad.pid"),
        "backend_config": bcfg,
        "servers": [{
            "is_enabled": True,
            "host_name": "bench.example.com",
            "listen_interface": "127.0.0.1:%d" % port,
            "max_size": 10485760,
            "timeout": 30,
            "max_clients": max_clients,
        }],
    }
    path = os.path.join(tmp, "guerrillad.conf")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
    return path


def start_servers(tmp, sink_exe, minsmtp_exe, maildir=False, max_clients=1000):
    servers = []
    p = free_port()
    conf = guerrillad_config(tmp, p, maildir, max_clients)
    servers.append(Server("guerrillad",
                          [GUERRILLAD, "serve", "-c", conf], p, tmp))
    p = free_port()
    argv = [sink_exe, "-m", str(max_clients + 100)]
    if os.geteuid() == 0:
        argv += ["-u", "nobody"]
    argv += ["127.0.0.1:%d" % p, "1000"]
    servers.append(Server("smtp-sink", argv, p, tmp))
    p = free_port()
    servers.append(Server("minsmtp", [minsmtp_exe, "127.0.0.1", str(p)], p,
                          tmp))
    return servers


# ------------------------------------------------------------------- rounds

def one_round(src_exe, srv, sessions, msgs, size, rcpts, keep_conn):
    argv = [src_exe, "-s", str(sessions), "-m", str(msgs), "-l", str(size),
            "-r", str(rcpts), "-M", "bench.example.com",
            "-f", "bench@" + DOMAIN, "-t", "rcpt@" + DOMAIN]
    if keep_conn:
        argv.append("-d")
    argv.append("127.0.0.1:%d" % srv.port)
    hwm_reset = reset_hwm(srv.pid)
    c0 = cpu_ticks(srv.pid)
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT)
        rc, out = r.returncode, r.stdout.decode(errors="replace")
    except subprocess.TimeoutExpired:
        rc, out = -1, "timed out after %ds" % RUN_TIMEOUT
    dt = time.monotonic() - t0
    time.sleep(0.05)   # let the server finish the last QUIT/close
    c1 = cpu_ticks(srv.pid)
    hwm = status_kib(srv.pid, "VmHWM")
    if rc != 0:
        return {"error": "smtp-source exit %s: %s" % (rc, out.strip()[-300:])}
    return {"rate": msgs / dt, "cpu10k": (c1 - c0) / CLK * 10000.0 / msgs,
            "hwm": hwm, "hwm_reset": hwm_reset, "secs": dt}


def med(rows, key):
    vals = [r[key] for r in rows if "error" not in r]
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    if v is None:
        return "-"
    if spec.endswith("x"):          # a ratio: 0.93x
        return format(v, spec[:-1]) + "x"
    return format(v, spec)


def ratio(a, b):
    return None if a is None or not b else a / b


def run_scenario(sc, quick, rounds, src_exe, sink_exe, minsmtp_exe, results):
    name, sessions, msgs, size, rcpts, keep_conn, maildir = sc
    if quick:
        msgs = max(msgs // 10, sessions)
    tmp = tempfile.mkdtemp(prefix="gd-bench-%s-" % name)
    servers = start_servers(tmp, sink_exe, minsmtp_exe, maildir=maildir,
                            max_clients=max(1000, sessions * 2))
    per = {s.name: [] for s in servers}
    try:
        for rnd in range(rounds):
            for s in servers:       # interleaved: A, B, C, A, B, C, ...
                if s.proc.poll() is not None:
                    per[s.name].append({"error": "server exited (%s)"
                                        % s.proc.returncode})
                    continue
                r = one_round(src_exe, s, sessions, msgs, size, rcpts,
                              keep_conn)
                per[s.name].append(r)
                if "error" in r:
                    print("  %s round %d %s: %s" % (name, rnd + 1, s.name,
                                                    r["error"]), flush=True)
            print("  %s round %d/%d: %s" % (
                name, rnd + 1, rounds, ", ".join(
                    "%s %s msg/s" % (n, fmt(v[-1].get("rate"), ".0f"))
                    for n, v in per.items())), flush=True)
    finally:
        for s in servers:
            s.stop()
        errlog = os.path.join(tmp, "guerrillad.err")
        if os.path.exists(errlog) and os.path.getsize(errlog) > 0:
            with open(errlog, errors="replace") as f:
                lines = f.read().splitlines()
            print("  guerrillad log (%d lines, last 3):" % len(lines))
            for ln in lines[-3:]:
                print("    " + ln)
        shutil.rmtree(tmp, ignore_errors=True)
    results[name] = {
        "msgs": msgs, "size": size, "sessions": sessions, "rcpts": rcpts,
        "servers": {n: {"rate": med(v, "rate"), "cpu10k": med(v, "cpu10k"),
                        "hwm": med(v, "hwm"),
                        "errors": sum(1 for r in v if "error" in r),
                        "hwm_reset": all(r.get("hwm_reset", True) for r in v)}
                    for n, v in per.items()},
    }


def print_table(results, rounds):
    print()
    print("median of %d interleaved rounds; CPU = server utime+stime per "
          "10,000 msgs; RSS = VmHWM" % rounds)
    hdr = "%-3s %-11s %10s %11s %10s   %s" % (
        "", "server", "msgs/s", "CPU s/10k", "peakRSS", "")
    print(hdr)
    print("-" * 72)
    for name in sorted(results):
        r = results[name]
        print("%s: %s  (%d msgs x %d B, %d sess, %d rcpt)" % (
            name, DESCR[name], r["msgs"], r["size"], r["sessions"],
            r["rcpts"]))
        for n in ("guerrillad", "smtp-sink", "minsmtp"):
            s = r["servers"][n]
            err = "  (%d failed rounds)" % s["errors"] if s["errors"] else ""
            hwm = "-" if s["hwm"] is None else "%.1f MiB" % (s["hwm"] / 1024)
            print("    %-11s %10s %11s %10s%s" % (
                n, fmt(s["rate"], ".0f"), fmt(s["cpu10k"], ".3f"), hwm, err))
        # against smtp-sink (the figures) and against the floor
        # (no receiver can cost less; the same run's noise hits both)
        g = r["servers"]["guerrillad"]
        for label, other in (("gd/sink", "smtp-sink"),
                             ("gd/floor", "minsmtp")):
            k = r["servers"][other]
            print("    %-11s %10s %11s %10s" % (
                label, fmt(ratio(g["rate"], k["rate"]), ".2fx"),
                fmt(ratio(g["cpu10k"], k["cpu10k"]), ".2fx"),
                fmt(ratio(g["hwm"], k["hwm"]), ".2fx")))
    if "e" in results and "a" in results:
        ge = results["e"]["servers"]["guerrillad"]["rate"]
        ga = results["a"]["servers"]["guerrillad"]["rate"]
        print("e/a guerrillad msgs/s: %s" % fmt(ratio(ge, ga), ".2fx"))
    if any(not s["hwm_reset"] for r in results.values()
           for s in r["servers"].values()):
        print("note: /proc/PID/clear_refs not writable: peak RSS is since "
              "server start")


def main():
    args = sys.argv[1:]
    quick = os.environ.get("QUICK", "") not in ("", "0") or "--quick" in args
    rounds = 3
    only = None
    idle = "--no-idle" not in args
    for i, a in enumerate(args):
        if a == "--rounds":
            rounds = int(args[i + 1])
        if a == "--only":
            only = set(args[i + 1].split(","))
    if os.environ.get("SCENARIOS"):
        only = set(os.environ["SCENARIOS"].split(","))
    if only and not only & set(sc[0] for sc in SCENARIOS):
        die("no such scenario in %s (have %s)" % (
            ",".join(sorted(only)), ",".join(sc[0] for sc in SCENARIOS)))
    if os.environ.get("ROUNDS"):
        rounds = int(os.environ["ROUNDS"])
    if not sys.platform.startswith("linux"):
        die("needs Linux (/proc/PID/stat and /proc/PID/status)")
    if not os.access(GUERRILLAD, os.X_OK):
        die("%s not built (make)" % GUERRILLAD)
    src_exe, sink_exe = ensure_postfix_tools()
    minsmtp_exe = build_minsmtp()
    nofile = raise_nofile()
    t0 = time.time()
    print("guerrillad bench%s: %d rounds, open file limit %s, %d CPUs, "
          "save_workers_size %d, io_threads %s" % (
              " (QUICK: a tenth of each scenario)" if quick else "", rounds,
              nofile, os.cpu_count() or 0, WORKERS,
              IO_THREADS or "one per CPU"), flush=True)
    results = {}
    for sc in SCENARIOS:
        if only and sc[0] not in only:
            continue
        run_scenario(sc, quick, rounds, src_exe, sink_exe, minsmtp_exe,
                     results)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "last.json"), "w") as f:
        json.dump({"quick": quick, "rounds": rounds, "results": results}, f,
                  indent=1)
    print_table(results, rounds)
    sz = stripped_size()
    print("stripped guerrillad: %s" % (
        "-" if sz is None else "%d bytes (%.1f KiB)" % (sz, sz / 1024)))
    if idle:
        sys.stdout.flush()
        r = subprocess.run([sys.executable, os.path.join(HERE, "idle.py")] +
                           (["--quick"] if quick else []))
        if r.returncode != 0:
            print("bench/idle.py failed (exit %d)" % r.returncode)
    print("bench took %.0f s" % (time.time() - t0))


if __name__ == "__main__":
    main()

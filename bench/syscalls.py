#!/usr/bin/env python3
"""System calls and context switches per enrollment, per process: the
kernel side that instructions.py (user space only) does not see.

  bench/syscalls.py --build-dir /tmp/before --candidate-build-dir build \\
      --n 2000 --concurrency 16

Starts our stack (tests/integration/harness.py), warms it up, and records
the `raw_syscalls:sys_enter` and `sched:sched_switch` tracepoints of redis,
signer and gateway with `perf record` while scep-bench runs exactly N
enrollments; then counts them per process and per system call. Counts, not
times: on this VM a system call costs ~0.2 us but a wake-up of a thread on
the other core tens of microseconds, so the switch count matters most.
Needs perf with tracepoint access (root, or perf_event_paranoid <= -1).
"""

import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

p = argparse.ArgumentParser()
p.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
p.add_argument("--candidate-build-dir")
p.add_argument("--n", type=int, default=2000)
p.add_argument("--concurrency", type=int, default=16)
p.add_argument("--warmup", type=int, default=300)
p.add_argument("--top", type=int, default=8, help="system calls listed per process")
p.add_argument("--candidate-redis-tls", action="store_true",
               help="the candidate's gateway reaches Redis over TLS; with no "
                    "--candidate-build-dir the candidate is --build-dir")
args = p.parse_args()
os.environ["SCEP_BUILD_DIR"] = os.path.abspath(args.build_dir)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

CHALLENGE = "Bench-Syscalls"
UNISTD = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"


def syscall_names():
    names = {}
    try:
        with open(UNISTD) as f:
            for line in f:
                m = re.match(r"#define __NR_(\w+)\s+(\d+)", line)
                if m:
                    names[int(m.group(2))] = m.group(1)
    except OSError:
        pass
    return names


def run_bench(build_dir, url, n, concurrency):
    subprocess.run(
        [os.path.join(build_dir, "bench", "scep-bench"), "--url", url,
         "--challenge", CHALLENGE, "--n", str(n), "--concurrency", str(concurrency),
         "--progress=false", "--json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600, check=True)


def measure(build_dir, work, label, redis_tls=False):
    harness.BUILD_DIR = os.path.abspath(build_dir)
    stack = harness.Stack(challenge=CHALLENGE, legacy=False, redis_tls=redis_tls)
    stack.start()
    data = os.path.join(work, f"perf.{label}.data")
    try:
        run_bench(build_dir, stack.url, args.warmup, 16)
        pids = {str(p.pid): name for name, p in stack.procs.items()}
        perf = subprocess.Popen(
            ["perf", "record", "-q", "-e", "raw_syscalls:sys_enter", "-e",
             "sched:sched_switch", "-p", ",".join(pids), "-o", data],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)  # perf attaches
        run_bench(build_dir, stack.url, args.n, args.concurrency)
        perf.send_signal(signal.SIGINT)
        perf.wait(300)
    finally:
        stack.stop()
    out = subprocess.run(["perf", "script", "-i", data, "-F", "pid,event,trace"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, check=True).stdout
    calls = collections.defaultdict(collections.Counter)
    switches = collections.Counter()
    for line in out.splitlines():
        fields = line.split(None, 2)
        if len(fields) < 2 or fields[0] not in pids:
            continue
        proc = pids[fields[0]]
        if fields[1].startswith("sched:sched_switch"):
            switches[proc] += 1
        elif fields[1].startswith("raw_syscalls:sys_enter"):
            m = re.search(r"NR (\d+)", line)
            if m:
                calls[proc][int(m.group(1))] += 1
    return calls, switches


def main():
    if shutil.which("perf") is None:
        sys.exit("perf is not installed (Debian package linux-perf)")
    names = syscall_names()
    builds = [("ours", args.build_dir)]
    if args.candidate_build_dir or args.candidate_redis_tls:
        builds.append(("candidate", args.candidate_build_dir or args.build_dir))
    work = tempfile.mkdtemp(prefix="scep-syscalls-")
    results = {}
    try:
        for label, build_dir in builds:
            print(f"== {label}", file=sys.stderr)
            results[label] = measure(build_dir, work, label,
                                     redis_tls=label == "candidate" and args.candidate_redis_tls)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = args.n
    print(f"per enrollment, N={n} C={args.concurrency} (perf tracepoints)")
    for proc in ("gateway", "signer", "redis"):
        for label, _ in builds:
            calls, switches = results[label]
            total = sum(calls[proc].values())
            top = ", ".join(
                f"{names.get(nr, nr)} {count / n:.1f}"
                for nr, count in calls[proc].most_common(args.top))
            print(f"{proc:8} {label:10} syscalls {total / n:6.1f}  switches "
                  f"{switches[proc] / n:5.1f}   {top}")


if __name__ == "__main__":
    main()

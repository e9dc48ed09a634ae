#!/usr/bin/env python3
"""Profiles our stack under scep-bench load with perf (cpu-clock sampling;
this VM has no hardware counters).

  bench/profile.py --build-dir build-bench --n 3000 --concurrency 16 --out /tmp/scep-prof

Starts the stack with tests/integration/harness.py, warms it up, records
gateway, signer and redis while scep-bench runs, and writes
OUT/perf.data plus OUT/report.txt (top symbols per process, self time) and
OUT/callers.txt (call graph of the gateway and signer, children time).
"""

import argparse
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

p = argparse.ArgumentParser()
p.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
p.add_argument("--n", type=int, default=3000)
p.add_argument("--concurrency", type=int, default=16)
p.add_argument("--out", default="/tmp/scep-prof")
p.add_argument("--ca-key", default="rsa:2048")
p.add_argument("--gateway-args", default="",
               help="extra scep-gateway flags, e.g. --profiles_file=F (a notifying profile)")
args = p.parse_args()
os.environ["SCEP_BUILD_DIR"] = os.path.abspath(args.build_dir)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

BENCH = os.path.join(os.path.abspath(args.build_dir), "bench", "scep-bench")
os.makedirs(args.out, exist_ok=True)
data = os.path.join(args.out, "perf.data")

stack = harness.Stack(challenge="Bench-Profile", legacy=False, ca_key=args.ca_key,
                      gateway_args=args.gateway_args.split())
stack.start()
try:
    bench = [BENCH, "--url", stack.url, "--challenge", stack.challenge,
             "--concurrency", str(args.concurrency), "--progress=false"]
    subprocess.run(bench + ["--n", "200"], check=True, stderr=subprocess.DEVNULL)
    # Prepare first (the bench generates keys before its clock starts), then
    # attach perf only for the measured part: --duration keeps it simple.
    pids = ",".join(str(p.pid) for p in stack.procs.values())
    perf = subprocess.Popen(
        ["perf", "record", "-e", "cpu-clock", "-F", "997", "--call-graph",
         "dwarf,16384", "-o", data, "-p", pids],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    subprocess.run(bench + ["--n", str(args.n)], check=True)
    perf.send_signal(signal.SIGINT)
    perf.wait(120)
finally:
    stack.stop()

with open(os.path.join(args.out, "report.txt"), "w") as f:
    subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio",
                    "--sort", "comm,dso,sym", "-g", "none", "--percent-limit",
                    "0.7"], stdout=f, stderr=subprocess.DEVNULL)
with open(os.path.join(args.out, "callers.txt"), "w") as f:
    subprocess.run(["perf", "report", "-i", data, "--children", "--stdio",
                    "--sort", "comm,sym", "-g", "caller,0.5,callee,function,percent",
                    "--percent-limit", "3"], stdout=f, stderr=subprocess.DEVNULL)
print(f"profile in {args.out}/report.txt and {args.out}/callers.txt")

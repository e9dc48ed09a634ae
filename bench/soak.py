#!/usr/bin/env python3
"""Soak run against our stack (issue 7): scep-bench --soak for DURATION
seconds (requests built on the fly, every reply verified), sampling the
resident memory of gateway, signer and redis and Redis used_memory every
INTERVAL seconds, so "memory flat" can be read off the table.

  bench/soak.py --build-dir build-bench --duration 1800 --concurrency 16

Gateway and signer RSS should level off after warm-up; Redis grows by
design (every enrollment leaves a nonce for 24 h, a transaction for 30 days
and a certificate-index entry), reported as bytes per enrollment.
"""

import argparse
import json
import os
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

p = argparse.ArgumentParser()
p.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
p.add_argument("--duration", type=float, default=1800)
p.add_argument("--concurrency", type=int, default=16)
p.add_argument("--interval", type=float, default=10)
p.add_argument("--ca-key", default="rsa:2048")
p.add_argument("--json-out")
args = p.parse_args()
os.environ["SCEP_BUILD_DIR"] = os.path.abspath(args.build_dir)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from procstats import redis_used_memory, vm_rss_kib  # noqa: E402

BENCH = os.path.join(os.path.abspath(args.build_dir), "bench", "scep-bench")

stack = harness.Stack(challenge="Bench-Soak", legacy=False, ca_key=args.ca_key)
stack.start()
samples = []
try:
    pids = {n: p.pid for n, p in stack.procs.items()}
    done = threading.Event()

    def sample():
        while True:
            row = {k: vm_rss_kib(v) for k, v in pids.items()}
            row["redis_used"] = redis_used_memory(stack.redis_port)
            samples.append(row)
            if done.wait(args.interval):
                return

    sampler = threading.Thread(target=sample)
    sampler.start()
    out = subprocess.run(
        [BENCH, "--url", stack.url, "--challenge", stack.challenge, "--soak",
         "--duration", str(args.duration), "--concurrency",
         str(args.concurrency), "--json"],
        stdout=subprocess.PIPE, text=True)
    done.set()
    sampler.join()
    report = json.loads(out.stdout)
finally:
    stack.stop()

print(f"\n{'t (s)':>6} " + " ".join(f"{k + ' RSS MiB':>18}" for k in pids)
      + f" {'redis used MiB':>15}")
for i, row in enumerate(samples):
    print(f"{i * args.interval:6.0f} " + " ".join(
        f"{row[k] / 1024:18.1f}" for k in pids)
        + f" {row['redis_used'] / 2**20:15.1f}")
if len(samples) >= 3:
    # Warm-up is the first fifth; "flat" compares the rest.
    a, b = samples[len(samples) // 5], samples[-1]
    for k in pids:
        print(f"{k}: RSS {a[k] / 1024:.1f} -> {b[k] / 1024:.1f} MiB after warm-up")
print(f"\nsoak: {report['sent']} enrollments in {report['wall_seconds']:.0f} s "
      f"({report['throughput_per_s']:.1f}/s verified), failed {report['failed']} "
      f"{report['failures']}, p99 {report['latency_ms']['p99']:.1f} ms")
if report["succeeded"]:
    grow = samples[-1]["redis_used"] - samples[0]["redis_used"]
    print(f"Redis: {grow / report['succeeded']:.0f} bytes per enrollment")
if args.json_out:
    with open(args.json_out, "w") as f:
        json.dump({"report": report, "samples": samples}, f, indent=1)
sys.exit(0 if report["failed"] == 0 else 1)

#!/usr/bin/env python3
"""Soak run against our stack (issue 7): scep-bench --soak for DURATION
seconds (requests built on the fly, every reply verified), sampling the
resident memory of gateway, signer and redis and Redis used_memory every
INTERVAL seconds, so "memory flat" can be read off the table.

  bench/soak.py --build-dir build-bench --duration 1800 --concurrency 16

With --prebuilt N, scep-bench instead builds N requests before the clock
starts and verifies every reply after it stops (its normal mode, with
--duration as a time limit): the generator's device-key crypto then stays
off the two cores during the run, as in the throughput runs, at the price
of ~6 KB of client memory per enrollment (1 M: ~6 GB). Sampling covers the
run only (from scep-bench's first progress line to its last).

  bench/soak.py --build-dir build --prebuilt 1000000 --duration 1800 --interval 120

Gateway and signer RSS should level off after warm-up; Redis grows by
design (every enrollment leaves a nonce for 24 h, a transaction for 30 days
and a certificate-index entry), reported as bytes per enrollment.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

p = argparse.ArgumentParser()
p.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
p.add_argument("--duration", type=float, default=1800)
p.add_argument("--concurrency", type=int, default=16)
p.add_argument("--interval", type=float, default=10)
p.add_argument("--ca-key", default="rsa:2048")
p.add_argument("--prebuilt", type=int, default=0,
               help="build this many requests before the clock instead of on the fly")
p.add_argument("--json-out")
args = p.parse_args()
os.environ["SCEP_BUILD_DIR"] = os.path.abspath(args.build_dir)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from procstats import (cpu_seconds, key_operation_cpu,  # noqa: E402
                       redis_used_memory, vm_rss_kib)

BENCH = os.path.join(os.path.abspath(args.build_dir), "bench", "scep-bench")
PROGRESS = re.compile(r"\[\s*\d+s\] \d+/\d+ done")
# Enrollments so far: "N/M done" (pre-built) or "N sent" (built on the fly).
COUNT = re.compile(r"\[\s*\d+s\] (\d+)(?:/\d+ done| sent)")

stack = harness.Stack(challenge="Bench-Soak", legacy=False, ca_key=args.ca_key)
stack.start()
samples = []
try:
    pids = {n: p.pid for n, p in stack.procs.items()}
    done = threading.Event()
    # Pre-built: sample from the first progress line (the clock starts) to
    # the last (the run ends; verification follows on the client alone).
    running = threading.Event()
    if not args.prebuilt:
        running.set()
    last_progress = [time.monotonic()]
    done_so_far = [0]  # enrollments done, from scep-bench's progress lines

    def take(start):
        row = {k: vm_rss_kib(v) for k, v in pids.items()}
        row["redis_used"] = redis_used_memory(stack.redis_port)
        row["cpu"] = {k: cpu_seconds(v) for k, v in pids.items()}
        # The token's own share: whether a drift is in the key operations.
        row["key_cpu"], row["key_ops"] = key_operation_cpu(stack.scrape("signer"))
        row["done"] = done_so_far[0]
        row["t"] = time.monotonic() - start
        samples.append(row)

    def sample():
        start = time.monotonic()
        if args.prebuilt:
            # The servers idle while the requests are built: this is the
            # state at the start of the run (t = 0).
            take(start)
            while not running.is_set():
                if done.wait(0.2):
                    take(start)  # a run shorter than one progress line
                    return
            start = last_progress[0] - 1.0  # the first line comes after 1 s
            samples[0]["t"] = 0.0
        while True:
            take(start)
            next_at = time.monotonic() + args.interval
            while time.monotonic() < next_at:
                stale = args.prebuilt and time.monotonic() - last_progress[0] > 3
                if stale or done.wait(min(1.0, args.interval)):
                    take(start)  # the run is over: the final state
                    return

    sampler = threading.Thread(target=sample)
    sampler.start()
    argv = [BENCH, "--url", stack.url, "--challenge", stack.challenge,
            "--duration", str(args.duration), "--concurrency",
            str(args.concurrency), "--json"]
    if args.prebuilt:
        argv += ["--n", str(args.prebuilt)]
    else:
        argv.append("--soak")
    bench = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)

    def follow_progress():
        for line in bench.stderr:
            count = COUNT.match(line)
            if count:
                done_so_far[0] = int(count.group(1))
            if PROGRESS.match(line):
                last_progress[0] = time.monotonic()
                running.set()
            sys.stderr.write(line)

    follower = threading.Thread(target=follow_progress)
    follower.start()
    stdout = bench.stdout.read()
    bench.wait()
    follower.join()
    done.set()
    sampler.join()
    report = json.loads(stdout)
finally:
    stack.stop()

print(f"\n{'t (s)':>6} " + " ".join(f"{k + ' RSS MiB':>18}" for k in pids)
      + f" {'redis used MiB':>15}")
for row in samples:
    print(f"{row['t']:6.0f} " + " ".join(
        f"{row[k] / 1024:18.1f}" for k in pids)
        + f" {row['redis_used'] / 2**20:15.1f}")
# Per interval: rate, and CPU per enrollment of each process. A rate that
# drifts while CPU per enrollment stays put is the machine, not the service.
print(f"\n{'t (s)':>6} {'enroll/s':>9} " + " ".join(f"{k + ' CPU ms/enr':>18}" for k in pids)
      + f" {'key op CPU us':>14}")
for prev, row in zip(samples, samples[1:]):
    n = row["done"] - prev["done"]
    dt = row["t"] - prev["t"]
    if n <= 0 or dt <= 0:
        continue
    ops = row["key_ops"] - prev["key_ops"]
    key = (row["key_cpu"] - prev["key_cpu"]) * 1e6 / ops if ops > 0 else float("nan")
    print(f"{row['t']:6.0f} {n / dt:9.1f} " + " ".join(
        f"{(row['cpu'][k] - prev['cpu'][k]) * 1000 / n:18.3f}" for k in pids)
        + f" {key:14.1f}")
if len(samples) >= 3:
    # Warm-up is the first fifth; "flat" compares the rest.
    a, b = samples[len(samples) // 5], samples[-1]
    for k in pids:
        print(f"{k}: RSS {a[k] / 1024:.1f} -> {b[k] / 1024:.1f} MiB after warm-up")
mode = f"pre-built {args.prebuilt}" if args.prebuilt else "built on the fly"
print(f"\nsoak ({mode}): {report['sent']} enrollments in {report['wall_seconds']:.0f} s "
      f"({report['throughput_per_s']:.1f}/s verified), failed {report['failed']} "
      f"{report['failures']}, p99 {report['latency_ms']['p99']:.1f} ms")
if report["succeeded"] and samples:
    grow = samples[-1]["redis_used"] - samples[0]["redis_used"]
    print(f"Redis: {grow / report['succeeded']:.0f} bytes per enrollment")
if args.json_out:
    with open(args.json_out, "w") as f:
        json.dump({"report": report, "samples": samples}, f, indent=1)
sys.exit(0 if report["failed"] == 0 else 1)

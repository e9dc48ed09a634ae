#!/usr/bin/env python3
"""Instructions per enrollment, counted by valgrind (callgrind): an A/B for
changes too small for the wall-clock A/B on this noisy VM.

  bench/instructions.py --build-dir /tmp/before --candidate-build-dir build \\
      --n 300 --process gateway signer

Starts our stack (tests/integration/harness.py) with one process under
`valgrind --tool=callgrind --instr-atstart=no`, warms it up, turns
instrumentation on for exactly `--n` enrollments of scep-bench, then off,
and reads the instruction count (Ir) at exit. User-space instructions only
(no kernel, no waiting), so the figure barely moves between runs of the
same binary. For the signer it also splits off the token: the inclusive
cost of the PKCS#11 entry points (C_Sign, C_Decrypt and their Init calls)
that SoftHSMv2 runs inside the signer's process.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

p = argparse.ArgumentParser()
p.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
p.add_argument("--candidate-build-dir")
p.add_argument("--n", type=int, default=300)
p.add_argument("--concurrency", type=int, default=4)
p.add_argument("--warmup", type=int, default=300)
p.add_argument("--process", nargs="+", default=["gateway", "signer"],
               choices=["gateway", "signer"])
p.add_argument("--ca-key", default="rsa:2048")
p.add_argument("--candidate-redis-tls", action="store_true",
               help="the candidate's gateway reaches Redis over TLS (a TLS-only "
                    "redis-server with client certificates); with no "
                    "--candidate-build-dir the candidate is --build-dir")
p.add_argument("--json-out")
args = p.parse_args()
os.environ["SCEP_BUILD_DIR"] = os.path.abspath(args.build_dir)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

CHALLENGE = "Bench-Instructions"
TOKEN_ENTRY_POINTS = ("C_SignInit", "C_Sign", "C_DecryptInit", "C_Decrypt")


def run_bench(build_dir, url, n, concurrency):
    out = subprocess.run(
        [os.path.join(build_dir, "bench", "scep-bench"), "--url", url,
         "--challenge", CHALLENGE, "--n", str(n), "--concurrency", str(concurrency),
         "--keys", "8", "--json", "--progress=false"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=3600,
        check=True)
    report = json.loads(out.stdout)
    if report["failed"] != 0 or report["succeeded"] != n:
        raise RuntimeError(f"scep-bench: {report['failed']} of {n} failed")
    return report


def inclusive_costs(out_file):
    """Inclusive Ir per function name, from callgrind_annotate."""
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", out_file],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        check=True).stdout
    costs = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?\S*:(\S+?)(?:\s|$)", line)
        if m:
            name = m.group(2)
            costs[name] = max(costs.get(name, 0), int(m.group(1).replace(",", "")))
    return costs


def total_ir(out_file):
    # "summary:" counts from the start; "totals:" what was instrumented.
    with open(out_file) as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {out_file}")


def measure(label, build_dir, process, work, redis_tls=False):
    harness.BUILD_DIR = os.path.abspath(build_dir)
    out_file = os.path.join(work, f"callgrind.{label}.{process}")
    stack = harness.Stack(challenge=CHALLENGE, legacy=False, ca_key=args.ca_key,
                          redis_tls=redis_tls)
    spawn, wait_ready = stack.spawn, stack.wait_ready

    def spawn_under_valgrind(name, argv, env=None):
        if name == process:
            # Readiness checks run on a timer, not per enrollment: at the
            # harness's 200 ms and callgrind's ~10 enrollments/s they would
            # add ~0.3 M instructions per enrollment to the signer (the
            # token's key attributes are read on every check).
            argv = [a if not a.startswith("--readiness_interval_ms=")
                    else "--readiness_interval_ms=60000" for a in argv]
            argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                    f"--callgrind-out-file={out_file}"] + list(argv)
        spawn(name, argv, env)

    stack.spawn = spawn_under_valgrind
    stack.wait_ready = lambda timeout=300: wait_ready(timeout)
    stack.start()
    try:
        # Warm-up, not counted: enough requests in parallel that every
        # worker thread has built its per-thread state (decoder contexts,
        # gRPC call objects), which would otherwise be charged to the run.
        run_bench(build_dir, stack.url, args.warmup, 16)
        pid = str(stack.procs[process].pid)
        subprocess.run(["callgrind_control", "-i", "on", pid], check=True,
                       stdout=subprocess.DEVNULL)
        run_bench(build_dir, stack.url, args.n, args.concurrency)
        subprocess.run(["callgrind_control", "-i", "off", pid], check=True,
                       stdout=subprocess.DEVNULL)
        proc = stack.procs.pop(process)
        proc.send_signal(signal.SIGTERM)
        proc.wait(300)  # callgrind writes its file at exit
    finally:
        stack.stop()
    result = {"ir_per_enrollment": total_ir(out_file) / args.n}
    if process == "signer":
        costs = inclusive_costs(out_file)
        token = sum(costs.get(f, 0) for f in TOKEN_ENTRY_POINTS)
        result["token_ir_per_enrollment"] = token / args.n
        result["outside_token_ir_per_enrollment"] = (
            result["ir_per_enrollment"] - result["token_ir_per_enrollment"])
    return result


def main():
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind (callgrind) is not installed")
    builds = [("ours", args.build_dir)]
    if args.candidate_build_dir or args.candidate_redis_tls:
        builds.append(("candidate", args.candidate_build_dir or args.build_dir))
    work = tempfile.mkdtemp(prefix="scep-instr-")
    results = {}
    for process in args.process:
        for label, build_dir in builds:
            print(f"== {label} {process}", file=sys.stderr)
            results[(label, process)] = measure(
                label, build_dir, process, work,
                redis_tls=label == "candidate" and args.candidate_redis_tls)
    print(f"instructions per enrollment (valgrind callgrind, user space), "
          f"N={args.n} C={args.concurrency}, CA key {args.ca_key}")
    for process in args.process:
        for label, _ in builds:
            r = results[(label, process)]
            line = f"{process:8} {label:10} {r['ir_per_enrollment'] / 1e6:9.3f} M"
            if "token_ir_per_enrollment" in r:
                line += (f"   token {r['token_ir_per_enrollment'] / 1e6:8.3f} M"
                         f"   outside the token "
                         f"{r['outside_token_ir_per_enrollment'] / 1e6:8.3f} M")
            print(line)
        if len(builds) == 2:
            a, b = results[("ours", process)], results[("candidate", process)]
            key = ("outside_token_ir_per_enrollment" if process == "signer"
                   else "ir_per_enrollment")
            print(f"{process:8} candidate/ours ({key}): {b[key] / a[key]:.3f}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({f"{k[0]}:{k[1]}": v for k, v in results.items()}, f, indent=1)
    if not os.environ.get("SCEP_KEEP_CALLGRIND"):
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

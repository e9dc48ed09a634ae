#!/usr/bin/env python3
"""How long rebuilding a lost certificate index from the signer's audit
trail takes (session 20): one stack whose signer writes its trail with
--audit_certificates, N enrollments with scep-bench, Redis FLUSHALL, then
`scepctl certs restore --audit` timed, ROUNDS times (each round flushes
again and restores everything); then once more with nothing lost (every
certificate already indexed). Prints certificates per second.

  bench/restore_index.py --build-dir build --n 5000 --rounds 3
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def restore(stack, trail, cpu):
    """Runs the restore; (seconds, counts), and adds each process's CPU
    seconds to `cpu`."""
    from procstats import cpu_seconds  # noqa: E402
    pids = {"gateway": stack.procs["gateway"].pid, "redis": stack.procs["redis"].pid}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    out = stack.scepctl("certs", "restore", "--audit", trail, "--json", timeout=3600)
    elapsed = time.monotonic() - start
    if out.returncode != 0:
        raise SystemExit(f"scepctl certs restore failed: {out.stdout}{out.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for name, pid in pids.items():
        cpu[name] = cpu.get(name, 0) + cpu_seconds(pid) - before[name]
    cpu["scepctl"] = cpu.get("scepctl", 0) + (after.ru_utime + after.ru_stime
                                              - children.ru_utime - children.ru_stime)
    counts = json.loads(out.stdout)
    return elapsed, {k: int(counts.get(k, 0)) for k in ("restored", "indexed", "revoked")}


def cpu_line(cpu, count):
    return ", ".join(f"{name} {1e3 * seconds / count:.3f}" for name, seconds in cpu.items())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    os.environ["SCEP_BUILD_DIR"] = os.path.abspath(args.build_dir)
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    sys.path.insert(0, HERE)
    import harness  # noqa: E402  (needs SCEP_BUILD_DIR first)

    bench = os.path.join(os.path.abspath(args.build_dir), "bench", "scep-bench")
    stack = harness.Stack(admin_token="restore-bench-token", legacy=False)
    trail = os.path.join(stack.dir, "issuance-audit.log")
    stack.signer_args += ["--audit_log", trail, "--audit_certificates"]
    stack.start()
    try:
        out = subprocess.run(
            [bench, "--url", stack.url, "--challenge", stack.challenge, "--n", str(args.n),
             "--concurrency", str(args.concurrency), "--keys", "32", "--json",
             "--progress=false"], capture_output=True, text=True, timeout=3600)
        report = json.loads(out.stdout)
        if report["failed"]:
            raise SystemExit(f"{report['failed']} enrollments failed: {out.stderr}")
        size = os.path.getsize(trail)
        with open(trail) as f:
            lines = sum(1 for line in f if '"certificate_issued"' in line)
        print(f"{lines} certificates in a {size / 1e6:.1f} MB trail "
              f"({size / max(lines, 1):.0f} bytes a line)", flush=True)
        rates, cpu = [], {}
        for round_ in range(args.rounds):
            assert stack.redis_cli("FLUSHALL") == "OK"
            elapsed, counts = restore(stack, trail, cpu)
            if counts["restored"] != lines:
                raise SystemExit(f"restored {counts} of {lines}")
            rates.append(lines / elapsed)
            print(f"round {round_ + 1}: restored {lines} in {elapsed:.2f} s "
                  f"({rates[-1]:.0f}/s)", flush=True)
        print(f"CPU ms per certificate restored: {cpu_line(cpu, lines * args.rounds)}")
        again = {}
        elapsed, counts = restore(stack, trail, again)
        print(f"nothing lost: {counts['indexed']} already indexed in {elapsed:.2f} s "
              f"({lines / elapsed:.0f}/s); CPU ms per certificate: {cpu_line(again, lines)}")
        print(f"median restore: {statistics.median(rates):.0f} certificates/s")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()

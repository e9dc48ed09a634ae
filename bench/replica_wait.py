#!/usr/bin/env python3
"""What --redis_wait_replicas costs (session 17): one stack with a Redis
primary and a replica (tests/faults' FailoverStack), the signer, and two
gateways on them, one without WAIT and one with --redis_wait_replicas=1;
scep-bench with the same N and C against each, alternating, ROUNDS times;
prints the medians and the ratio.

  bench/replica_wait.py --build-dir build --n 2000 --concurrency 16 --rounds 3
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    os.environ["SCEP_BUILD_DIR"] = os.path.abspath(args.build_dir)
    sys.path[:0] = [os.path.join(ROOT, "tests", "faults"),
                    os.path.join(ROOT, "tests", "integration")]
    import harness  # noqa: E402  (needs SCEP_BUILD_DIR first)
    from test_redis_failover import FailoverStack  # noqa: E402

    bench = os.path.join(os.path.abspath(args.build_dir), "bench", "scep-bench")
    stack = FailoverStack().start()
    try:
        port_w, metrics_w = harness.free_port(), harness.free_port()
        stack.start_gateway(name="gateway-wait", http_port=port_w, metrics_port=metrics_w,
                            extra=list(stack.gateway_args) + ["--redis_wait_replicas=1"])
        assert stack.wait_readyz(200, port=metrics_w)[0] == 200
        targets = {"no WAIT": stack.url,
                   "WAIT 1": f"http://127.0.0.1:{port_w}/scep"}
        results = {name: [] for name in targets}
        for round_ in range(args.rounds):
            for name, url in targets.items():
                out = subprocess.run(
                    [bench, "--url", url, "--challenge", stack.challenge, "--n", str(args.n),
                     "--concurrency", str(args.concurrency), "--keys", "32", "--json",
                     "--progress=false"], capture_output=True, text=True, timeout=600)
                report = json.loads(out.stdout)
                if report["failed"]:
                    raise SystemExit(f"{name}: {report['failed']} failed: {out.stderr}")
                results[name].append(report)
                print(f"round {round_ + 1} {name}: {report['throughput_per_s']:.1f}/s "
                      f"p50 {report['latency_ms']['p50']:.1f} ms "
                      f"p99 {report['latency_ms']['p99']:.1f} ms", flush=True)
        medians = {}
        for name, reports in results.items():
            medians[name] = (statistics.median(r["throughput_per_s"] for r in reports),
                             statistics.median(r["latency_ms"]["p50"] for r in reports),
                             statistics.median(r["latency_ms"]["p99"] for r in reports))
            print(f"median {name}: {medians[name][0]:.1f}/s p50 {medians[name][1]:.1f} ms "
                  f"p99 {medians[name][2]:.1f} ms")
        print(f"WAIT 1 / no WAIT throughput: "
              f"{medians['WAIT 1'][0] / medians['no WAIT'][0]:.3f}")
        body = harness.http("GET", f"http://127.0.0.1:{metrics_w}/metrics")[2].decode()
        counted = harness.metric(harness.parse_exposition(body),
                                 "scep_gateway_redis_unreplicated_writes_total")
        print(f"unreplicated writes counted: {counted:.0f}")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()

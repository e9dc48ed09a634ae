#!/usr/bin/env python3
"""Side-by-side SCEP enrollment benchmark on one machine (issue 7).

Starts our stack (SoftHSMv2 token, redis-server, scep-signer, scep-gateway;
tests/integration/harness.py, temp dirs, free ports, nothing under var/) and
micromdm `scepserver` (Debian package `scep`, RSA-2048 CA from
`scepserver ca -init -keySize 2048`, same challenge), measures the token's
private-key throughput (the crypto bound), then runs scep-bench with the
same N and C against each target, alternating, ROUNDS times, and prints the
medians, the ratio ours/micromdm, the fraction of the crypto bound, CPU per
enrollment per process, peak RSS and Redis bytes per enrollment.

  bench/compare.py --build-dir build-bench --n 3000 --concurrency 16 --rounds 3
"""

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--concurrency", type=int, nargs="+", default=[16],
                   help="one or more C values; each gets ROUNDS alternating runs")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--keys", type=int, default=32)
    p.add_argument("--warmup", type=int, default=200,
                   help="enrollments sent to each target before measuring")
    p.add_argument("--hsm-seconds", type=float, default=5)
    p.add_argument("--pipeline-n", type=int, default=2000,
                   help="enrollments of each scep-bench pipeline-bound run (the "
                        "transport-free ceiling, before and after the rounds; "
                        "0: skip)")
    p.add_argument("--ca-key", default="rsa:2048",
                   help="our CA key (rsa:2048, ec:p256, ...); micromdm stays RSA-2048")
    p.add_argument("--challenge", default="Bench-Compare-Secret")
    p.add_argument("--mix", default="enroll", choices=["enroll", "renew"],
                   help="renew: each run first enrolls N devices (untimed), then "
                        "measures their RenewalReqs")
    p.add_argument("--skip-micromdm", action="store_true")
    p.add_argument("--candidate-build-dir",
                   help="also run our stack built here (target 'candidate'), "
                        "alternating with the others: A/B of a change")
    p.add_argument("--gateway-args", default="",
                   help="extra scep-gateway flags for ours and the candidate alike "
                        "(e.g. '--profiles_file=/tmp/external.json')")
    p.add_argument("--candidate-gateway-args", default="",
                   help="extra scep-gateway flags for the candidate (e.g. "
                        "'--workers=8'): A/B of a setting; with no "
                        "--candidate-build-dir the candidate is --build-dir")
    p.add_argument("--candidate-signer-args", default="",
                   help="extra scep-signer flags for the candidate")
    p.add_argument("--candidate-redis-sentinel", action="store_true",
                   help="the candidate's gateway finds Redis through a Redis Sentinel "
                        "(--redis_sentinels) instead of its address")
    p.add_argument("--candidate-redis-tls", action="store_true",
                   help="the candidate's Redis over TLS (TLS-only redis-server with "
                        "client certificates; the gateway's --redis_tls*)")
    p.add_argument("--candidate-ra-key-file", action="store_true",
                   help="the candidate's RA key as a PEM file (scep-signer "
                        "--ra_key_file), only the CA key in the token: an HSM "
                        "that refuses RSA PKCS#1 v1.5 decryption")
    p.add_argument("--json-out", help="write every measurement here")
    return p.parse_args()


ARGS = parse_args()
os.environ["SCEP_BUILD_DIR"] = os.path.abspath(ARGS.build_dir)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from procstats import (cpu_seconds, key_operation_cpu,  # noqa: E402
                       redis_used_memory, system_busy_seconds, vm_hwm_kib)

BENCH = os.path.join(os.path.abspath(ARGS.build_dir), "bench", "scep-bench")


# -- targets ---------------------------------------------------------------
class Ours:
    """Our stack from `build_dir` ("candidate": another build of ours, for
    measuring a change A/B in the same run)."""

    def __init__(self, name="ours", build_dir=None, gateway_args=(), signer_args=(),
                 ra_key_file=False, redis_sentinel=False, redis_tls=False):
        self.name = name
        self.build_dir = os.path.abspath(build_dir or ARGS.build_dir)
        self.stack = harness.Stack(challenge=ARGS.challenge, legacy=False,
                                   ca_key=ARGS.ca_key,
                                   gateway_args=ARGS.gateway_args.split() + list(gateway_args),
                                   signer_args=signer_args, ra_key_file=ra_key_file,
                                   redis_sentinel=redis_sentinel, redis_tls=redis_tls)

    def start(self):
        harness.BUILD_DIR = self.build_dir  # binary() looks it up per call
        self.stack.start()
        self.url = self.stack.url

    def pids(self):
        return {n: p.pid for n, p in self.stack.procs.items()}

    def redis_port(self):
        # INFO memory is read in plain text: not from a TLS-only Redis.
        return None if self.stack.redis_tls else self.stack.redis_port

    def key_cpu(self):
        """(CPU seconds inside private-key operations, their count) so far,
        from the signer's scep_signer_pkcs11_cpu_seconds_total."""
        return key_operation_cpu(self.stack.scrape("signer"))

    def stop(self):
        self.stack.stop()


class Micromdm:
    name = "micromdm"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="scep-bench-micromdm-")
        self.proc = None

    def start(self):
        depot = os.path.join(self.dir, "depot")
        subprocess.run(["scepserver", "ca", "-init", "-keySize", "2048",
                        "-depot", depot], check=True, capture_output=True,
                       cwd=self.dir, timeout=120)
        port = harness.free_port()
        self.log = open(os.path.join(self.dir, "scepserver.log"), "ab")
        self.proc = subprocess.Popen(
            ["scepserver", "-depot", depot, "-port", str(port),
             "-challenge", ARGS.challenge, "-allowrenew", "0"], cwd=self.dir,
            stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}/scep"
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("scepserver exited")
            try:
                if harness.http("GET", self.url + "?operation=GetCACert",
                                timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("scepserver not ready")

    def pids(self):
        return {"scepserver": self.proc.pid}

    def redis_port(self):
        return None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# -- measurements --------------------------------------------------------
def run_bench(target, n, c, progress=True):
    pids = target.pids()
    cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
    busy0 = system_busy_seconds()
    port = target.redis_port()
    mem0 = redis_used_memory(port) if port else None
    child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    key0 = target.key_cpu() if hasattr(target, "key_cpu") else None
    t0 = time.monotonic()
    out = subprocess.run(
        [BENCH, "--url", target.url, "--challenge", ARGS.challenge,
         "--n", str(n), "--concurrency", str(c), "--keys", str(ARGS.keys),
         "--mix", ARGS.mix if n != ARGS.warmup else "enroll",
         "--renew_with_challenge",
         "--json", f"--progress={'true' if progress else 'false'}"],
        stdout=subprocess.PIPE, stderr=None if progress else subprocess.DEVNULL,
        text=True, timeout=3600)
    busy1 = system_busy_seconds()
    lifetime = time.monotonic() - t0
    child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = json.loads(out.stdout)
    # Renew mix: the targets also served the untimed set-up enrollments, so
    # CPU and Redis growth are per request over both phases.
    sent = max(1, report["sent"] + report["setup_sent"])
    busy_wall = report["wall_seconds"] + report["setup_wall_seconds"]
    cpu = {k: cpu_seconds(p) - cpu0[k] for k, p in pids.items()}
    report["cpu_ms_per_request"] = {
        k: round(v * 1000 / sent, 3) for k, v in cpu.items()}
    report["vm_hwm_kib"] = {k: vm_hwm_kib(p) for k, p in pids.items()}
    if key0 is not None:
        key1 = target.key_cpu()
        if key1[1] > key0[1]:
            report["key_cpu_us_per_op"] = round(
                (key1[0] - key0[0]) * 1e6 / (key1[1] - key0[1]), 1)
    if port:
        report["redis_bytes_per_enrollment"] = round(
            (redis_used_memory(port) - mem0) /
            max(1, report["succeeded"] + report["setup_sent"] - report["setup_failures"]), 1)
    # CPU used by anything but the target and scep-bench while scep-bench
    # lived, in cores: the noise indicator (others compiling).
    client = (child1.ru_utime + child1.ru_stime) - (child0.ru_utime + child0.ru_stime)
    report["other_cores"] = round(
        max(0.0, busy1 - busy0 - sum(cpu.values()) - client) / lifetime, 2)
    # The target idles while scep-bench prepares and verifies.
    report["target_cores_during_run"] = round(
        sum(cpu.values()) / max(0.001, busy_wall), 2)
    return report


def hsm_bound(stack, ops):
    out = subprocess.run(
        [BENCH, "hsm-bound", f"--pkcs11_module={harness.SOFTHSM_MODULE}",
         "--token_label=scep-it", f"--pin_file={stack.pin_file}",
         "--threads=2", f"--seconds={ARGS.hsm_seconds}", f"--hsm_ops={ops}",
         "--json"], env=stack.env(), stdout=subprocess.PIPE, text=True,
        check=True, timeout=300)
    return json.loads(out.stdout)


def pipeline_bound(stack):
    """All of an enrollment's crypto in one process on 2 threads, against
    the same token (scep-bench pipeline-bound): the transport-free ceiling."""
    out = subprocess.run(
        [BENCH, "pipeline-bound", f"--pkcs11_module={harness.SOFTHSM_MODULE}",
         "--token_label=scep-it", f"--pin_file={stack.pin_file}",
         f"--ca_cert={stack.ca_pem}", f"--ra_cert={stack.ra_pem}",
         f"--challenge={ARGS.challenge}", f"--n={ARGS.pipeline_n}", "--threads=2",
         f"--keys={ARGS.keys}", "--json"],
        env=stack.env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, check=True, timeout=600)
    return json.loads(out.stdout)


def measure_bounds(stack, results, when):
    """The token-alone bound (one RSA op, and the op sequence of an
    enrollment) and the transport-free pipeline, into `results`."""
    results["hsm"].append({
        "when": when, "rsa": hsm_bound(stack, "sign:scep-ra"),
        "enrollment_ops": hsm_bound(stack, "decrypt:scep-ra,sign:scep-ca,sign:scep-ra")})
    if ARGS.mix == "enroll" and ARGS.pipeline_n > 0:
        results["pipeline"].append(pipeline_bound(stack))


def med(values):
    return statistics.median(values) if values else float("nan")


def main():
    if not os.path.exists(BENCH):
        sys.exit(f"{BENCH} not built (ninja -C {ARGS.build_dir} scep-bench)")
    targets = [Ours()]
    if (ARGS.candidate_build_dir or ARGS.candidate_gateway_args
            or ARGS.candidate_signer_args or ARGS.candidate_ra_key_file
            or ARGS.candidate_redis_sentinel or ARGS.candidate_redis_tls):
        targets.append(Ours("candidate", ARGS.candidate_build_dir,
                            gateway_args=ARGS.candidate_gateway_args.split(),
                            signer_args=ARGS.candidate_signer_args.split(),
                            ra_key_file=ARGS.candidate_ra_key_file,
                            redis_sentinel=ARGS.candidate_redis_sentinel,
                            redis_tls=ARGS.candidate_redis_tls))
    if not ARGS.skip_micromdm:
        targets.append(Micromdm())
    results = {"args": vars(ARGS), "uptime_before": open("/proc/loadavg").read().strip(),
               "runs": [], "hsm": [], "pipeline": []}
    try:
        for t in targets:
            t.start()
        ours = targets[0]
        # The bound with both cores busy on the token alone: before the
        # rounds and after them, so drift shows.
        measure_bounds(ours.stack, results, "before")
        for t in targets:
            print(f"== warm-up {t.name}", file=sys.stderr)
            run_bench(t, ARGS.warmup, 4, progress=False)
        for c in ARGS.concurrency:
            for r in range(ARGS.rounds):
                k = r % len(targets)  # each target takes each slot in turn
                order = targets[k:] + targets[:k]
                for t in order:
                    print(f"== round {r + 1}/{ARGS.rounds} C={c} {t.name}",
                          file=sys.stderr)
                    rep = run_bench(t, ARGS.n, c)
                    rep.update(target=t.name, round=r + 1)
                    results["runs"].append(rep)
        measure_bounds(ours.stack, results, "after")
    finally:
        for t in targets:
            t.stop()
    results["uptime_after"] = open("/proc/loadavg").read().strip()
    summarize(results)
    if ARGS.json_out:
        with open(ARGS.json_out, "w") as f:
            json.dump(results, f, indent=1)


def summarize(results):
    rsa = med([h["rsa"]["ops_per_s"] for h in results["hsm"]])
    seq = med([h["enrollment_ops"]["sequences_per_s"] for h in results["hsm"]])
    # RSA ÷ 3 ops for an RSA CA; with an EC CA the ops differ in cost, so
    # the measured RA decrypt + CA sign + RA sign sequence is the bound.
    bound = rsa / 3 if ARGS.ca_key.startswith("rsa") else seq
    print(f"\nSoftHSMv2 token, 2 threads: {rsa:.0f} RSA-2048 private-key ops/s "
          f"-> crypto bound {bound:.0f} enrollments/s (3 private-key ops each); "
          f"measured decrypt+CA sign+RA sign sequences: {seq:.0f}/s")
    pipe = pipe_key = None
    if results["pipeline"]:
        pipe = med([p["enrollments_per_s"] for p in results["pipeline"]])
        pipe_key = med([p["key_cpu_us_per_op"] for p in results["pipeline"]])
        print(f"pipeline (all of an enrollment's crypto in one process, no HTTP, "
              f"gRPC or Redis; 2 threads): {pipe:.0f}/s = {pipe / bound:.1%} of the "
              f"bound; CPU {med([p['cpu_ms_per_enrollment'] for p in results['pipeline']]):.2f}"
              f" ms/enrollment, {pipe_key:.0f} us per private-key operation")
    print(f"load average before {results['uptime_before']}, after "
          f"{results['uptime_after']}")
    for c in ARGS.concurrency:
        print(f"\nmix={ARGS.mix} N={ARGS.n} C={c} rounds={ARGS.rounds} "
              f"CA key (ours)={ARGS.ca_key}")
        print(f"{'target':10} {ARGS.mix + '/s':>9} {'p50':>7} {'p90':>7} {'p99':>7} "
              f"{'max':>7} {'failed':>7}  per-run /s")
        medians = {}
        for name in ("ours", "candidate", "micromdm"):
            runs = [r for r in results["runs"]
                    if r["target"] == name and r["concurrency"] == c]
            if not runs:
                continue
            tp = med([r["throughput_per_s"] for r in runs])
            medians[name] = tp
            lat = {k: med([r["latency_ms"][k] for r in runs])
                   for k in ("p50", "p90", "p99", "max")}
            failed = sum(r["failed"] for r in runs)
            print(f"{name:10} {tp:9.1f} {lat['p50']:7.1f} {lat['p90']:7.1f} "
                  f"{lat['p99']:7.1f} {lat['max']:7.1f} {failed:7d}  "
                  + " ".join(f"{r['throughput_per_s']:.0f}" for r in runs))
            kinds = {}
            for r in runs:
                for k, v in r["failures"].items():
                    kinds[k] = kinds.get(k, 0) + v
            if kinds:
                print(f"{'':10} failures: {kinds}")
            cpu = {}
            for r in runs:
                for k, v in r["cpu_ms_per_request"].items():
                    cpu.setdefault(k, []).append(v)
            hwm = {k: max(r["vm_hwm_kib"][k] for r in runs)
                   for k in runs[0]["vm_hwm_kib"]}
            unit = ("request (set-up enrollments + renewals)"
                    if ARGS.mix == "renew" else "enrollment")
            print(f"{'':10} CPU ms/{unit}: "
                  + ", ".join(f"{k} {med(v):.2f}" for k, v in cpu.items())
                  + "; peak RSS MiB: "
                  + ", ".join(f"{k} {v / 1024:.0f}" for k, v in hwm.items()))
            if "redis_bytes_per_enrollment" in runs[0]:
                print(f"{'':10} Redis bytes/{unit}: "
                      f"{med([r['redis_bytes_per_enrollment'] for r in runs]):.0f}")
            print(f"{'':10} target CPU (cores) while running: "
                  + " ".join(f"{r['target_cores_during_run']:.2f}" for r in runs)
                  + "; other processes' CPU (cores) per run: "
                  + " ".join(f"{r['other_cores']:.2f}" for r in runs))
        if "ours" in medians:
            print(f"ours / crypto bound ({bound:.0f}/s): {medians['ours'] / bound:.1%} "
                  f"(of the measured op-sequence rate: {medians['ours'] / seq:.1%})")
            key = [r["key_cpu_us_per_op"] for r in results["runs"]
                   if r["target"] == "ours" and r["concurrency"] == c
                   and "key_cpu_us_per_op" in r]
            if pipe:
                print(f"ours / pipeline ({pipe:.0f}/s): {medians['ours'] / pipe:.1%}; "
                      f"private-key operation CPU in the stack {med(key):.0f} us "
                      f"vs {pipe_key:.0f} alone ({med(key) / pipe_key - 1:+.1%})")
        if "candidate" in medians:
            print(f"candidate / crypto bound: {medians['candidate'] / bound:.1%}; "
                  f"candidate/ours: {medians['candidate'] / medians['ours']:.3f}x")
        if medians.get("micromdm", 0) > 0:
            print(f"median ratio ours/micromdm: "
                  f"{medians['ours'] / medians['micromdm']:.2f}x")


if __name__ == "__main__":
    main()

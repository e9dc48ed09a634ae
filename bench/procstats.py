"""/proc and Redis INFO readings shared by compare.py and soak.py."""

import os
import socket

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def vm_hwm_kib(pid):
    """Peak resident set size."""
    return status_kib(pid, "VmHWM")


def vm_rss_kib(pid):
    return status_kib(pid, "VmRSS")


def system_busy_seconds():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK_TCK


def redis_used_memory(port):
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            data += chunk
            if not chunk or (data.startswith(b"$") and b"\r\n" in data and
                             len(data) >= int(data[1:data.index(b"\r\n")]) +
                             data.index(b"\r\n") + 4):
                break
    for line in data.decode().splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    raise RuntimeError("no used_memory in INFO")


def key_operation_cpu(samples):
    """(CPU seconds inside private-key operations, their count) from the
    signer's parsed /metrics (harness.Stack.scrape("signer")):
    scep_signer_pkcs11_cpu_seconds_total and pkcs11_operations_total over
    every key and operation but public-key reads."""
    seconds = ops = 0.0
    for (name, labels), value in samples.items():
        if dict(labels).get("operation") == "public_key":
            continue
        if name == "scep_signer_pkcs11_cpu_seconds_total":
            seconds += value
        elif name == "scep_signer_pkcs11_operations_total":
            ops += value
    return seconds, ops

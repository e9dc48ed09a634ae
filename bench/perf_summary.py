#!/usr/bin/env python3
"""Summarises `perf script -F comm,ip,sym,dso` output (stdin) from
bench/profile.py: per process, the share of samples under our nearest
function (scep::...) and under marker functions that matter for
enrollment cost (token operations, OpenSSL 3 decoder/encoder set-up, gRPC,
malloc, kernel). Shares are of that process's samples; a sample counts
for every marker on its stack (inclusive time). A third list sorts each
sample by the library its leaf frame is in, with the allocator's and
abseil's lock bookkeeping apart: time spent there hides inside whatever
called it, and is how session 8 found glibc's malloc (~10 %) and abseil's
debug lock-order tracking.

  perf script -i /tmp/scep-prof/perf.data -F comm,ip,sym,dso | bench/perf_summary.py
"""

import collections
import sys

MARKERS = [
    "C_Sign", "C_Decrypt", "C_SignInit", "C_DecryptInit", "C_FindObjectsInit",
    "RSA_setup_blinding", "BN_mod_exp_mont_consttime_x2",
    "OSSL_DECODER_CTX_new_for_pkey", "OSSL_ENCODER_CTX_new_for_pkey",
    "X509_PUBKEY_set", "x509_pubkey_decode", "CMS_decrypt", "CMS_encrypt",
    "CMS_verify", "CMS_SignerInfo_verify_content", "CMS_sign", "X509_sign",
    "X509_REQ_verify", "EVP_PKEY_verify", "RSA_verify", "PKCS11_get_private_key",
    "ASN1_item_d2i", "ASN1_item_i2d", "EVP_CIPHER_fetch", "EVP_MD_fetch",
    "evp_generic_fetch", "ossl_namemap_name2num", "CRYPTO_THREAD_read_lock",
    "malloc", "free", "cfree", "redisCommand", "redisGetReply",
]


def samples(stream):
    comm, frames = None, []
    for line in stream:
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
        elif not line.startswith(("\t", " ")) or comm is None and line.strip():
            if comm is None:
                comm = line.split()[0]
            else:
                frames.append(line)
        else:
            parts = line.strip().split(" ", 1)
            sym = parts[1].rsplit(" (", 1)[0] if len(parts) > 1 else "?"
            dso = parts[1].rsplit(" (", 1)[1].rstrip(")") if " (" in line else "?"
            frames.append((sym, dso))
    if comm is not None:
        yield comm, frames


# Leaf functions of glibc's malloc (the allocator linked in instead shows
# up by its library name).
GLIBC_MALLOC = {
    "malloc", "free", "cfree", "calloc", "realloc", "_int_malloc", "_int_free",
    "_int_realloc", "malloc_consolidate", "unlink_chunk.constprop.0",
    "tcache_get", "tcache_put", "__libc_malloc", "__libc_free", "__libc_calloc",
    "__GI___libc_malloc", "__GI___libc_free", "sysmalloc",
}


def leaf_bucket(frames):
    """Where the sample's own (leaf) time went, by library."""
    if not frames:
        return "?"
    sym, dso = frames[0]
    base = sym.split("(")[0]
    if dso == "[kernel.kallsyms]":
        return "kernel"
    if base.startswith(("tcache_", "__GI___libc_malloc", "__GI___libc_free")):
        return "allocator"
    if any("softhsm" in d for _, d in frames):
        return "token (SoftHSMv2 and what it calls)"
    if dso == "inlined":  # perf names inlined frames so: take their caller's
        dso = next((d for _, d in frames if d != "inlined"), "?")
    if base in GLIBC_MALLOC or any(a in dso for a in ("tcmalloc", "jemalloc", "mimalloc")):
        return "allocator"
    if "graphcycles" in dso or "GraphCycles" in sym or "DeadlockInfo" in sym:
        return "abseil lock-order tracking"
    name = dso.rsplit("/", 1)[-1]
    for prefix in ("libcrypto", "libssl", "libgrpc", "libgpr", "libprotobuf",
                   "libabsl", "libc.so", "libstdc++", "libhiredis", "libprometheus"):
        if name.startswith(prefix):
            return prefix
    return name


def group(comm):
    for name in ("scep-gateway", "scep-signer", "redis-server"):
        if comm.startswith(name[:15]):
            return name
    return "threads:" + comm


def main():
    per_proc = collections.Counter()
    ours = collections.defaultdict(collections.Counter)
    markers = collections.defaultdict(collections.Counter)
    kernel = collections.Counter()
    leaves = collections.defaultdict(collections.Counter)
    for comm, frames in samples(sys.stdin):
        proc = group(comm)
        per_proc[proc] += 1
        leaves[proc][leaf_bucket(frames)] += 1
        nearest = next((s for s, _ in frames if s.startswith("scep::")), None)
        if nearest is None:
            nearest = "(grpc/other: " + (frames[-1][0] if frames else "?") + ")"
        ours[proc][nearest.split("(")[0][:90]] += 1
        seen = set()
        for sym, dso in frames:
            base = sym.split("(")[0].split("@")[0]
            for m in MARKERS:
                if base == m or base.startswith(m + "_ex") or (
                        m == "grpc" and "grpc" in dso):
                    seen.add(m)
            if "grpc" in dso:
                seen.add("libgrpc*")
        if frames and frames[0][1] == "[kernel.kallsyms]":
            kernel[proc] += 1
        for m in seen:
            markers[proc][m] += 1
    total = sum(per_proc.values())
    for proc, n in per_proc.most_common():
        if n < total * 0.01:
            continue
        print(f"\n== {proc}: {n} samples ({n / total:.1%} of all); "
              f"kernel leaf {kernel[proc] / n:.1%}")
        print("  nearest scep:: function (inclusive)")
        for f, c in ours[proc].most_common(12):
            print(f"    {c / n:6.1%}  {f}")
        print("  markers (inclusive)")
        for m, c in markers[proc].most_common(25):
            if c / n >= 0.01:
                print(f"    {c / n:6.1%}  {m}")
        print("  leaf library (self time)")
        for b, c in leaves[proc].most_common(12):
            if c / n >= 0.005:
                print(f"    {c / n:6.1%}  {b}")


if __name__ == "__main__":
    main()

#include "bench/hsm_bound.h"

#include <openssl/rsa.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/crypto/ssl_error.h"

namespace scep::bench {
namespace {

// A 32-byte AES key encrypted to the public half of `label`.
absl::StatusOr<std::string> Ciphertext(pkcs11::Token& token,
                                       const std::string& label) {
  absl::StatusOr<crypto::EvpPkeyPtr> pub = token.PublicKey(label);
  if (!pub.ok()) return pub.status();
  crypto::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(pub->get(), nullptr));
  unsigned char plain[32] = {1, 2, 3};
  size_t len = 0;
  if (ctx == nullptr || EVP_PKEY_encrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1 ||
      EVP_PKEY_encrypt(ctx.get(), nullptr, &len, plain, sizeof(plain)) != 1) {
    return crypto::SslInternal("encrypting to " + label);
  }
  std::string out(len, '\0');
  if (EVP_PKEY_encrypt(ctx.get(), reinterpret_cast<unsigned char*>(out.data()),
                       &len, plain, sizeof(plain)) != 1) {
    return crypto::SslInternal("encrypting to " + label);
  }
  out.resize(len);
  return out;
}

absl::Status RunOp(pkcs11::Token& token, const KeyOp& op,
                   const std::string& ciphertext) {
  return token.WithPrivateKey(op.label, [&](EVP_PKEY* key) -> absl::Status {
    crypto::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(key, nullptr));
    if (ctx == nullptr) return crypto::SslInternal("EVP_PKEY_CTX_new");
    unsigned char out[1024];
    size_t len = sizeof(out);
    if (op.decrypt) {
      if (EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
          EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1 ||
          EVP_PKEY_decrypt(ctx.get(), out, &len,
                           reinterpret_cast<const unsigned char*>(ciphertext.data()),
                           ciphertext.size()) != 1) {
        return crypto::SslInternal("decrypt with " + op.label);
      }
      return absl::OkStatus();
    }
    unsigned char digest[32] = {42};
    if (EVP_PKEY_sign_init(ctx.get()) != 1 ||
        (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA &&
         EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1) ||
        EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1 ||
        EVP_PKEY_sign(ctx.get(), out, &len, digest, sizeof(digest)) != 1) {
      return crypto::SslInternal("sign with " + op.label);
    }
    return absl::OkStatus();
  });
}

}  // namespace

absl::StatusOr<std::vector<KeyOp>> ParseKeyOps(absl::string_view spec) {
  std::vector<KeyOp> ops;
  for (absl::string_view item : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(item, ':');
    if ((kv.first != "sign" && kv.first != "decrypt") || kv.second.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad key operation '", item, "' (sign:LABEL|decrypt:LABEL)"));
    }
    ops.push_back(KeyOp{kv.first == "decrypt", kv.second});
  }
  if (ops.empty()) return absl::InvalidArgumentError("no key operations");
  return ops;
}

absl::StatusOr<HsmBoundResult> MeasureHsmBound(pkcs11::Token& token,
                                               const std::vector<KeyOp>& ops,
                                               int threads, double seconds) {
  std::map<std::string, std::string> ciphertexts;
  for (const KeyOp& op : ops) {
    if (op.decrypt && !ciphertexts.count(op.label)) {
      absl::StatusOr<std::string> c = Ciphertext(token, op.label);
      if (!c.ok()) return c.status();
      ciphertexts[op.label] = *std::move(c);
    }
  }
  // One warm-up sequence also checks every operation works.
  for (const KeyOp& op : ops) {
    absl::Status s = RunOp(token, op, ciphertexts[op.label]);
    if (!s.ok()) return s;
  }
  std::atomic<bool> stop{false};
  std::atomic<long long> sequences{0};
  std::mutex mu;
  absl::Status first_error;
  auto work = [&] {
    while (!stop.load(std::memory_order_relaxed)) {
      for (const KeyOp& op : ops) {
        absl::Status s = RunOp(token, op, ciphertexts.at(op.label));
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (first_error.ok()) first_error = s;
          stop = true;
          return;
        }
      }
      ++sequences;
    }
  };
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : pool) t.join();
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  if (!first_error.ok()) return first_error;
  HsmBoundResult result;
  result.sequences = sequences.load();
  result.seconds = elapsed.count();
  return result;
}

}  // namespace scep::bench

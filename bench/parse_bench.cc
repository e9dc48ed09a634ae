#include "bench/parse_bench.h"

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <utility>

#include "common/codec/client.h"
#include "common/codec/envelope.h"
#include "common/crypto/der.h"
#include "common/crypto/public_keys.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::bench {
namespace {

// Runs `call` on `threads` threads for `seconds`; false from `call` aborts.
absl::StatusOr<ParseCase> Run(std::string name, int threads, double seconds,
                              const std::function<bool()>& call) {
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  std::atomic<long long> calls{0};
  std::vector<std::thread> workers;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      long long mine = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (!call()) {
          failed = true;
          break;
        }
        ++mine;
      }
      calls += mine;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (std::thread& w : workers) w.join();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failed) return absl::InternalError(name + " failed");
  ParseCase c;
  c.name = std::move(name);
  c.calls = calls.load();
  c.micros_per_call = c.calls > 0 ? wall * 1e6 * threads / static_cast<double>(c.calls) : 0;
  return c;
}

}  // namespace

absl::StatusOr<std::vector<ParseCase>> MeasureParses(int threads, double seconds) {
  crypto::EvpPkeyPtr key(EVP_RSA_gen(2048));
  if (key == nullptr) return absl::InternalError("RSA key generation");
  codec::CsrSpec spec;
  spec.common_name = "parse-bench";
  spec.challenge = "x";
  spec.dns_sans = {"parse-bench.example"};
  absl::StatusOr<std::string> csr = codec::BuildCsr(key.get(), spec);
  if (!csr.ok()) return csr.status();
  absl::StatusOr<crypto::X509Ptr> cert = codec::SelfSignedCertificate(key.get(), "parse-bench");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> cert_der = crypto::ToDer(cert->get(), i2d_X509);
  if (!cert_der.ok()) return cert_der.status();

  // The pkcsPKIEnvelope of a PKCSReq, encrypted to `cert`.
  absl::StatusOr<std::string> envelope = codec::Envelope(*csr, cert->get(), "aes-128-cbc");
  if (!envelope.ok()) return envelope.status();

  std::vector<std::pair<std::string, std::function<bool()>>> cases = {
      {"csr_openssl (d2i_X509_REQ, X509_REQ_verify)",
       [&] {
         auto req = crypto::FromDer<crypto::X509ReqPtr>(*csr, d2i_X509_REQ, "csr");
         if (!req.ok()) return false;
         EVP_PKEY* k = X509_REQ_get0_pubkey(req->get());
         return k != nullptr && X509_REQ_verify(req->get(), k) == 1;
       }},
      {"csr_ours (ParseRequestWithoutKey, DecodePublicKey, verify)",
       [&] {
         auto req = crypto::ParseRequestWithoutKey(*csr);
         if (!req.ok()) return false;
         auto k = crypto::DecodePublicKey(X509_REQ_get_X509_PUBKEY(req->get()));
         return k.ok() && X509_REQ_verify(req->get(), k->get()) == 1;
       }},
      {"cert_openssl (d2i_X509)",
       [&] {
         auto x = crypto::FromDer<crypto::X509Ptr>(*cert_der, d2i_X509, "cert");
         return x.ok() && X509_get0_pubkey(x->get()) != nullptr;
       }},
      {"cert_ours (ParseCertificate: keyless, legacy RSA decoder)",
       [&] {
         auto x = crypto::ParseCertificate(*cert_der);
         return x.ok() && X509_get0_pubkey(x->get()) != nullptr;
       }},
      {"spki_openssl (d2i_PUBKEY)",
       [&] {
         const unsigned char* spki = nullptr;
         unsigned char* der = nullptr;
         int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert->get()), &der);
         spki = der;
         crypto::EvpPkeyPtr k(d2i_PUBKEY(nullptr, &spki, len));
         OPENSSL_free(der);
         return k != nullptr;
       }},
      {"spki_ours (DecodePublicKey: per-thread decoder)",
       [&] {
         return crypto::DecodePublicKey(X509_get_X509_PUBKEY(cert->get())).ok();
       }},
      // The signer's key-transport metric label (session 5: a CMS parse).
      {"ktri_openssl (d2i_CMS_ContentInfo, RecipientInfo algorithm)",
       [&] {
         auto cms = crypto::FromDer<crypto::CmsPtr>(*envelope, d2i_CMS_ContentInfo, "cms");
         if (!cms.ok()) return false;
         X509_ALGOR* alg = nullptr;
         CMS_RecipientInfo* ri =
             sk_CMS_RecipientInfo_value(CMS_get0_RecipientInfos(cms->get()), 0);
         return CMS_RecipientInfo_ktri_get0_algs(ri, nullptr, nullptr, &alg) == 1 &&
                OBJ_obj2nid(alg->algorithm) == NID_rsaEncryption;
       }},
      {"ktri_ours (KeyTransportAlgorithm: DER walk)",
       [&] {
         return codec::KeyTransportAlgorithm(*envelope).value_or(0) == NID_rsaEncryption;
       }},
  };
  std::vector<ParseCase> out;
  for (auto& [name, call] : cases) {
    absl::StatusOr<ParseCase> c = Run(name, threads, seconds, call);
    if (!c.ok()) return c.status();
    out.push_back(*std::move(c));
  }
  return out;
}

}  // namespace scep::bench

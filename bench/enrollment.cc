#include "bench/enrollment.h"

#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509_vfy.h>

#include <mutex>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/parallel.h"
#include "common/codec/client.h"
#include "common/codec/envelope.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/crypto/public_keys.h"

namespace scep::bench {
namespace {

using StoreCtxPtr = crypto::SslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()),
                 static_cast<int>(n)) != 1) {
    std::abort();  // no randomness: nothing meaningful left to measure
  }
  return out;
}

std::string CommonName(X509* cert) {
  char buf[256] = {0};
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName,
                                    buf, sizeof(buf));
  return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
}

// Collects the first error of a parallel loop.
class FirstError {
 public:
  void Set(absl::Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    if (status_.ok()) status_ = std::move(s);
  }
  absl::Status Get() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

 private:
  std::mutex mu_;
  absl::Status status_;
};

}  // namespace

absl::StatusOr<ServerCerts> ParseGetCaCert(const HttpResponse& response) {
  if (response.status != 200) {
    return absl::InvalidArgumentError(
        absl::StrCat("GetCACert answered HTTP ", response.status));
  }
  ServerCerts out;
  if (absl::StartsWith(response.content_type, "application/x-x509-ca-cert")) {
    auto ca = crypto::FromDer<crypto::X509Ptr>(response.body, d2i_X509,
                                               "GetCACert certificate");
    if (!ca.ok()) return ca.status();
    out.ca = *std::move(ca);
    X509_up_ref(out.ca.get());
    out.ra.reset(out.ca.get());
    out.ca_is_ra = true;
    return out;
  }
  auto certs = codec::ParseDegenerateCertificates(response.body);
  if (!certs.ok()) return certs.status();
  for (crypto::X509Ptr& c : *certs) {
    // The RA is the one certificate that is not a CA (RFC 8894 section 3.5.1).
    if (X509_check_ca(c.get()) != 0 && out.ca == nullptr) {
      out.ca = std::move(c);
    } else if (out.ra == nullptr) {
      out.ra = std::move(c);
    }
  }
  if (out.ca == nullptr) return absl::InvalidArgumentError("GetCACert: no CA");
  if (out.ra == nullptr) {
    X509_up_ref(out.ca.get());
    out.ra.reset(out.ca.get());
    out.ca_is_ra = true;
  }
  return out;
}

absl::StatusOr<std::vector<DeviceKey>> GenerateDeviceKeys(int count, int threads) {
  std::vector<DeviceKey> keys(static_cast<size_t>(count));
  FirstError error;
  ParallelFor(keys.size(), threads, [&](size_t i) {
    keys[i].key.reset(EVP_RSA_gen(2048));
    if (keys[i].key == nullptr) return error.Set(absl::InternalError("EVP_RSA_gen"));
    auto cert = codec::SelfSignedCertificate(keys[i].key.get(),
                                             absl::StrCat("bench-device-", i));
    if (!cert.ok()) return error.Set(cert.status());
    keys[i].cert = *std::move(cert);
  });
  if (absl::Status s = error.Get(); !s.ok()) return s;
  return keys;
}

absl::StatusOr<std::vector<Enrollment>> BuildEnrollments(
    size_t n, const std::vector<DeviceKey>& keys, X509* ra,
    const BuildOptions& options, int threads) {
  if (keys.empty()) return absl::InvalidArgumentError("no device keys");
  std::vector<Enrollment> out(n);
  FirstError error;
  ParallelFor(n, threads, [&](size_t i) {
    Enrollment& e = out[i];
    e.key_index = i % keys.size();
    e.common_name = absl::StrCat("bench-", options.run_id, "-", i);
    e.transaction_id = absl::BytesToHexString(RandomBytes(16));
    if (absl::Status s = RebuildWithFreshNonce(e, keys[e.key_index], ra, options);
        !s.ok()) {
      error.Set(std::move(s));
    }
  });
  if (absl::Status s = error.Get(); !s.ok()) return s;
  return out;
}

absl::Status RebuildWithFreshNonce(Enrollment& e, const DeviceKey& dev, X509* ra,
                                   const BuildOptions& options) {
  if (e.signer_cert != nullptr) {
    return absl::InvalidArgumentError("only PKCSReqs are rebuilt");
  }
  e.sender_nonce = RandomBytes(16);
  codec::CsrSpec csr_spec;
  csr_spec.common_name = e.common_name;
  csr_spec.challenge = options.challenge;
  csr_spec.dns_sans = {e.common_name + ".bench.example"};
  auto csr = codec::BuildCsr(dev.key.get(), csr_spec);
  if (!csr.ok()) return csr.status();
  codec::PkcsReqSpec spec;
  spec.transaction_id = e.transaction_id;
  spec.sender_nonce = e.sender_nonce;
  spec.cipher = options.cipher;
  spec.digest = options.digest;
  auto der = codec::BuildPkcsReq(*csr, dev.cert.get(), dev.key.get(), ra, spec);
  if (!der.ok()) return der.status();
  e.request_der = *std::move(der);
  return absl::OkStatus();
}

absl::StatusOr<Enrollment> BuildCertPoll(const Enrollment& e, const DeviceKey& dev,
                                         const ServerCerts& server,
                                         const BuildOptions& options) {
  if (e.signer_cert != nullptr) {
    return absl::InvalidArgumentError("only PKCSReqs are polled for");
  }
  // The subject exactly as the request carries it.
  codec::CsrSpec csr_spec;
  csr_spec.common_name = e.common_name;
  csr_spec.challenge = options.challenge;
  auto csr = codec::BuildCsr(dev.key.get(), csr_spec);
  if (!csr.ok()) return csr.status();
  auto request = crypto::ParseRequestWithoutKey(*csr);
  if (!request.ok()) return request.status();
  auto ias = codec::EncodeIssuerAndSubject(X509_get_subject_name(server.ca.get()),
                                           X509_REQ_get_subject_name(request->get()));
  if (!ias.ok()) return ias.status();
  Enrollment poll;
  poll.key_index = e.key_index;
  poll.common_name = e.common_name;
  poll.transaction_id = e.transaction_id;
  poll.sender_nonce = RandomBytes(16);
  codec::PkcsReqSpec spec;
  spec.message_type = codec::MessageType::kCertPoll;
  spec.transaction_id = poll.transaction_id;
  spec.sender_nonce = poll.sender_nonce;
  spec.cipher = options.cipher;
  spec.digest = options.digest;
  auto der = codec::BuildPkcsReq(*ias, dev.cert.get(), dev.key.get(), server.ra.get(), spec);
  if (!der.ok()) return der.status();
  poll.request_der = *std::move(der);
  return poll;
}

absl::StatusOr<std::vector<Enrollment>> BuildRenewals(
    const std::vector<Enrollment>& enrolled,
    std::vector<crypto::X509Ptr> issued, const std::vector<DeviceKey>& keys,
    X509* ra, const BuildOptions& options, int threads) {
  if (issued.size() != enrolled.size()) {
    return absl::InvalidArgumentError("one issued certificate per enrollment");
  }
  std::vector<Enrollment> out(enrolled.size());
  FirstError error;
  ParallelFor(out.size(), threads, [&](size_t i) {
    Enrollment& e = out[i];
    e.key_index = enrolled[i].key_index;
    e.common_name = enrolled[i].common_name;
    e.transaction_id = absl::BytesToHexString(RandomBytes(16));
    e.sender_nonce = RandomBytes(16);
    e.signer_cert = std::move(issued[i]);
    if (e.signer_cert == nullptr) {
      return error.Set(absl::InvalidArgumentError("enrollment without certificate"));
    }
    const DeviceKey& dev = keys[e.key_index];
    codec::CsrSpec csr_spec;
    csr_spec.common_name = e.common_name;
    csr_spec.dns_sans = {e.common_name + ".bench.example"};
    if (options.renew_with_challenge) csr_spec.challenge = options.challenge;
    auto csr = codec::BuildCsr(dev.key.get(), csr_spec);
    if (!csr.ok()) return error.Set(csr.status());
    codec::PkcsReqSpec spec;
    spec.transaction_id = e.transaction_id;
    spec.sender_nonce = e.sender_nonce;
    spec.cipher = options.cipher;
    spec.digest = options.digest;
    spec.message_type = codec::MessageType::kRenewalReq;
    auto der = codec::BuildPkcsReq(*csr, e.signer_cert.get(), dev.key.get(), ra, spec);
    if (!der.ok()) return error.Set(der.status());
    e.request_der = *std::move(der);
  });
  if (absl::Status s = error.Get(); !s.ok()) return s;
  return out;
}

std::string VerifyReply(const Enrollment& enrollment, const DeviceKey& key,
                        const ServerCerts& server, const HttpResponse& reply,
                        std::string* detail, crypto::X509Ptr* issued_out) {
  auto fail = [&](std::string kind, std::string why) {
    *detail = std::move(why);
    return kind;
  };
  if (reply.status != 200) {
    return fail(absl::StrCat("http_", reply.status),
                reply.body.substr(0, 200));
  }
  X509* recipient = enrollment.signer_cert != nullptr ? enrollment.signer_cert.get()
                                                     : key.cert.get();
  auto rep = codec::OpenCertRep(reply.body, recipient, key.key.get());
  if (!rep.ok()) return fail("verify_certrep", std::string(rep.status().message()));
  const codec::ScepAttributes& attrs = rep->message.attributes;
  if (X509_cmp(rep->message.signer_certificate.get(), server.ra.get()) != 0) {
    return fail("verify_signer", "CertRep not signed by the RA certificate");
  }
  if (attrs.transaction_id != enrollment.transaction_id) {
    return fail("verify_transaction_id", "transactionID not echoed");
  }
  if (attrs.recipient_nonce != enrollment.sender_nonce) {
    return fail("verify_recipient_nonce", "recipientNonce != senderNonce");
  }
  if (attrs.pki_status == codec::PkiStatus::kFailure) {
    std::string name(attrs.fail_info ? codec::FailInfoName(*attrs.fail_info)
                                     : "absent");
    return fail("failInfo_" + name, attrs.fail_info_text.value_or(""));
  }
  if (attrs.pki_status == codec::PkiStatus::kPending) return fail("pending", "");
  if (attrs.pki_status != codec::PkiStatus::kSuccess) {
    return fail("verify_pki_status", "no pkiStatus");
  }
  X509* issued = nullptr;
  for (const crypto::X509Ptr& c : rep->certificates) {
    EVP_PKEY* pub = X509_get0_pubkey(c.get());
    if (pub != nullptr && EVP_PKEY_eq(pub, key.key.get()) == 1) issued = c.get();
  }
  if (issued == nullptr) {
    return fail("verify_public_key", "no returned certificate has the device key");
  }
  if (CommonName(issued) != enrollment.common_name) {
    return fail("verify_subject", "CN " + CommonName(issued));
  }
  crypto::X509StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  bool chained = false;
  int err = 0;
  if (store != nullptr && ctx != nullptr &&
      X509_STORE_add_cert(store.get(), server.ca.get()) == 1 &&
      X509_STORE_CTX_init(ctx.get(), store.get(), issued, nullptr) == 1) {
    chained = X509_verify_cert(ctx.get()) == 1;
    err = X509_STORE_CTX_get_error(ctx.get());
  }
  if (!chained) {
    return fail("verify_chain", X509_verify_cert_error_string(err));
  }
  if (issued_out != nullptr) {
    X509_up_ref(issued);
    issued_out->reset(issued);
  }
  return "";
}

}  // namespace scep::bench

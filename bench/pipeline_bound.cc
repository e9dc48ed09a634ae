#include "bench/pipeline_bound.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "absl/time/clock.h"
#include "bench/parallel.h"
#include "common/codec/csr.h"
#include "common/codec/envelope.h"
#include "common/codec/pki_message.h"

namespace scep::bench {
namespace {

bool ChallengeMatches(const codec::Csr& csr, const std::string& expected) {
  if (!csr.challenge_password.has_value() || expected.empty()) return false;
  const std::string& presented = *csr.challenge_password;
  return presented.size() == expected.size() &&
         CRYPTO_memcmp(presented.data(), expected.data(), expected.size()) == 0;
}

// One request, as gateway and signer together handle it on the common path.
absl::StatusOr<std::string> Enroll(signer::SignerCore& core, const std::string& der,
                                   const std::string& challenge) {
  absl::StatusOr<codec::PkiMessage> msg = codec::ParsePkiMessage(der);
  if (!msg.ok()) return msg.status();
  if (!msg->signature_valid) {
    return absl::InvalidArgumentError("pkiMessage signature does not verify");
  }
  if (msg->attributes.message_type != codec::MessageType::kPkcsReq) {
    return absl::InvalidArgumentError("not a PKCSReq");
  }
  absl::StatusOr<std::string> cipher = codec::EnvelopeCipher(msg->content);
  if (!cipher.ok()) return cipher.status();
  absl::StatusOr<std::string> plain = core.Decrypt(msg->content);
  if (!plain.ok()) return plain.status();
  X509* device = msg->signer_certificate.get();
  // As the gateway does: the self-signature is left to the issuance, which
  // checks it before the CA key signs.
  absl::StatusOr<codec::Csr> csr =
      codec::ParseCsr(*plain, device, codec::CsrSignature::kUnlessSignedWithItsKey);
  if (!csr.ok()) return csr.status();
  if (!ChallengeMatches(*csr, challenge)) {
    return absl::PermissionDeniedError("challenge password wrong");
  }
  absl::StatusOr<crypto::X509Ptr> cert =
      core.IssueX509(*plain, signer::SignerCore::Policy{}, device);
  if (!cert.ok()) return cert.status();
  codec::ScepAttributes attributes;
  attributes.message_type = codec::MessageType::kCertRep;
  attributes.transaction_id = msg->attributes.transaction_id;
  attributes.recipient_nonce = msg->attributes.sender_nonce;
  attributes.sender_nonce.resize(16);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(attributes.sender_nonce.data()),
                 16) != 1) {
    return absl::InternalError("RAND_bytes");
  }
  attributes.pki_status = codec::PkiStatus::kSuccess;
  return core.CertRepDelivering(cert->get(), device, *cipher, std::move(attributes),
                                msg->digest);
}

}  // namespace

PipelineResult RunPipeline(signer::SignerCore& core,
                           const std::vector<Enrollment>& requests,
                           const std::string& challenge, int threads) {
  PipelineResult result;
  result.replies.resize(requests.size());
  result.errors.resize(requests.size());
  const absl::Time start = absl::Now();
  ParallelFor(requests.size(), threads, [&](size_t i) {
    absl::StatusOr<std::string> reply = Enroll(core, requests[i].request_der, challenge);
    if (reply.ok()) {
      result.replies[i] = *std::move(reply);
    } else {
      result.errors[i] = std::string(reply.status().message());
    }
  });
  result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  result.processed = requests.size();
  return result;
}

}  // namespace scep::bench

// libFuzzer target: the pkiMessage decoder and the CMS parsers that see
// untrusted bytes in the gateway (RFC 8894 sections 3.2 and 3.4).
//
// The raw input goes to ParsePkiMessage, EnvelopeCipher,
// ParseDegenerateCertificates and ParseDegenerateCrl. When it decodes as a
// pkiMessage, its content is decrypted with the test RA key (the captures
// in tests/testdata are encrypted to it) and the plaintext is parsed as the
// message type says, so mutations reach the CSR and identifier parsers too.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <openssl/provider.h>

#include "absl/strings/string_view.h"
#include "common/codec/csr.h"
#include "common/codec/envelope.h"
#include "common/codec/identifiers.h"
#include "common/codec/pki_message.h"
#include "common/crypto/pem.h"

namespace {

struct RaKeys {
  scep::crypto::X509Ptr certificate;
  scep::crypto::EvpPkeyPtr key;
};

const RaKeys& Ra() {
  static const RaKeys* ra = [] {
    // scepclient's captures use single DES, as with --allow_legacy.
    static OSSL_PROVIDER* legacy = OSSL_PROVIDER_load(nullptr, "legacy");
    static OSSL_PROVIDER* fallback = OSSL_PROVIDER_load(nullptr, "default");
    if (legacy == nullptr || fallback == nullptr) std::abort();
    auto* keys = new RaKeys;
    auto cert = scep::crypto::LoadCertificateFile(SCEP_TESTDATA_DIR "/ra.pem");
    auto key = scep::crypto::LoadPrivateKeyFile(SCEP_TESTDATA_DIR "/ra.key");
    if (!cert.ok() || !key.ok()) std::abort();  // broken checkout, not input
    keys->certificate = *std::move(cert);
    keys->key = *std::move(key);
    return keys;
  }();
  return *ra;
}

void Content(const scep::codec::PkiMessage& msg) {
  using scep::codec::MessageType;
  (void)scep::codec::EnvelopeCipher(msg.content);
  auto plain = scep::codec::Decrypt(msg.content, Ra().certificate.get(),
                                    Ra().key.get());
  if (!plain.ok()) return;
  switch (msg.attributes.message_type) {
    case MessageType::kPkcsReq:
    case MessageType::kRenewalReq:
      (void)scep::codec::ParseCsr(*plain);
      break;
    case MessageType::kCertPoll:
      (void)scep::codec::DecodeIssuerAndSubject(*plain);
      break;
    case MessageType::kGetCert:
    case MessageType::kGetCrl:
      (void)scep::codec::DecodeIssuerAndSerial(*plain);
      break;
    case MessageType::kCertRep:
      (void)scep::codec::ParseDegenerateCertificates(*plain);
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view der(reinterpret_cast<const char*>(data), size);
  Ra();
  auto msg = scep::codec::ParsePkiMessage(der);
  if (msg.ok()) {
    if (msg->signer_certificate == nullptr) std::abort();  // contract
    Content(*msg);
  }
  (void)scep::codec::EnvelopeCipher(der);
  (void)scep::codec::ParseDegenerateCertificates(der);
  (void)scep::codec::ParseDegenerateCrl(der);
  return 0;
}

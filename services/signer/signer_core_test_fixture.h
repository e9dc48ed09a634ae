#ifndef SCEP_SERVICES_SIGNER_SIGNER_CORE_TEST_FIXTURE_H_
#define SCEP_SERVICES_SIGNER_SIGNER_CORE_TEST_FIXTURE_H_

// Test data and helpers shared by the SignerCore tests (signer_core_test.cc,
// signer_rollover_test.cc): the fixture CA and RA of tests/testdata.

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "common/codec/pki_message.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "services/signer/signer_core.h"

namespace scep::signer::testing {

inline std::string Testdata(const std::string& name) {
  return std::string(SCEP_TESTDATA_DIR) + "/" + name;
}

inline std::string ReadFile(const std::string& name) {
  std::ifstream in(Testdata(name), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline crypto::X509Ptr Cert(const std::string& name) {
  return crypto::LoadCertificateFile(Testdata(name)).value();
}

inline std::unique_ptr<KeyAccess> Key(const std::string& name) {
  return NewSoftwareKey(crypto::LoadPrivateKeyFile(Testdata(name)).value());
}

inline std::unique_ptr<SignerCore> NewFixtureCore() {
  return SignerCore::New(SignerOptions{}, Key("ca.key"), Cert("ca.pem"),
                         Key("ra.key"), Cert("ra.pem"))
      .value();
}

// The CSR inside the strongSwan capture (SAN fixture-strongswan...).
inline std::string StrongswanCsr(SignerCore& core) {
  auto msg = codec::ParsePkiMessage(ReadFile("strongswan-pkcsreq-aes-sha256.der"));
  return core.Decrypt(msg.value().content).value();
}

inline crypto::X509Ptr ParseCert(const std::string& der) {
  return crypto::FromDer<crypto::X509Ptr>(der, d2i_X509, "cert").value();
}

}  // namespace scep::signer::testing

#endif  // SCEP_SERVICES_SIGNER_SIGNER_CORE_TEST_FIXTURE_H_

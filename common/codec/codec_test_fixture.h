#ifndef SCEP_COMMON_CODEC_CODEC_TEST_FIXTURE_H_
#define SCEP_COMMON_CODEC_CODEC_TEST_FIXTURE_H_

// The test PKI (tests/testdata) and the legacy-provider context shared by
// codec_test.cc, codec_message_test.cc and codec_envelope_test.cc.

#include <openssl/pem.h>

#include <fstream>
#include <sstream>
#include <string>

#include "common/crypto/der.h"
#include "common/crypto/providers.h"
#include "gtest/gtest.h"

namespace scep::codec::testing {

inline std::string ReadFile(const std::string& name) {
  std::ifstream in(std::string(SCEP_TESTDATA_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline crypto::X509Ptr LoadCert(const std::string& name) {
  std::string pem = ReadFile(name);
  crypto::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return crypto::X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

inline crypto::EvpPkeyPtr LoadKey(const std::string& name) {
  std::string pem = ReadFile(name);
  crypto::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return crypto::EvpPkeyPtr(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

class CodecTest : public ::testing::Test {
 protected:
  // micromdm scepclient sends single DES, which OpenSSL 3 keeps in the
  // legacy provider: loaded into a library context of its own, as the
  // services do, so these tests prove the codec finds it there.
  static inline crypto::LegacyProviders* legacy_ = nullptr;

  static void SetUpTestSuite() { legacy_ = new crypto::LegacyProviders(); }
  static void TearDownTestSuite() {
    delete legacy_;
    legacy_ = nullptr;
  }
  void SetUp() override {
    ra_cert_ = LoadCert("ra.pem");
    ra_key_ = LoadKey("ra.key");
    ca_cert_ = LoadCert("ca.pem");
    ca_key_ = LoadKey("ca.key");
    ASSERT_NE(ra_cert_, nullptr);
    ASSERT_NE(ra_key_, nullptr);
  }
  crypto::X509Ptr ra_cert_, ca_cert_;
  crypto::EvpPkeyPtr ra_key_, ca_key_;
};

}  // namespace scep::codec::testing

#endif  // SCEP_COMMON_CODEC_CODEC_TEST_FIXTURE_H_

#include "common/crypto/pem.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string>

#include "common/crypto/der.h"
#include "gtest/gtest.h"

namespace scep::crypto {
namespace {

// A self-signed certificate, a CRL it signed listing one serial and a
// certificate request, each in DER and PEM.
class DerOrPemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_.reset(EVP_EC_gen("P-256"));
    ASSERT_NE(key_, nullptr);
    cert_.reset(X509_new());
    ASN1_INTEGER_set(X509_get_serialNumber(cert_.get()), 4242);
    X509_NAME* name = X509_get_subject_name(cert_.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("ca"), -1, -1, 0);
    X509_set_issuer_name(cert_.get(), name);
    X509_gmtime_adj(X509_getm_notBefore(cert_.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert_.get()), 3600);
    ASSERT_EQ(X509_set_pubkey(cert_.get(), key_.get()), 1);
    ASSERT_GT(X509_sign(cert_.get(), key_.get(), EVP_sha256()), 0);

    crl_.reset(X509_CRL_new());
    X509_CRL_set_issuer_name(crl_.get(), name);
    Asn1TimePtr now(ASN1_TIME_set(nullptr, time(nullptr)));
    X509_CRL_set1_lastUpdate(crl_.get(), now.get());
    X509_REVOKED* entry = X509_REVOKED_new();
    Asn1IntegerPtr serial(ASN1_INTEGER_new());
    ASN1_INTEGER_set(serial.get(), 77);
    X509_REVOKED_set_serialNumber(entry, serial.get());
    X509_REVOKED_set_revocationDate(entry, now.get());
    X509_CRL_add0_revoked(crl_.get(), entry);
    ASSERT_GT(X509_CRL_sign(crl_.get(), key_.get(), EVP_sha256()), 0);

    req_.reset(X509_REQ_new());
    X509_REQ_set_subject_name(req_.get(), name);
    ASSERT_EQ(X509_REQ_set_pubkey(req_.get(), key_.get()), 1);
    ASSERT_GT(X509_REQ_sign(req_.get(), key_.get(), EVP_sha256()), 0);
  }

  template <typename T>
  static std::string Pem(T* obj, int (*write)(BIO*, const T*)) {
    BioPtr out(BIO_new(BIO_s_mem()));
    EXPECT_EQ(write(out.get(), obj), 1);
    char* data = nullptr;
    const long len = BIO_get_mem_data(out.get(), &data);
    return std::string(data, static_cast<size_t>(len));
  }

  EvpPkeyPtr key_;
  X509Ptr cert_;
  X509CrlPtr crl_;
  X509ReqPtr req_;
};

TEST_F(DerOrPemTest, ReadsACertificateGivenAsDerOrPem) {
  const std::string der = ToDer(cert_.get(), i2d_X509).value();
  for (const std::string& given :
       {der, Pem(cert_.get(), PEM_write_bio_X509),
        "issued by the lab CA\n" + Pem(cert_.get(), PEM_write_bio_X509)}) {
    absl::StatusOr<X509Ptr> read = CertificateFromDerOrPem(given);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(X509_cmp(read->get(), cert_.get()), 0);
  }
}

TEST_F(DerOrPemTest, ReadsACrlAndACertificateRequestGivenAsDerOrPem) {
  for (const std::string& given :
       {ToDer(crl_.get(), i2d_X509_CRL).value(), Pem(crl_.get(), PEM_write_bio_X509_CRL)}) {
    absl::StatusOr<X509CrlPtr> read = CrlFromDerOrPem(given);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(read->get())), 1);
  }
  for (const std::string& given :
       {ToDer(req_.get(), i2d_X509_REQ).value(), Pem(req_.get(), PEM_write_bio_X509_REQ)}) {
    absl::StatusOr<X509ReqPtr> read = CsrFromDerOrPem(given);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(ToDer(read->get(), i2d_X509_REQ).value(), ToDer(req_.get(), i2d_X509_REQ).value());
  }
}

TEST_F(DerOrPemTest, RefusesWhatIsNotOfItsKindNamingTheKind) {
  const std::string cert_der = ToDer(cert_.get(), i2d_X509).value();
  const std::string cert_pem = Pem(cert_.get(), PEM_write_bio_X509);
  struct Case {
    absl::Status status;
    const char* kind;
  };
  const Case cases[] = {
      {CertificateFromDerOrPem("").status(), "certificate"},
      {CertificateFromDerOrPem(cert_der + "x").status(), "certificate"},  // trailing bytes
      {CertificateFromDerOrPem(Pem(req_.get(), PEM_write_bio_X509_REQ)).status(), "certificate"},
      {CertificateFromDerOrPem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
           .status(),
       "certificate"},
      {CrlFromDerOrPem(cert_der).status(), "CRL"},
      {CrlFromDerOrPem(cert_pem).status(), "CRL"},
      {CsrFromDerOrPem(cert_pem).status(), "certificate request"},
      {CsrFromDerOrPem("not a request").status(), "certificate request"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.code(), absl::StatusCode::kInvalidArgument) << c.status;
    EXPECT_NE(c.status.message().find(c.kind), absl::string_view::npos) << c.status;
  }
}

}  // namespace
}  // namespace scep::crypto

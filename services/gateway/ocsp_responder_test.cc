#include "services/gateway/ocsp_responder.h"

#include <openssl/ocsp.h>

#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "common/redis/memory_certificate_index.h"
#include "gtest/gtest.h"
#include "services/gateway/in_process_signer.h"

namespace scep::gateway {
namespace {

using OcspRequestPtr = crypto::SslPtr<OCSP_REQUEST, OCSP_REQUEST_free>;
using OcspResponsePtr = crypto::SslPtr<OCSP_RESPONSE, OCSP_RESPONSE_free>;
using OcspBasicPtr = crypto::SslPtr<OCSP_BASICRESP, OCSP_BASICRESP_free>;

class OcspResponderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CaCertificates* certs = &certificates_;
    ASSERT_TRUE(certs->Refresh(signer_).ok());
    ca_ = crypto::LoadCertificateFile(testing::Testdata("ca.pem")).value();
    redis::CertificateRecord good;
    good.certificate = "x";
    ASSERT_TRUE(index_.Put("4001", good, absl::Hours(1)).ok());
    ASSERT_TRUE(index_.Put("4002", good, absl::Hours(1)).ok());
    ASSERT_TRUE(index_.Revoke("4002", 1, absl::FromUnixSeconds(1'700'000'000)).ok());
    redis::CertificateRecord other_ca = good;
    other_ca.issuing_ca = "wifi";
    ASSERT_TRUE(index_.Put("4003", other_ca, absl::Hours(1)).ok());
  }

  // An OCSPRequest for `serials` of `issuer` (SHA-1 CertIDs unless `md`).
  OcspRequestPtr NewRequest(std::vector<long> serials, X509* issuer = nullptr,
                            const EVP_MD* md = EVP_sha1()) {
    OcspRequestPtr request(OCSP_REQUEST_new());
    for (long serial : serials) {
      crypto::Asn1IntegerPtr n(ASN1_INTEGER_new());
      ASN1_INTEGER_set(n.get(), serial);
      X509* ca = issuer != nullptr ? issuer : ca_.get();
      OCSP_CERTID* id =
          OCSP_cert_id_new(md, X509_get_subject_name(ca), X509_get0_pubkey_bitstr(ca), n.get());
      EXPECT_NE(OCSP_request_add0_id(request.get(), id), nullptr);
    }
    return request;
  }

  // NewRequest in DER.
  std::string Request(std::vector<long> serials, X509* issuer = nullptr,
                      const EVP_MD* md = EVP_sha1()) {
    return crypto::ToDer(NewRequest(std::move(serials), issuer, md).get(), i2d_OCSP_REQUEST)
        .value();
  }

  // A DER OCSPRequest for `serial` with a random nonce of `octets`, kept
  // in `*request` for OCSP_check_nonce.
  std::string NonceRequest(long serial, OcspRequestPtr* request, int octets = 16) {
    *request = NewRequest({serial});
    EXPECT_EQ(OCSP_request_add1_nonce(request->get(), nullptr, octets), 1);
    return crypto::ToDer(request->get(), i2d_OCSP_REQUEST).value();
  }

  // The BasicOCSPResponse of a successful answer.
  static OcspBasicPtr Basic(const std::string& der) {
    OcspResponsePtr response =
        crypto::FromDer<OcspResponsePtr>(der, d2i_OCSP_RESPONSE, "OCSP").value();
    return OcspBasicPtr(OCSP_response_get1_basic(response.get()));
  }

  // The statuses (V_OCSP_CERTSTATUS_*) of a successful, CA-signed answer.
  std::vector<int> Statuses(const std::string& der) {
    OcspResponsePtr response =
        crypto::FromDer<OcspResponsePtr>(der, d2i_OCSP_RESPONSE, "OCSP").value();
    EXPECT_EQ(OCSP_response_status(response.get()), OCSP_RESPONSE_STATUS_SUCCESSFUL);
    OcspBasicPtr basic(OCSP_response_get1_basic(response.get()));
    crypto::X509StorePtr store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), ca_.get());
    STACK_OF(X509)* certs = sk_X509_new_null();
    sk_X509_push(certs, ca_.get());
    EXPECT_EQ(OCSP_basic_verify(basic.get(), certs, store.get(), OCSP_TRUSTOTHER), 1);
    sk_X509_free(certs);
    std::vector<int> out;
    for (int i = 0; i < OCSP_resp_count(basic.get()); ++i) {
      int reason = 0;
      out.push_back(OCSP_single_get0_status(OCSP_resp_get0(basic.get(), i), &reason, nullptr,
                                            nullptr, nullptr));
    }
    return out;
  }

  testing::InProcessSigner signer_;
  CaCertificates certificates_;
  redis::MemoryCertificateIndex index_;
  crypto::X509Ptr ca_;
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
  OcspResponder responder_{{{"", &certificates_, &signer_, &index_}},
                           {absl::Hours(1), absl::Minutes(5), [this] { return now_; }}};
};

TEST_F(OcspResponderTest, GoodRevokedAndUnknownFromTheIndex) {
  std::string malformed;
  auto answer = responder_.Respond(Request({0x4001, 0x4002, 0x4003, 0x4004}), &malformed);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_TRUE(answer->signed_answer);
  // 4003 belongs to another CA, 4004 to none.
  EXPECT_EQ(Statuses(answer->der),
            (std::vector<int>{V_OCSP_CERTSTATUS_GOOD, V_OCSP_CERTSTATUS_REVOKED,
                              V_OCSP_CERTSTATUS_UNKNOWN, V_OCSP_CERTSTATUS_UNKNOWN}));
  auto sha256 = responder_.Respond(Request({0x4001}, nullptr, EVP_sha256()), &malformed);
  ASSERT_TRUE(sha256.ok()) << sha256.status();
  EXPECT_EQ(Statuses(sha256->der), std::vector<int>{V_OCSP_CERTSTATUS_GOOD});
}

TEST_F(OcspResponderTest, AnswersAreReusedUntilARevocation) {
  std::string malformed;
  const std::string request = Request({0x4001});
  ASSERT_TRUE(responder_.Respond(request, &malformed).ok());
  EXPECT_EQ(signer_.ocsp_signed, 1);
  now_ += absl::Minutes(4);
  auto reused = responder_.Respond(request, &malformed);
  ASSERT_TRUE(reused.ok());
  EXPECT_EQ(signer_.ocsp_signed, 1);
  EXPECT_EQ(reused->fresh, absl::Minutes(1));
  ASSERT_TRUE(index_.Revoke("4001", 4, now_).ok());
  auto fresh = responder_.Respond(request, &malformed);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(signer_.ocsp_signed, 2);
  EXPECT_EQ(Statuses(fresh->der), std::vector<int>{V_OCSP_CERTSTATUS_REVOKED});
  now_ += absl::Minutes(6);
  ASSERT_TRUE(responder_.Respond(request, &malformed).ok());
  EXPECT_EQ(signer_.ocsp_signed, 3);  // past the reuse time
}

TEST_F(OcspResponderTest, BeforeSigningGuardsFreshSignaturesOnly) {
  std::string malformed;
  int asked = 0;
  auto refuse = [&] {
    ++asked;
    return absl::ResourceExhaustedError("limit");
  };
  auto allow = [&] {
    ++asked;
    return absl::OkStatus();
  };
  EXPECT_EQ(responder_.Respond(Request({0x4001}), &malformed, refuse).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(signer_.ocsp_signed, 0);
  ASSERT_TRUE(responder_.Respond(Request({0x4001}), &malformed, allow).ok());
  ASSERT_TRUE(responder_.Respond(Request({0x4001}), &malformed, refuse).ok());  // reused
  EXPECT_EQ(asked, 2);
  EXPECT_EQ(signer_.ocsp_signed, 1);
}

TEST_F(OcspResponderTest, RefusalsAndOutages) {
  std::string malformed;
  auto garbage = responder_.Respond("not DER", &malformed);
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  OcspResponsePtr parsed =
      crypto::FromDer<OcspResponsePtr>(malformed, d2i_OCSP_RESPONSE, "OCSP").value();
  EXPECT_EQ(OCSP_response_status(parsed.get()), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
  EXPECT_EQ(responder_.Respond(Request({}), &malformed).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(responder_.Respond(Request(std::vector<long>(17, 0x4001)), &malformed)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(responder_.Respond(Request({0x4001}, nullptr, EVP_sha512()), &malformed)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  // Another issuer: unauthorized, unsigned.
  crypto::X509Ptr ra = crypto::LoadCertificateFile(testing::Testdata("ra.pem")).value();
  auto foreign = responder_.Respond(Request({0x4001}, ra.get()), &malformed);
  ASSERT_TRUE(foreign.ok());
  EXPECT_FALSE(foreign->signed_answer);
  parsed = crypto::FromDer<OcspResponsePtr>(foreign->der, d2i_OCSP_RESPONSE, "OCSP").value();
  EXPECT_EQ(OCSP_response_status(parsed.get()), OCSP_RESPONSE_STATUS_UNAUTHORIZED);
  // Signer down: Unavailable (503 + tryLater), nothing cached.
  signer_.down = true;
  EXPECT_EQ(responder_.Respond(Request({0x4002}), &malformed).status().code(),
            absl::StatusCode::kUnavailable);
}

// RFC 8954: a request's nonce comes back (FreeRADIUS, use_nonce = yes,
// refuses an answer without it); such answers are signed for the request
// alone and are neither reused nor cached. Requests without a nonce keep
// reusing the answer signed for them.
TEST_F(OcspResponderTest, NoncesAreEchoedInAnswersOfTheirOwn) {
  std::string malformed;
  ASSERT_TRUE(responder_.Respond(Request({0x4001}), &malformed).ok());
  EXPECT_EQ(signer_.ocsp_signed, 1);
  for (int i = 0; i < 2; ++i) {
    OcspRequestPtr request;
    auto answer = responder_.Respond(NonceRequest(0x4001, &request), &malformed);
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_TRUE(answer->nonce);
    EXPECT_EQ(answer->fresh, absl::ZeroDuration());
    EXPECT_EQ(Statuses(answer->der), std::vector<int>{V_OCSP_CERTSTATUS_GOOD});
    EXPECT_EQ(OCSP_check_nonce(request.get(), Basic(answer->der).get()), 1);
    EXPECT_EQ(signer_.ocsp_signed, 2 + i);
  }
  // The nonce answers went into no cache: the first answer is reused.
  auto plain = responder_.Respond(Request({0x4001}), &malformed);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->nonce);
  EXPECT_EQ(OCSP_check_nonce(NewRequest({0x4001}).get(), Basic(plain->der).get()), 2);
  EXPECT_EQ(signer_.ocsp_signed, 3);
  // RFC 8954's bounds: 1..32 octets, else malformedRequest.
  OcspRequestPtr request;
  EXPECT_TRUE(responder_.Respond(NonceRequest(0x4001, &request, 32), &malformed).ok());
  malformed.clear();
  EXPECT_EQ(responder_.Respond(NonceRequest(0x4001, &request, 33), &malformed).status().code(),
            absl::StatusCode::kInvalidArgument);
  OcspResponsePtr refused =
      crypto::FromDer<OcspResponsePtr>(malformed, d2i_OCSP_RESPONSE, "OCSP").value();
  EXPECT_EQ(OCSP_response_status(refused.get()), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
  // Ignored (GET): the reused answer, without a nonce.
  const int signed_before = signer_.ocsp_signed;
  auto ignored = responder_.Respond(NonceRequest(0x4001, &request, 64), &malformed, {},
                                    OcspResponder::Nonce::kIgnore);
  ASSERT_TRUE(ignored.ok()) << ignored.status();
  EXPECT_FALSE(ignored->nonce);
  EXPECT_EQ(OCSP_check_nonce(request.get(), Basic(ignored->der).get()), -1);
  EXPECT_EQ(signer_.ocsp_signed, signed_before);
}

// A nonce answer needs a fresh signature, so it counts against the
// client's limit; over it, or with the signer down, the reused answer
// without the nonce is served when there is one (RFC 8954 section 2.1),
// else the refusal stands.
TEST_F(OcspResponderTest, OverTheLimitANonceGetsTheReusedAnswer) {
  std::string malformed;
  int asked = 0;
  auto refuse = [&] {
    ++asked;
    return absl::ResourceExhaustedError("limit");
  };
  OcspRequestPtr request;
  EXPECT_EQ(responder_.Respond(NonceRequest(0x4001, &request), &malformed, refuse)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(asked, 1);
  ASSERT_TRUE(responder_.Respond(Request({0x4001}), &malformed).ok());
  EXPECT_EQ(signer_.ocsp_signed, 1);
  auto limited = responder_.Respond(NonceRequest(0x4001, &request), &malformed, refuse);
  ASSERT_TRUE(limited.ok()) << limited.status();
  EXPECT_EQ(asked, 2);
  EXPECT_FALSE(limited->nonce);
  EXPECT_EQ(Statuses(limited->der), std::vector<int>{V_OCSP_CERTSTATUS_GOOD});
  EXPECT_EQ(OCSP_check_nonce(request.get(), Basic(limited->der).get()), -1);
  EXPECT_EQ(signer_.ocsp_signed, 1);
  signer_.down = true;
  auto down = responder_.Respond(NonceRequest(0x4001, &request), &malformed);
  ASSERT_TRUE(down.ok()) << down.status();
  EXPECT_FALSE(down->nonce);
  EXPECT_EQ(responder_.Respond(NonceRequest(0x4002, &request), &malformed).status().code(),
            absl::StatusCode::kUnavailable);
}

// A memory index whose revocation generation cannot be read while `down`.
class RedisDownIndex final : public redis::MemoryCertificateIndex {
 public:
  absl::StatusOr<int64_t> RevocationGeneration() override {
    if (down) return absl::UnavailableError("Redis down (test)");
    return MemoryCertificateIndex::RevocationGeneration();
  }
  bool down = false;
};

// Redis down: an answer inside its reuse time is still handed out (the
// readiness probe keeps gateways in rotation to serve "cached OCSP");
// one that needs the index is not (503 tryLater).
TEST_F(OcspResponderTest, ReusedAnswersAreServedWhileRedisIsDown) {
  RedisDownIndex index;
  redis::CertificateRecord good;
  good.certificate = "x";
  ASSERT_TRUE(index.Put("4001", good, absl::Hours(1)).ok());
  OcspResponder responder({{"", &certificates_, &signer_, &index}},
                          {absl::Hours(1), absl::Minutes(5), [this] { return now_; }});
  std::string malformed;
  auto first = responder.Respond(Request({0x4001}), &malformed);
  ASSERT_TRUE(first.ok()) << first.status();
  index.down = true;
  now_ += absl::Minutes(4);
  auto reused = responder.Respond(Request({0x4001}), &malformed);
  ASSERT_TRUE(reused.ok()) << reused.status();
  EXPECT_EQ(reused->der, first->der);
  EXPECT_EQ(reused->fresh, absl::Minutes(1));
  OcspRequestPtr request;
  auto nonce = responder.Respond(NonceRequest(0x4001, &request), &malformed);
  ASSERT_TRUE(nonce.ok()) << nonce.status();
  EXPECT_FALSE(nonce->nonce);
  EXPECT_EQ(responder.Respond(Request({0x4002}), &malformed).status().code(),
            absl::StatusCode::kUnavailable);
  now_ += absl::Minutes(2);  // past the reuse time
  EXPECT_EQ(responder.Respond(Request({0x4001}), &malformed).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(signer_.ocsp_signed, 1);
}

TEST(OcspGetTest, DecodesUrlEncodedBase64) {
  EXPECT_EQ(OcspResponder::DecodeGetRequest("MAMCAQE%3D").value(), std::string("0\x03\x02\x01\x01", 5));
  EXPECT_EQ(OcspResponder::DecodeGetRequest("MAMCAQE=").value(), std::string("0\x03\x02\x01\x01", 5));
  EXPECT_FALSE(OcspResponder::DecodeGetRequest("%zz").ok());
  EXPECT_FALSE(OcspResponder::DecodeGetRequest("!!!").ok());
}

}  // namespace
}  // namespace scep::gateway

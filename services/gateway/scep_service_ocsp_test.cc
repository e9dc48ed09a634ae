// The OCSP endpoint of ScepService: routing, HTTP mapping and the
// per-client limit of fresh signatures (OcspResponder has its own tests).
#include <openssl/ocsp.h>

#include "absl/strings/escaping.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "common/redis/memory_certificate_index.h"
#include "common/redis/memory_enrollment_store.h"
#include "common/redis/rate_limiter.h"
#include "gtest/gtest.h"
#include "services/gateway/in_process_signer.h"
#include "services/gateway/scep_service.h"

namespace scep::gateway {
namespace {

using OcspRequestPtr = crypto::SslPtr<OCSP_REQUEST, OCSP_REQUEST_free>;
using OcspResponsePtr = crypto::SslPtr<OCSP_RESPONSE, OCSP_RESPONSE_free>;

class ScepServiceOcspTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = redis::MemoryEnrollmentStore::New();
    ASSERT_TRUE(certs_.Refresh(signer_).ok());
    ca_ = crypto::LoadCertificateFile(testing::Testdata("ca.pem")).value();
    limiter_ = redis::NewMemoryRateLimiter([this] { return now_; });
    options_.profile.challenge = "s3cret-Challenge";
    options_.extras.rate_limiter = limiter_.get();
    options_.ocsp_fresh_per_client_per_minute = 2;
    service_ = std::make_unique<ScepService>(options_, &signer_, store_.get(), &index_, &certs_);
  }

  // A DER OCSPRequest for `serial`; with `nonce`, one carrying a nonce,
  // kept there.
  std::string Request(long serial, OcspRequestPtr* nonce = nullptr) {
    OcspRequestPtr request(OCSP_REQUEST_new());
    crypto::Asn1IntegerPtr n(ASN1_INTEGER_new());
    ASN1_INTEGER_set(n.get(), serial);
    OCSP_request_add0_id(request.get(),
                         OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(ca_.get()),
                                          X509_get0_pubkey_bitstr(ca_.get()), n.get()));
    if (nonce != nullptr) {
      EXPECT_EQ(OCSP_request_add1_nonce(request.get(), nullptr, -1), 1);
    }
    std::string der = crypto::ToDer(request.get(), i2d_OCSP_REQUEST).value();
    if (nonce != nullptr) *nonce = std::move(request);
    return der;
  }

  // OCSP_check_nonce of `request` and the answer `r`: 1 echoed, -1 left out.
  static int CheckNonce(OCSP_REQUEST* request, const HttpResponse& r) {
    auto parsed = crypto::FromDer<OcspResponsePtr>(r.body, d2i_OCSP_RESPONSE, "OCSP");
    if (!parsed.ok()) return -100;
    crypto::SslPtr<OCSP_BASICRESP, OCSP_BASICRESP_free> basic(
        OCSP_response_get1_basic(parsed->get()));
    return basic == nullptr ? -100 : OCSP_check_nonce(request, basic.get());
  }

  HttpResponse Send(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& client = "192.0.2.7:4000") {
    HttpRequest r;
    r.method = method;
    r.path = path;
    r.body = body;
    r.remote_address = client;
    return service_->Handle(r);
  }

  static int OcspStatus(const HttpResponse& r) {
    auto parsed = crypto::FromDer<OcspResponsePtr>(r.body, d2i_OCSP_RESPONSE, "OCSP");
    return parsed.ok() ? OCSP_response_status(parsed->get()) : -1;
  }

  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
  testing::InProcessSigner signer_;
  std::unique_ptr<redis::MemoryEnrollmentStore> store_;
  redis::MemoryCertificateIndex index_;
  CaCertificates certs_;
  std::unique_ptr<redis::RateLimiter> limiter_;
  ScepServiceOptions options_;
  std::unique_ptr<ScepService> service_;
  crypto::X509Ptr ca_;
};

TEST_F(ScepServiceOcspTest, PostAndGetAnswer) {
  HttpResponse post = Send("POST", "/ocsp", Request(0x4001));
  EXPECT_EQ(post.status, 200);
  EXPECT_EQ(post.content_type, "application/ocsp-response");
  EXPECT_EQ(OcspStatus(post), OCSP_RESPONSE_STATUS_SUCCESSFUL);
  HttpResponse get = Send("GET", "/ocsp/" + absl::Base64Escape(Request(0x4002)), "");
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(OcspStatus(get), OCSP_RESPONSE_STATUS_SUCCESSFUL);
  bool cache_control = false;
  for (const auto& [name, value] : get.headers) {
    cache_control = cache_control || (name == "Cache-Control" && value.find("max-age=") == 0);
  }
  EXPECT_TRUE(cache_control);
  EXPECT_EQ(Send("PUT", "/ocsp", Request(0x4001)).status, 405);
  HttpResponse garbage = Send("POST", "/ocsp", "garbage");
  EXPECT_EQ(garbage.status, 400);
  EXPECT_EQ(OcspStatus(garbage), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
  EXPECT_EQ(Send("GET", "/ocsp/!!!", "").status, 400);
  now_ += absl::Minutes(1);  // past this client's 2 fresh answers a minute
  signer_.down = true;
  HttpResponse down = Send("POST", "/ocsp", Request(0x4009));
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(OcspStatus(down), OCSP_RESPONSE_STATUS_TRYLATER);
}

TEST_F(ScepServiceOcspTest, FreshSignaturesArePerClientLimitedReusedAnswersAreNot) {
  EXPECT_EQ(Send("POST", "/ocsp", Request(0x4001)).status, 200);
  EXPECT_EQ(Send("POST", "/ocsp", Request(0x4002)).status, 200);
  HttpResponse limited = Send("POST", "/ocsp", Request(0x4003));
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(OcspStatus(limited), OCSP_RESPONSE_STATUS_TRYLATER);
  bool retry_after = false;
  for (const auto& [name, value] : limited.headers) retry_after = retry_after || name == "Retry-After";
  EXPECT_TRUE(retry_after);
  const int signed_before = signer_.ocsp_signed;
  EXPECT_EQ(Send("POST", "/ocsp", Request(0x4001)).status, 200);  // reused: not counted
  EXPECT_EQ(signer_.ocsp_signed, signed_before);
  EXPECT_EQ(Send("POST", "/ocsp", Request(0x4003), "192.0.2.8:4000").status, 200);
  now_ += absl::Minutes(1);
  EXPECT_EQ(Send("POST", "/ocsp", Request(0x4003)).status, 200);
}

// POST echoes a nonce (RFC 8954) in an answer signed for it, which counts
// against the client's fresh answers; over the limit the reused answer
// comes without the nonce instead of a 429. GET leaves the nonce out and
// stays cacheable (RFC 5019).
TEST_F(ScepServiceOcspTest, NoncesAreEchoedWithinTheClientsFreshAnswers) {
  EXPECT_EQ(Send("POST", "/ocsp", Request(0x4001)).status, 200);  // fresh: 1 of 2
  OcspRequestPtr request;
  HttpResponse echoed = Send("POST", "/ocsp", Request(0x4001, &request));  // fresh: 2 of 2
  EXPECT_EQ(echoed.status, 200);
  EXPECT_EQ(CheckNonce(request.get(), echoed), 1);
  EXPECT_EQ(signer_.ocsp_signed, 2);
  HttpResponse limited = Send("POST", "/ocsp", Request(0x4001, &request));
  EXPECT_EQ(limited.status, 200);
  EXPECT_EQ(OcspStatus(limited), OCSP_RESPONSE_STATUS_SUCCESSFUL);
  EXPECT_EQ(CheckNonce(request.get(), limited), -1);  // reused, without the nonce
  EXPECT_EQ(signer_.ocsp_signed, 2);
  // Nothing to reuse for this one: the limit answers.
  EXPECT_EQ(Send("POST", "/ocsp", Request(0x4002, &request)).status, 429);
  const std::string get_path = "/ocsp/" + absl::Base64Escape(Request(0x4001, &request));
  HttpResponse get = Send("GET", get_path, "");
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(CheckNonce(request.get(), get), -1);
  bool cache_control = false;
  for (const auto& [name, value] : get.headers) {
    cache_control = cache_control || (name == "Cache-Control" && value.find("max-age=") == 0);
  }
  EXPECT_TRUE(cache_control);
  EXPECT_EQ(signer_.ocsp_signed, 2);
}

}  // namespace
}  // namespace scep::gateway

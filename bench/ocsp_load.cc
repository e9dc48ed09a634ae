#include "bench/ocsp_load.h"

#include <openssl/ocsp.h>
#include <openssl/rand.h>

#include "common/crypto/der.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::bench {
namespace {

using OcspRequestPtr = crypto::SslPtr<OCSP_REQUEST, OCSP_REQUEST_free>;
using OcspResponsePtr = crypto::SslPtr<OCSP_RESPONSE, OCSP_RESPONSE_free>;
using OcspBasicPtr = crypto::SslPtr<OCSP_BASICRESP, OCSP_BASICRESP_free>;

}  // namespace

absl::StatusOr<std::vector<std::string>> BuildOcspRequests(X509* ca, size_t n, size_t distinct) {
  const size_t serials = distinct == 0 ? n : std::min(n, distinct);
  std::vector<std::string> unique;
  for (size_t i = 0; i < serials; ++i) {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) return absl::InternalError("RAND_bytes");
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    crypto::BignumPtr bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
    crypto::Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    OcspRequestPtr request(OCSP_REQUEST_new());
    OCSP_CERTID* id = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(ca),
                                       X509_get0_pubkey_bitstr(ca), serial.get());
    if (id == nullptr || OCSP_request_add0_id(request.get(), id) == nullptr) {
      OCSP_CERTID_free(id);
      return absl::InternalError("OCSP request");
    }
    absl::StatusOr<std::string> der = crypto::ToDer(request.get(), i2d_OCSP_REQUEST);
    if (!der.ok()) return der.status();
    unique.push_back(*std::move(der));
  }
  std::vector<std::string> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(unique[i % unique.size()]);
  return out;
}

std::string VerifyOcspReply(X509* ca, const HttpResponse& response, std::string* detail) {
  if (response.status != 200) return "http_" + std::to_string(response.status);
  absl::StatusOr<OcspResponsePtr> parsed =
      crypto::FromDer<OcspResponsePtr>(response.body, d2i_OCSP_RESPONSE, "OCSPResponse");
  if (!parsed.ok()) {
    *detail = std::string(parsed.status().message());
    return "verify_ocsp_parse";
  }
  if (OCSP_response_status(parsed->get()) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    *detail = std::to_string(OCSP_response_status(parsed->get()));
    return "verify_ocsp_status";
  }
  OcspBasicPtr basic(OCSP_response_get1_basic(parsed->get()));
  crypto::X509StorePtr store(X509_STORE_new());
  crypto::X509StackPtr certs(sk_X509_new_null());
  if (basic == nullptr || store == nullptr || certs == nullptr ||
      X509_STORE_add_cert(store.get(), ca) != 1 || sk_X509_push(certs.get(), ca) <= 0) {
    return "verify_ocsp_internal";
  }
  X509_up_ref(ca);  // the stack frees what it holds
  if (OCSP_basic_verify(basic.get(), certs.get(), store.get(), OCSP_TRUSTOTHER) != 1) {
    *detail = crypto::DrainSslErrors();
    return "verify_ocsp_signature";
  }
  if (OCSP_resp_count(basic.get()) != 1 ||
      OCSP_single_get0_status(OCSP_resp_get0(basic.get(), 0), nullptr, nullptr, nullptr,
                              nullptr) != V_OCSP_CERTSTATUS_UNKNOWN) {
    return "verify_ocsp_answer";
  }
  return "";
}

}  // namespace scep::bench

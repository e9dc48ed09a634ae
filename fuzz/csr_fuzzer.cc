// libFuzzer target: the PKCS#10 parser (RFC 8894 section 3.3.1) and the
// subject printer used in logs and failInfoText.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <openssl/x509.h>

#include "absl/strings/string_view.h"
#include "common/codec/csr.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view der(reinterpret_cast<const char*>(data), size);
  auto csr = scep::codec::ParseCsr(der);
  if (!csr.ok()) return 0;
  // A parsed CSR always has a request and a SHA-256 fingerprint.
  if (csr->request == nullptr || csr->fingerprint.size() != 32) std::abort();
  (void)scep::codec::SubjectText(X509_REQ_get_subject_name(csr->request.get()));
  return 0;
}

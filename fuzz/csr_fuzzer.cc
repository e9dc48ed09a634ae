// libFuzzer target: the PKCS#10 parser (RFC 8894 section 3.3.1) with its
// challengePassword (any DirectoryString), the subject printer used in logs
// and failInfoText, the canonical subject key and the distinguished-name
// parser for bound one-time challenges.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <openssl/x509.h>

#include "absl/strings/string_view.h"
#include "common/codec/csr.h"
#include "common/crypto/distinguished_name.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view der(reinterpret_cast<const char*>(data), size);
  auto csr = scep::codec::ParseCsr(der);
  if (!csr.ok()) return 0;
  // A parsed CSR always has a request and a SHA-256 fingerprint.
  if (csr->request == nullptr || csr->fingerprint.size() != 32) std::abort();
  const X509_NAME* name = X509_REQ_get_subject_name(csr->request.get());
  const std::string text = scep::codec::SubjectText(name);
  // The per-subject key is always a SHA-256, and a name has its own
  // attributes (whatever string types and bytes the values carry).
  if (scep::codec::SubjectDigestHex(name).size() != 64) std::abort();
  if (!scep::codec::SameAttributes(name, name)) std::abort();
  // The administrator's text for a bound one-time challenge is parsed with
  // this: the printed subject, and the raw input as text.
  (void)scep::crypto::ParseDistinguishedName(text);
  (void)scep::crypto::ParseDistinguishedName(der);
  return 0;
}

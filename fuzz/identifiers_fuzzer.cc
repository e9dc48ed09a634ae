// libFuzzer target: IssuerAndSerialNumber and IssuerAndSubject, the
// pkcsPKIEnvelope contents of GetCert, GetCRL and CertPoll (RFC 8894
// sections 3.3.3 and 3.3.4). Anything decoded must re-encode and decode to
// the same names and serial.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "absl/strings/string_view.h"
#include "common/codec/identifiers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scep::codec;
  const absl::string_view der(reinterpret_cast<const char*>(data), size);

  if (auto ias = DecodeIssuerAndSerial(der); ias.ok()) {
    if (SerialHex(ias->serial.get()).empty()) std::abort();
    auto again = EncodeIssuerAndSerial(ias->issuer.get(), ias->serial.get());
    if (again.ok()) {
      auto back = DecodeIssuerAndSerial(*again);
      if (!back.ok() ||
          X509_NAME_cmp(back->issuer.get(), ias->issuer.get()) != 0 ||
          ASN1_INTEGER_cmp(back->serial.get(), ias->serial.get()) != 0) {
        std::abort();
      }
    }
  }

  if (auto ias = DecodeIssuerAndSubject(der); ias.ok()) {
    auto again = EncodeIssuerAndSubject(ias->issuer.get(), ias->subject.get());
    if (again.ok()) {
      auto back = DecodeIssuerAndSubject(*again);
      if (!back.ok() ||
          X509_NAME_cmp(back->issuer.get(), ias->issuer.get()) != 0 ||
          X509_NAME_cmp(back->subject.get(), ias->subject.get()) != 0) {
        std::abort();
      }
    }
  }
  return 0;
}

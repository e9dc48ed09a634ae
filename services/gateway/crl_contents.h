#ifndef SCEP_SERVICES_GATEWAY_CRL_CONTENTS_H_
#define SCEP_SERVICES_GATEWAY_CRL_CONTENTS_H_

#include <openssl/x509.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/redis/certificate_index.h"

namespace scep::gateway {

// What a CRL lists, as the certificate index records revocations.
struct CrlContents {
  uint64_t number = 0;  // cRLNumber; 0 when absent
  absl::Time this_update;
  // serial, revocation date, reasonCode (0, unspecified, when absent);
  // not_after unknown (a CRL does not carry it).
  std::vector<redis::RevokedSerial> revoked;
};

// Reads a CRL, DER or PEM. With `issuer`, the CRL must be issued by it
// (issuer name and signature). InvalidArgument naming what is wrong.
absl::StatusOr<CrlContents> ReadCrl(absl::string_view crl, const X509* issuer = nullptr);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_CRL_CONTENTS_H_

#ifndef SCEP_SERVICES_SIGNER_USAGE_NAMES_H_
#define SCEP_SERVICES_SIGNER_USAGE_NAMES_H_

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace scep::signer {

// keyUsage bits (OpenSSL KU_*) only CA certificates carry (RFC 5280
// 4.2.1.3: keyCertSign requires CA:TRUE).
inline constexpr uint32_t kCaKeyUsages = KU_KEY_CERT_SIGN | KU_CRL_SIGN;

// subjectAltName types by the names profiles and policies use.
inline constexpr uint32_t kSanDns = 1, kSanEmail = 2, kSanUpn = 4, kSanUri = 8, kSanIp = 16;

// The KU_* bit of a profile key usage name ("digitalSignature"); nullopt
// for an unknown name.
std::optional<uint32_t> KeyUsageBit(absl::string_view name);
// The names of KU_* `bits`, in keyUsage bit order.
std::vector<std::string> KeyUsageNamesOf(uint32_t bits);
// The KU_* bits of `cert`'s keyUsage extension; 0 without one.
uint32_t KeyUsageOf(X509* cert);

// The kSan* bit of "dns", "email", "upn", "uri" or "ip"; nullopt otherwise.
std::optional<uint32_t> SanTypeBit(absl::string_view name);
// The name of one kSan* bit; "other" for anything else.
const char* SanTypeName(uint32_t bit);

// The short name of a dotted OID OpenSSL knows ("clientAuth"), else the
// dotted form itself.
std::string OidName(const std::string& dotted);

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_USAGE_NAMES_H_

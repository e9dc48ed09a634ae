#ifndef SCEP_COMMON_REDIS_CERTIFICATE_INDEX_H_
#define SCEP_COMMON_REDIS_CERTIFICATE_INDEX_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace scep::redis {

// One issued certificate. Serials are lower-case hex of the positive
// serial's magnitude (codec::SerialHex), unique per CA.
struct CertificateRecord {
  std::string certificate;  // DER
  std::string profile;
  std::string issuing_ca;   // the signer's CA name; "" = default CA
  bool revoked = false;
  int reason = -1;          // RFC 5280 CRLReason when revoked; -1 none
  absl::Time revoked_at = absl::InfinitePast();
};

struct RevokedSerial {
  std::string serial_hex;
  absl::Time revoked_at;
  int reason = -1;
  // The certificate's notAfter, recorded at revocation; InfiniteFuture
  // when unknown (revoked before session 16, or a record whose DER does
  // not parse): such an entry stays on every CRL.
  absl::Time not_after = absl::InfiniteFuture();
};

// What CertificateIndex::Revoke found and did.
struct RevokeResult {
  // False when the certificate was revoked before the call: its revocation
  // stands as it was (RFC 5280 section 5.1.2.6: the date it was revoked),
  // its reason too unless `reason_changed`.
  bool newly_revoked = false;
  // The call raised an earlier revocation's reason to keyCompromise.
  bool reason_changed = false;
  int reason = -1;  // the certificate's CRLReason after the call
  absl::Time revoked_at = absl::InfinitePast();  // when it was revoked
};

// The CRLReason (RFC 5280 section 5.3.1) that replaces another one on a
// certificate revoked already (CertificateIndex::Revoke).
inline constexpr int kKeyCompromiseReason = 1;

// An index serves one issuing CA's view (its CRL), while certificates of
// every CA share one serial space: serials are 127 random bits, so Get,
// Revoke and List see all CAs. ListRevoked returns only serials of the
// index's own CA, and the cached CRL is that CA's.

// The last CRL signed, and which revocation generation it covers.
struct CachedCrl {
  int64_t generation = 0;
  std::string der;
  absl::Time next_update;
  absl::Time this_update = absl::InfinitePast();  // InfinitePast: unknown
  uint64_t number = 0;  // its cRLNumber; 0: unknown (cached before session 17)
};

// What a gateway keeping a CRL in memory checks per request: the
// revocation generation and the cached CRL's cRLNumber (0: none cached or
// unknown).
struct CrlState {
  int64_t generation = 0;
  uint64_t cached_number = 0;
};

// notAfter of a DER certificate. InvalidArgument when it does not parse.
absl::StatusOr<absl::Time> CertificateNotAfter(absl::string_view der);

// One entry of CertificateIndex::List.
struct CertificateListing {
  std::string serial_hex;
  CertificateRecord record;
};

struct CertificatePage {
  std::vector<CertificateListing> certificates;
  std::string next_page_token;  // "" on the last page
};

// InvalidArgument unless `serial_hex` is 1..40 lower-case hex digits (a
// serial of at most 20 octets, RFC 5280 section 4.1.2.2).
absl::Status ValidateSerialHex(absl::string_view serial_hex);

// The certificate index of DESIGN.md: serial → certificate + status, for
// GetCert, renewal checks, revocation and CRLs. Thread-safe; Unavailable
// when the backing store cannot be reached; every serial argument is
// checked with ValidateSerialHex.
class CertificateIndex {
 public:
  virtual ~CertificateIndex() = default;

  // Records an issued certificate, kept for `ttl` (its lifetime plus a
  // grace period). Overwrites nothing that is revoked.
  virtual absl::Status Put(absl::string_view serial_hex,
                           const CertificateRecord& record,
                           absl::Duration ttl) = 0;

  virtual absl::StatusOr<std::optional<CertificateRecord>> Get(
      absl::string_view serial_hex) = 0;

  // Marks a certificate revoked at `when` with `reason` (a CRLReason) and
  // bumps the revocation generation. NotFound for an unknown serial.
  // Revoking a revoked certificate is OK and keeps its revocation time and
  // reason (newly_revoked false), with one exception: keyCompromise
  // replaces another reason (reason_changed; the generation bumps so the
  // next CRL and OCSP answers carry it). A compromise found after a
  // revocation for another reason must reach relying parties that judge
  // signatures by the reason; no other change of reason is made.
  virtual absl::StatusOr<RevokeResult> Revoke(absl::string_view serial_hex, int reason,
                                              absl::Time when) = 0;

  virtual absl::StatusOr<std::vector<RevokedSerial>> ListRevoked() = 0;
  // The revocation list's entry for this serial, whichever CA's and whether
  // or not the index still has the certificate (an entry RestoreRevoked
  // recorded from a CRL has none); nullopt when it is not listed.
  virtual absl::StatusOr<std::optional<RevokedSerial>> GetRevoked(
      absl::string_view serial_hex) = 0;
  // Takes these serials off ListRevoked for good (certificates expired
  // long enough that no CRL needs them, RFC 5280 section 3.3); their
  // records stay revoked until they expire. Unknown serials are ignored.
  virtual absl::Status ForgetRevoked(const std::vector<std::string>& serials) = 0;

  // Increases with every revocation; a cached CRL of an older generation
  // is stale.
  virtual absl::StatusOr<int64_t> RevocationGeneration() = 0;

  // Disaster recovery (Redis lost the revocation list: no AOF, a restore
  // from an older backup, a failover that lost writes): records each of
  // `entries` (read from a CRL this CA signed) that the revocation list
  // lacks, with its date and reason, marks its certificate revoked where
  // the index still has it, and moves the cRLNumber counter to at least
  // `crl_number`. A revocation the list has is left as it is. Returns how
  // many entries were missing; the generation moves on when any was or the
  // counter moved (a cached CRL is then signed anew).
  virtual absl::StatusOr<int64_t> RestoreRevoked(const std::vector<RevokedSerial>& entries,
                                                 uint64_t crl_number) = 0;

  // RevocationGeneration and the cached CRL's number, in one round trip.
  virtual absl::StatusOr<CrlState> GetCrlState() = 0;

  // Next cRLNumber (monotonic, RFC 5280 section 5.2.3), always above the
  // cached CRL's number (even if the counter was lost).
  virtual absl::StatusOr<uint64_t> NextCrlNumber() = 0;

  // Certificates recorded for `profile` ("" = every profile) in the order
  // they were first recorded, at most `page_size` (1..1000) per page;
  // `revoked` keeps only revoked (true) or unrevoked (false) ones. One call
  // looks at a bounded number of entries, so a page may be short (even
  // empty) while next_page_token is not "". InvalidArgument for a bad
  // profile, page size or token.
  virtual absl::StatusOr<CertificatePage> List(absl::string_view profile,
                                               std::optional<bool> revoked,
                                               absl::string_view page_token,
                                               int page_size) = 0;

  virtual absl::StatusOr<std::optional<CachedCrl>> GetCachedCrl() = 0;
  // Caches `crl` unless the cached one has the same or a higher cRLNumber
  // (another gateway signed a later CRL meanwhile): true when cached. So
  // the cached CRL's number never goes back, and every gateway serving the
  // cached CRL serves numbers in order (RFC 5280 section 5.2.3).
  virtual absl::StatusOr<bool> PutCachedCrl(const CachedCrl& crl) = 0;
};

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_CERTIFICATE_INDEX_H_

#ifndef SCEP_COMMON_RPC_MESSAGE_LIMITS_H_
#define SCEP_COMMON_RPC_MESSAGE_LIMITS_H_

namespace scep::rpc {

// Largest gateway <-> signer message either side accepts. gRPC's default
// (4 MiB) fits a CRL of about 115,000 revoked certificates (~35 bytes each
// in DER, a little less in the SignCrl request): a fleet of a million
// devices passes that after a year of retired devices, and then no CRL
// could be signed at all. 64 MiB fits about 1.8 million. Both ends are
// authenticated peers (mutual TLS in production).
inline constexpr int kMaxSignerMessageBytes = 64 << 20;

// The same for the admin API (GetCRL answers, RestoreRevocations
// requests carry a CRL) and scepctl.
inline constexpr int kMaxAdminMessageBytes = kMaxSignerMessageBytes;

}  // namespace scep::rpc

#endif  // SCEP_COMMON_RPC_MESSAGE_LIMITS_H_

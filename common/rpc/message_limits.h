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

// A server reads a whole message before its service can authenticate the
// call, so with the sizes above a peer could hold gigabytes in unfinished
// streams. These bound it: concurrent streams per connection (more wait at
// the client, HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS) and the memory gRPC
// may use for reading (grpc::ResourceQuota; beyond it gRPC stops reading
// and refuses new calls with RESOURCE_EXHAUSTED).
// The admin API: scepctl and MDM integrations, few calls at a time.
inline constexpr int kMaxAdminStreamsPerConnection = 16;
inline constexpr int kAdminMemoryQuotaBytes = 256 << 20;  // 4 largest messages
// The signer: each gateway keeps one connection per signer pod and makes up
// to --workers (32) + --ocsp_workers calls on it at once.
inline constexpr int kMaxSignerStreamsPerConnection = 128;
inline constexpr int kSignerMemoryQuotaBytes = 512 << 20;

}  // namespace scep::rpc

#endif  // SCEP_COMMON_RPC_MESSAGE_LIMITS_H_

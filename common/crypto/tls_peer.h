#ifndef SCEP_COMMON_CRYPTO_TLS_PEER_H_
#define SCEP_COMMON_CRYPTO_TLS_PEER_H_

// The client side of a TLS connection, shared by the gateway's outgoing
// connections (hooks, Redis): which name the server's certificate must
// carry, and why a handshake or a read failed, in words an administrator
// can act on.

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <string>

#include "absl/status/status.h"

namespace scep::crypto {

// True for an IPv4 or IPv6 address literal (no brackets).
bool IsIpLiteral(const std::string& host);

// Makes `ssl` send `name` as SNI (DNS names only) and accept only a server
// certificate for it: a DNS name (no partial wildcards) or, for an address
// literal, an IP subjectAltName. Internal on an OpenSSL failure.
absl::Status ExpectPeerName(SSL* ssl, const std::string& name);

// Empties this thread's OpenSSL error queue before a TLS call whose
// SSL_get_error must not see older errors. ERR_clear_error walks every
// slot (~1.7 k instructions); the queue is nearly always empty already.
inline void ClearStaleSslErrors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

// Why a TLS call on `ssl` failed: the certificate check's verdict when that
// is what failed, else OpenSSL's error queue (drained), else `fallback`.
std::string TlsFailure(SSL* ssl, const char* fallback = "connection closed");

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_TLS_PEER_H_

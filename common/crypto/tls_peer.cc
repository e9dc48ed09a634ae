#include "common/crypto/tls_peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/crypto/ssl_error.h"

namespace scep::crypto {

bool IsIpLiteral(const std::string& host) {
  unsigned char addr[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), addr) == 1 ||
         inet_pton(AF_INET6, host.c_str(), addr) == 1;
}

absl::Status ExpectPeerName(SSL* ssl, const std::string& name) {
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (IsIpLiteral(name)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) != 1) {
      return SslInternal("TLS peer address");
    }
  } else if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1 ||
             SSL_set1_host(ssl, name.c_str()) != 1) {
    return SslInternal("TLS peer name");
  }
  return absl::OkStatus();
}

std::string TlsFailure(SSL* ssl, const char* fallback) {
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    ERR_clear_error();
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  }
  std::string queue = DrainSslErrors();
  return queue.empty() ? std::string(fallback) : queue;
}

}  // namespace scep::crypto

// Test-only: wraps arbitrary bytes as the CSR of a well-formed PKCSReq
// (RFC 8894 section 3.3.1), so the limit tests can put oversized or
// malformed content behind a valid signature and envelope.
//
//   scep-limits-request --ra ra.pem --csr in.der --out req.der
//                       [--tid T] [--nonce HEX16]
//
// The signer key and self-signed certificate are fresh RSA-2048; the
// envelope is AES-128-CBC to the RA certificate.

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <string>

#include "common/codec/client.h"
#include "common/codec/csr.h"
#include "common/crypto/pem.h"

namespace {

int Die(const std::string& what) {
  std::cerr << "scep-limits-request: " << what << std::endl;
  return 2;
}

std::string RandomBytes(int n) {
  std::string out(static_cast<size_t>(n), '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), n);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  if (args["--ra"].empty() || args["--csr"].empty() || args["--out"].empty()) {
    return Die("usage: --ra ra.pem --csr in.der --out req.der [--tid T]");
  }
  auto ra = scep::crypto::LoadCertificateFile(args["--ra"]);
  if (!ra.ok()) return Die(std::string(ra.status().message()));
  std::ifstream in(args["--csr"], std::ios::binary);
  if (!in) return Die("cannot read " + args["--csr"]);
  const std::string csr((std::istreambuf_iterator<char>(in)),
                        std::istreambuf_iterator<char>());

  scep::crypto::EvpPkeyPtr key(EVP_RSA_gen(2048));
  if (key == nullptr) return Die("RSA key generation");
  auto cert = scep::codec::SelfSignedCertificate(key.get(), "limits-device");
  if (!cert.ok()) return Die(std::string(cert.status().message()));

  scep::codec::PkcsReqSpec spec;
  spec.transaction_id = args["--tid"].empty()
                            ? "limits-" + scep::codec::Hex(RandomBytes(8))
                            : args["--tid"];
  spec.sender_nonce = RandomBytes(16);
  auto req = scep::codec::BuildPkcsReq(csr, cert->get(), key.get(), ra->get(),
                                       spec);
  if (!req.ok()) return Die(std::string(req.status().message()));
  std::ofstream out(args["--out"], std::ios::binary);
  out << *req;
  return out ? 0 : Die("cannot write " + args["--out"]);
}

// scep-probe: the device side of one SCEP exchange, for integration tests.
// HTTP is left to the caller (the tests use Python's urllib):
//   scep-probe build --ra ra.pem --key dev.key --cert dev.pem --cn NAME
//       --challenge C --tid T --nonce HEX [--cipher aes-128-cbc]
//       [--digest sha256] [--san DNS] --out req.der
//     (creates dev.key / dev.pem when missing, reuses them otherwise)
//   scep-probe open --key dev.key --cert dev.pem --in rep.der [--certs-out f.pem]
//     prints one JSON object describing the CertRep.

#include <openssl/pem.h>
#include <openssl/provider.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "absl/strings/escaping.h"
#include "common/codec/client.h"
#include "common/codec/csr.h"
#include "common/crypto/pem.h"

namespace {

using scep::crypto::BioPtr;

std::map<std::string, std::string> ParseArgs(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) == 0) args[k.substr(2)] = argv[i + 1];
  }
  return args;
}

bool Exists(const std::string& path) { return std::ifstream(path).good(); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Die(const std::string& what) {
  std::cerr << "scep-probe: " << what << std::endl;
  return 2;
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

int Build(std::map<std::string, std::string>& a) {
  scep::crypto::EvpPkeyPtr key;
  scep::crypto::X509Ptr cert;
  if (Exists(a["key"])) {
    auto k = scep::crypto::LoadPrivateKeyFile(a["key"]);
    auto c = scep::crypto::LoadCertificateFile(a["cert"]);
    if (!k.ok() || !c.ok()) return Die("cannot load device key/cert");
    key = *std::move(k);
    cert = *std::move(c);
  } else {
    key.reset(EVP_RSA_gen(2048));
    auto c = scep::codec::SelfSignedCertificate(key.get(), a["cn"]);
    if (!c.ok()) return Die(std::string(c.status().message()));
    cert = *std::move(c);
    BioPtr kb(BIO_new_file(a["key"].c_str(), "w"));
    BioPtr cb(BIO_new_file(a["cert"].c_str(), "w"));
    if (!kb || !cb ||
        !PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) ||
        !PEM_write_bio_X509(cb.get(), cert.get())) {
      return Die("cannot write device key/cert");
    }
  }
  auto ra = scep::crypto::LoadCertificateFile(a["ra"]);
  if (!ra.ok()) return Die("cannot load RA certificate");
  scep::codec::CsrSpec csr_spec;
  csr_spec.common_name = a["cn"];
  csr_spec.challenge = a["challenge"];
  if (!a["san"].empty()) csr_spec.dns_sans = {a["san"]};
  auto csr = scep::codec::BuildCsr(key.get(), csr_spec);
  if (!csr.ok()) return Die(std::string(csr.status().message()));
  scep::codec::PkcsReqSpec spec;
  spec.transaction_id = a["tid"];
  std::string nonce = absl::HexStringToBytes(a["nonce"]);
  spec.sender_nonce = nonce;
  if (!a["cipher"].empty()) spec.cipher = a["cipher"];
  if (!a["digest"].empty()) spec.digest = a["digest"];
  auto der = scep::codec::BuildPkcsReq(*csr, cert.get(), key.get(), ra->get(), spec);
  if (!der.ok()) return Die(std::string(der.status().message()));
  std::ofstream(a["out"], std::ios::binary) << *der;
  return 0;
}

int Open(std::map<std::string, std::string>& a) {
  auto key = scep::crypto::LoadPrivateKeyFile(a["key"]);
  auto cert = scep::crypto::LoadCertificateFile(a["cert"]);
  if (!key.ok() || !cert.ok()) return Die("cannot load device key/cert");
  auto rep = scep::codec::OpenCertRep(ReadAll(a["in"]), cert->get(), key->get());
  if (!rep.ok()) return Die(std::string(rep.status().message()));
  const auto& attrs = rep->message.attributes;
  std::cout << "{\"pkiStatus\": "
            << (attrs.pki_status ? static_cast<int>(*attrs.pki_status) : -1)
            << ", \"failInfo\": "
            << (attrs.fail_info ? static_cast<int>(*attrs.fail_info) : -1)
            << ", \"failInfoText\": \"" << JsonEscape(attrs.fail_info_text.value_or(""))
            << "\", \"transactionID\": \"" << JsonEscape(attrs.transaction_id)
            << "\", \"recipientNonce\": \""
            << absl::BytesToHexString(attrs.recipient_nonce.value_or(""))
            << "\", \"senderNonce\": \"" << absl::BytesToHexString(attrs.sender_nonce)
            << "\", \"digest\": \"" << rep->message.digest
            << "\", \"certificates\": " << rep->certificates.size() << "}"
            << std::endl;
  if (!a["certs-out"].empty()) {
    BioPtr out(BIO_new_file(a["certs-out"].c_str(), "w"));
    for (const auto& c : rep->certificates) PEM_write_bio_X509(out.get(), c.get());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  OSSL_PROVIDER_load(nullptr, "legacy");
  OSSL_PROVIDER_load(nullptr, "default");
  if (argc < 2) return Die("usage: scep-probe build|open --flag value ...");
  auto args = ParseArgs(argc, argv);
  std::string verb = argv[1];
  if (verb == "build") return Build(args);
  if (verb == "open") return Open(args);
  return Die("unknown verb " + verb);
}

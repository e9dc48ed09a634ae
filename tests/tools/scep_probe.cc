// scep-probe: the device side of one SCEP exchange, for integration tests.
// HTTP is left to the caller (the tests use Python's urllib):
//   scep-probe build --ra ra.pem --key dev.key --cert dev.pem --cn NAME
//       --challenge C --tid T --nonce HEX [--cipher aes-128-cbc]
//       [--digest sha256] [--san DNS] --out req.der
//     (creates dev.key / dev.pem when missing, reuses them otherwise)
//       [--type pkcsreq|renewal|certpoll|getcert|getcrl] [--oaep 1]
//       [--key-type rsa|ec] [--ca ca.pem] [--target cert.pem]
//       [--break-csr-signature 1]
//     renewal signs with --cert/--key (an issued certificate) and requests a
//     new certificate for the same subject (new key in --new-key when given);
//     certpoll/getcert/getcrl name --target (issuer from --ca).
//     --break-csr-signature flips a bit of the CSR's self-signature; the
//     message itself stays properly signed.
//   scep-probe open --key dev.key --cert dev.pem --in rep.der
//       [--certs-out f.pem] [--crl-out f.pem]
//     prints one JSON object describing the CertRep.
//   scep-probe revoke --redis-port P --target cert.pem [--reason N]
//     the revocation test hook: marks the certificate revoked in the index.
//   scep-probe hold|reject --redis-port P --tid T [--profile default]
//     approval test hooks until the admin API exists: `hold` records a
//     transaction as awaiting approval (pending), `reject` rejects it.

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
#include "common/codec/envelope.h"
#include "common/codec/csr.h"
#include "common/codec/identifiers.h"
#include "common/crypto/pem.h"
#include "common/crypto/providers.h"
#include "common/redis/redis_certificate_index.h"
#include "common/redis/redis_enrollment_store.h"

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

using scep::codec::MessageType;

MessageType TypeOf(const std::string& type) {
  if (type == "renewal") return MessageType::kRenewalReq;
  if (type == "certpoll") return MessageType::kCertPoll;
  if (type == "getcert") return MessageType::kGetCert;
  if (type == "getcrl") return MessageType::kGetCrl;
  return MessageType::kPkcsReq;
}

// The pkcsPKIEnvelope content for the requested message type.
absl::StatusOr<std::string> Content(std::map<std::string, std::string>& a,
                                    EVP_PKEY* key, X509* cert) {
  MessageType type = TypeOf(a["type"]);
  if (type == MessageType::kPkcsReq || type == MessageType::kRenewalReq) {
    scep::codec::CsrSpec csr_spec;
    csr_spec.common_name = a["cn"];
    csr_spec.challenge = a["challenge"];
    if (!a["san"].empty()) csr_spec.dns_sans = {a["san"]};
    // --string-type bmp: CN and challengePassword as BMPString, as
    // Windows' CryptoAPI writes text.
    if (a["string-type"] == "bmp") {
      csr_spec.common_name_type = V_ASN1_BMPSTRING;
      csr_spec.challenge_type = V_ASN1_BMPSTRING;
    } else if (!a["string-type"].empty()) {
      return absl::InvalidArgumentError("--string-type: only bmp");
    }
    if (type == MessageType::kPkcsReq) return scep::codec::BuildCsr(key, csr_spec);
    // Renewal: same subject as the current certificate, maybe a new key.
    scep::crypto::EvpPkeyPtr new_key;
    if (!a["new-key"].empty()) {
      new_key.reset(EVP_RSA_gen(2048));
      BioPtr kb(BIO_new_file(a["new-key"].c_str(), "w"));
      PEM_write_bio_PrivateKey(kb.get(), new_key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    }
    scep::crypto::X509ReqPtr req(X509_REQ_new());
    X509_REQ_set_subject_name(req.get(), X509_get_subject_name(cert));
    EVP_PKEY* csr_key = new_key ? new_key.get() : key;
    X509_REQ_set_pubkey(req.get(), csr_key);
    if (X509_REQ_sign(req.get(), csr_key, EVP_sha256()) <= 0) {
      return absl::InternalError("signing renewal CSR");
    }
    unsigned char* out = nullptr;
    int len = i2d_X509_REQ(req.get(), &out);
    std::string der(reinterpret_cast<char*>(out), len);
    OPENSSL_free(out);
    return der;
  }
  auto ca = scep::crypto::LoadCertificateFile(a["ca"]);
  auto target = scep::crypto::LoadCertificateFile(a["target"]);
  if (!ca.ok() || !target.ok()) return absl::InvalidArgumentError("need --ca and --target");
  if (type == MessageType::kCertPoll) {
    return scep::codec::EncodeIssuerAndSubject(X509_get_subject_name(ca->get()),
                                               X509_get_subject_name(target->get()));
  }
  return scep::codec::EncodeIssuerAndSerial(X509_get_subject_name(ca->get()),
                                            X509_get0_serialNumber(target->get()));
}

int Revoke(std::map<std::string, std::string>& a) {
  scep::redis::RedisOptions options;
  options.port = std::atoi(a["redis-port"].c_str());
  auto index = scep::redis::RedisCertificateIndex::New(options);
  auto target = scep::crypto::LoadCertificateFile(a["target"]);
  if (!index.ok() || !target.ok()) return Die("need --redis-port and --target");
  int reason = a["reason"].empty() ? 0 : std::atoi(a["reason"].c_str());
  absl::Status s = (*index)
                       ->Revoke(scep::codec::SerialHex(X509_get0_serialNumber(target->get())),
                                reason, absl::Now())
                       .status();
  if (!s.ok()) return Die(std::string(s.message()));
  return 0;
}

int Approval(const std::string& verb, std::map<std::string, std::string>& a) {
  scep::redis::RedisOptions options;
  options.port = std::atoi(a["redis-port"].c_str());
  auto store = scep::redis::RedisEnrollmentStore::New(options);
  if (!store.ok() || a["tid"].empty()) return Die("need --redis-port and --tid");
  const std::string profile = a["profile"].empty() ? "default" : a["profile"];
  absl::Status s;
  if (verb == "hold") {
    auto txn = (*store)->ClaimTransaction(profile, a["tid"], "held-for-approval",
                                          absl::Hours(1));
    s = txn.status();
  } else {
    s = (*store)->RejectTransaction(profile, a["tid"], absl::Hours(1));
  }
  if (!s.ok()) return Die(std::string(s.message()));
  return 0;
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
    key.reset(a["key-type"] == "ec" ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048));
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
  auto content = Content(a, key.get(), cert.get());
  if (!content.ok()) return Die(std::string(content.status().message()));
  // The signature BIT STRING ends the CSR.
  if (!a["break-csr-signature"].empty()) (*content)[content->size() - 2] ^= 0x40;
  scep::codec::PkcsReqSpec spec;
  spec.transaction_id = a["tid"];
  std::string nonce = absl::HexStringToBytes(a["nonce"]);
  spec.sender_nonce = nonce;
  if (!a["cipher"].empty()) spec.cipher = a["cipher"];
  if (!a["digest"].empty()) spec.digest = a["digest"];
  spec.rsa_oaep = !a["oaep"].empty();
  spec.ber_envelope = !a["ber-envelope"].empty();  // as jscep / Apple write it
  spec.message_type = TypeOf(a["type"]);
  auto der = scep::codec::BuildPkcsReq(*content, cert.get(), key.get(), ra->get(), spec);
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
            << "\", \"digest\": \"" << rep->message.digest << "\", \"cipher\": \""
            << (rep->message.content.empty()
                    ? std::string()
                    : scep::codec::EnvelopeCipher(rep->message.content).value_or("?"))
            << "\", \"certificates\": " << rep->certificates.size() << "}"
            << std::endl;
  if (!a["crl-out"].empty() && !rep->payload.empty()) {
    auto crl = scep::codec::ParseDegenerateCrl(rep->payload);
    if (!crl.ok()) return Die(std::string(crl.status().message()));
    BioPtr out(BIO_new_file(a["crl-out"].c_str(), "w"));
    PEM_write_bio_X509_CRL(out.get(), crl->get());
  }
  if (!a["certs-out"].empty()) {
    BioPtr out(BIO_new_file(a["certs-out"].c_str(), "w"));
    for (const auto& c : rep->certificates) PEM_write_bio_X509(out.get(), c.get());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  scep::crypto::LegacyProviders providers;
  if (argc < 2) return Die("usage: scep-probe build|open --flag value ...");
  auto args = ParseArgs(argc, argv);
  std::string verb = argv[1];
  if (verb == "build") return Build(args);
  if (verb == "open") return Open(args);
  if (verb == "revoke") return Revoke(args);
  if (verb == "hold" || verb == "reject") return Approval(verb, args);
  return Die("unknown verb " + verb);
}

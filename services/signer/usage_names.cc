#include "services/signer/usage_names.h"

#include <openssl/objects.h>

#include "common/crypto/ssl_ptr.h"

namespace scep::signer {
namespace {

struct NamedBit {
  const char* name;
  uint32_t bit;
};
constexpr NamedBit kKeyUsages[] = {
    {"digitalSignature", KU_DIGITAL_SIGNATURE}, {"nonRepudiation", KU_NON_REPUDIATION},
    {"keyEncipherment", KU_KEY_ENCIPHERMENT},   {"dataEncipherment", KU_DATA_ENCIPHERMENT},
    {"keyAgreement", KU_KEY_AGREEMENT},         {"keyCertSign", KU_KEY_CERT_SIGN},
    {"cRLSign", KU_CRL_SIGN},                   {"encipherOnly", KU_ENCIPHER_ONLY},
    {"decipherOnly", KU_DECIPHER_ONLY}};
constexpr NamedBit kSanTypes[] = {
    {"dns", kSanDns}, {"email", kSanEmail}, {"upn", kSanUpn}, {"uri", kSanUri}, {"ip", kSanIp}};

template <size_t N>
std::optional<uint32_t> BitOf(const NamedBit (&table)[N], absl::string_view name) {
  for (const NamedBit& entry : table) {
    if (name == entry.name) return entry.bit;
  }
  return std::nullopt;
}

}  // namespace

std::optional<uint32_t> KeyUsageBit(absl::string_view name) { return BitOf(kKeyUsages, name); }

std::vector<std::string> KeyUsageNamesOf(uint32_t bits) {
  std::vector<std::string> names;
  for (const NamedBit& usage : kKeyUsages) {
    if ((bits & usage.bit) != 0) names.push_back(usage.name);
  }
  return names;
}

uint32_t KeyUsageOf(X509* cert) {
  crypto::Asn1BitStringPtr bits(
      static_cast<ASN1_BIT_STRING*>(X509_get_ext_d2i(cert, NID_key_usage, nullptr, nullptr)));
  if (bits == nullptr) return 0;
  // The first octet holds digitalSignature..encipherOnly, the second
  // decipherOnly (KU_DECIPHER_ONLY 0x8000), as OpenSSL numbers them.
  uint32_t usage = bits->length > 0 ? bits->data[0] : 0;
  if (bits->length > 1) usage |= static_cast<uint32_t>(bits->data[1]) << 8;
  return usage;
}

std::optional<uint32_t> SanTypeBit(absl::string_view name) { return BitOf(kSanTypes, name); }

const char* SanTypeName(uint32_t bit) {
  for (const NamedBit& type : kSanTypes) {
    if (type.bit == bit) return type.name;
  }
  return "other";
}

std::string OidName(const std::string& dotted) {
  crypto::Asn1ObjectPtr obj(OBJ_txt2obj(dotted.c_str(), 1));
  const int nid = obj == nullptr ? NID_undef : OBJ_obj2nid(obj.get());
  const char* sn = nid == NID_undef ? nullptr : OBJ_nid2sn(nid);
  return sn != nullptr ? std::string(sn) : dotted;
}

}  // namespace scep::signer

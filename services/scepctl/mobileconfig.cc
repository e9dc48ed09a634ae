#include "services/scepctl/mobileconfig.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace scep::scepctl {
namespace {

std::string Xml(absl::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Key(absl::string_view key) { return absl::StrCat("<key>", Xml(key), "</key>"); }
std::string Str(absl::string_view value) {
  return absl::StrCat("<string>", Xml(value), "</string>");
}
std::string Int(int64_t value) { return absl::StrCat("<integer>", value, "</integer>"); }

// RFC 4122 version 4, upper case as Apple's tools write it.
std::string NewUuid() {
  unsigned char b[16] = {};
  if (RAND_bytes(b, sizeof(b)) != 1) return "00000000-0000-4000-8000-000000000000";
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  return absl::StrFormat(
      "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X", b[0],
      b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
      b[14], b[15]);
}

std::string SubjectValue(const std::string& value, const MobileconfigOptions& options) {
  if (value.size() > 2 && value.front() == '{' && value.back() == '}') {
    const std::string attr = value.substr(1, value.size() - 2);
    auto it = options.variables.find(attr);
    return it != options.variables.end() ? it->second : "$" + attr;
  }
  return value;
}

}  // namespace

int AppleKeyUsage(const admin::v1::Profile& profile) {
  if (profile.key_usage().empty()) return 1 | 4;
  int usage = 0;
  for (const std::string& ku : profile.key_usage()) {
    if (ku == "digitalSignature" || ku == "nonRepudiation") usage |= 1;
    if (ku == "keyEncipherment" || ku == "dataEncipherment" || ku == "keyAgreement") {
      usage |= 4;
    }
  }
  return usage;
}

absl::StatusOr<std::string> BuildMobileconfig(const admin::v1::Profile& profile,
                                              const MobileconfigOptions& options) {
  if (options.url.empty()) return absl::InvalidArgumentError("--url is required");
  if (profile.ca_certificate().empty()) {
    return absl::InvalidArgumentError("the server sent no CA certificate");
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(profile.ca_certificate().data(), profile.ca_certificate().size(), digest,
                 &digest_len, EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("SHA-256 of the CA certificate failed");
  }
  std::string subject = "<array>";
  if (profile.subject().empty()) {
    absl::StrAppend(&subject, "<array><array>", Str("CN"),
                    Str(SubjectValue("{CN}", options)), "</array></array>");
  }
  for (const admin::v1::SubjectRdn& rdn : profile.subject()) {
    absl::StrAppend(&subject, "<array><array>", Str(rdn.type()),
                    Str(SubjectValue(rdn.value(), options)), "</array></array>");
  }
  subject += "</array>";

  const std::string id = absl::StrCat(options.identifier_prefix, ".", profile.name());
  std::string scep = absl::StrCat(
      "<dict>", Key("URL"), Str(options.url), Key("Name"), Str(profile.name()),
      Key("Subject"), subject);
  if (!options.challenge.empty()) absl::StrAppend(&scep, Key("Challenge"), Str(options.challenge));
  absl::StrAppend(
      &scep, Key("Keysize"), Int(std::max(2048, profile.min_rsa_bits())), Key("Key Type"),
      Str("RSA"), Key("Key Usage"), Int(AppleKeyUsage(profile)), Key("CAFingerprint"),
      "<data>",
      absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(digest), digest_len)),
      "</data>", Key("Retries"), Int(3), Key("RetryDelay"), Int(10), "</dict>");

  const std::string display =
      profile.template_name().empty() ? profile.name() : profile.template_name();
  std::string payload = absl::StrCat(
      "<dict>", Key("PayloadContent"), scep, Key("PayloadDescription"),
      Str(absl::StrCat("Requests a certificate over SCEP (profile ", profile.name(), ")")),
      Key("PayloadDisplayName"), Str(absl::StrCat("SCEP: ", display)),
      Key("PayloadIdentifier"), Str(id + ".scep"), Key("PayloadType"),
      Str("com.apple.security.scep"), Key("PayloadUUID"), Str(NewUuid()),
      Key("PayloadVersion"), Int(1), "</dict>");
  // A CA under another root: the root as a trust payload too, so the
  // device trusts the chain the SCEP payload's certificate ends in.
  if (!profile.root_certificate().empty()) {
    absl::StrAppend(
        &payload, "<dict>", Key("PayloadCertificateFileName"), Str("root.cer"),
        Key("PayloadContent"), "<data>", absl::Base64Escape(profile.root_certificate()),
        "</data>", Key("PayloadDescription"), Str("The root the SCEP CA chains to"),
        Key("PayloadDisplayName"), Str(absl::StrCat("Root: ", display)),
        Key("PayloadIdentifier"), Str(id + ".root"), Key("PayloadType"),
        Str("com.apple.security.root"), Key("PayloadUUID"), Str(NewUuid()),
        Key("PayloadVersion"), Int(1), "</dict>");
  }
  return absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
      "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
      "<plist version=\"1.0\">\n<dict>",
      Key("PayloadContent"), "<array>", payload, "</array>", Key("PayloadDisplayName"),
      Str(absl::StrCat("Certificate: ", display)), Key("PayloadIdentifier"), Str(id),
      Key("PayloadType"), Str("Configuration"), Key("PayloadUUID"), Str(NewUuid()),
      Key("PayloadVersion"), Int(1), "</dict>\n</plist>\n");
}

}  // namespace scep::scepctl

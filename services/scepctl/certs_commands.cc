#include "services/scepctl/certs_commands.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "common/codec/identifiers.h"

namespace scep::scepctl::internal {
namespace {

namespace v1 = admin::v1;

absl::string_view StatusName(v1::CertificateStatus status) {
  return absl::StripPrefix(v1::CertificateStatus_Name(status), "CERTIFICATE_STATUS_");
}

}  // namespace

int CertsList(CommandContext& context) {
  const CliArgs& args = context.args();
  v1::ListCertificatesRequest request;
  request.set_profile(args.GetOr("profile", ""));
  request.set_subject_contains(args.GetOr("subject", ""));
  if (std::optional<std::string> status = args.Get("status")) {
    v1::CertificateStatus value;
    if (!v1::CertificateStatus_Parse("CERTIFICATE_STATUS_" + absl::AsciiStrToUpper(*status),
                                     &value)) {
      context.err() << "scepctl: --status must be valid, revoked or expired\n";
      return kExitUsage;
    }
    request.set_status(value);
  }
  std::optional<int> page_size = context.PageSize();
  if (!page_size.has_value()) return kExitUsage;
  request.set_page_size(*page_size);
  request.set_page_token(args.GetOr("page-token", ""));
  v1::ListCertificatesResponse all;
  do {
    v1::ListCertificatesResponse response;
    if (!context.Call(&AdminStub::ListCertificates, request, &response)) return kExitFailed;
    for (v1::Certificate& cert : *response.mutable_certificates()) {
      *all.add_certificates() = std::move(cert);
    }
    all.set_next_page_token(response.next_page_token());
    request.set_page_token(response.next_page_token());
  } while (args.Has("all") && !request.page_token().empty());
  return context.Reply(all, [&](std::ostream& out, const v1::ListCertificatesResponse& list) {
    out << "SERIAL\tPROFILE\tSTATUS\tNOT_AFTER\tSUBJECT\n";
    for (const v1::Certificate& c : list.certificates()) {
      out << c.serial_hex() << "\t" << c.profile() << "\t" << StatusName(c.status()) << "\t"
          << Date(c.not_after_unix()) << "\t" << c.subject() << "\n";
    }
    if (!list.next_page_token().empty()) {
      context.err() << "more: --page-token " << list.next_page_token() << "\n";
    }
  });
}

int CertsShow(CommandContext& context) {
  std::optional<std::string> serial = context.Required("serial");
  if (context.missing()) return kExitUsage;
  v1::GetCertificateRequest request;
  request.set_serial_hex(codec::SerialHexFromText(*serial));
  v1::Certificate cert;
  if (!context.Call(&AdminStub::GetCertificate, request, &cert)) return kExitFailed;
  // --out and --pem ask for the certificate itself and win over --json.
  const CliArgs& args = context.args();
  if (args.Has("out")) return context.Output(args.GetOr("out", ""), Pem(cert.der(), "CERTIFICATE"));
  if (args.Has("pem")) return context.Output("", Pem(cert.der(), "CERTIFICATE"));
  return context.Reply(cert, [](std::ostream& out, const v1::Certificate& c) {
    out << "serial:      " << c.serial_hex() << "\n"
        << "profile:     " << c.profile() << "\n"
        << "subject:     " << c.subject() << "\n"
        << "issuer:      " << c.issuer() << "\n"
        << "issuing CA:  " << (c.issuing_ca().empty() ? "(default)" : c.issuing_ca()) << "\n"
        << "not before:  " << Date(c.not_before_unix()) << "\n"
        << "not after:   " << Date(c.not_after_unix()) << "\n"
        << "status:      " << StatusName(c.status()) << "\n"
        << "sha256:      " << c.sha256_fingerprint() << "\n";
    if (c.status() == v1::CERTIFICATE_STATUS_REVOKED) {
      out << "revoked:     " << Date(c.revoked_unix()) << " (reason " << c.revocation_reason()
          << ")\n";
    }
  });
}

int CertsRevoke(CommandContext& context) {
  const CliArgs& args = context.args();
  v1::RevokeCertificateRequest request;
  // --cert FILE: a certificate the index lost (Redis did), sent as it is
  // (DER or PEM) for the server to check against the profile's CA.
  if (args.Has("cert")) {
    const std::string path = args.GetOr("cert", "");
    if (!ReadFile(path, request.mutable_certificate())) {
      context.err() << "scepctl: cannot read " << path << "\n";
      return kExitUsage;
    }
    request.set_profile(args.GetOr("profile", ""));
    request.set_serial_hex(codec::SerialHexFromText(args.GetOr("serial", "")));
  } else {
    std::optional<std::string> serial = context.Required("serial");
    if (context.missing()) return kExitUsage;
    request.set_serial_hex(codec::SerialHexFromText(*serial));
  }
  std::optional<int> reason = ParseReason(args.GetOr("reason", "0"));
  if (!reason.has_value()) {
    context.err() << "scepctl: unknown --reason (see scepctl certs revoke --help)\n";
    return kExitUsage;
  }
  request.set_reason(*reason);
  return context.CallAndReply(
      &AdminStub::RevokeCertificate, request,
      [&](std::ostream& out, const v1::RevokeCertificateResponse& r) {
        if (!r.already_revoked()) {
          out << "revoked " << r.serial_hex() << "\n";
          return;
        }
        out << "already revoked " << r.serial_hex() << " at " << Date(r.revoked_unix());
        if (r.reason_changed()) {
          out << "; reason now " << r.revocation_reason() << " (keyCompromise)\n";
        } else if (r.revocation_reason() != *reason) {
          out << " (reason " << r.revocation_reason()
              << "), kept: only keyCompromise replaces a reason\n";
        } else {
          out << " (reason " << r.revocation_reason() << ")\n";
        }
      });
}

// The CRL and the enrolled certificate are files first: --json applies
// only when they go to stdout.

int Crl(CommandContext& context) {
  const CliArgs& args = context.args();
  v1::GetCRLRequest request;
  request.set_profile(args.GetOr("profile", ""));
  v1::GetCRLResponse response;
  if (!context.Call(&AdminStub::GetCRL, request, &response)) return kExitFailed;
  if (context.json() && !args.Has("out")) {
    context.PrintJson(response);
    return kExitOk;
  }
  return context.Output(args.GetOr("out", ""),
                        args.Has("pem") ? Pem(response.crl(), "X509 CRL") : response.crl());
}

int Enroll(CommandContext& context) {
  std::optional<std::string> profile = context.Required("profile");
  std::optional<std::string> csr_path = context.Required("csr");
  if (context.missing()) return kExitUsage;
  std::string data;
  if (!ReadFile(*csr_path, &data)) {
    context.err() << "scepctl: cannot read " << *csr_path << "\n";
    return kExitUsage;
  }
  absl::StatusOr<std::string> der = CsrDer(data);
  if (!der.ok()) {
    context.err() << "scepctl: " << *csr_path << ": " << der.status().message() << "\n";
    return kExitUsage;
  }
  v1::EnrollRequest request;
  request.set_profile(*profile);
  request.set_csr(*der);
  request.set_request_id(context.args().GetOr("request-id", ""));
  v1::EnrollResponse response;
  if (!context.Call(&AdminStub::Enroll, request, &response)) return kExitFailed;
  if (context.json() && !context.args().Has("out")) {
    context.PrintJson(response);
    return kExitOk;
  }
  return context.Output(context.args().GetOr("out", ""),
                        Pem(response.certificate(), "CERTIFICATE"));
}

}  // namespace scep::scepctl::internal

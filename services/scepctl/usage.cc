#include "services/scepctl/usage.h"

#include <map>

namespace scep::scepctl {
namespace {

const std::map<std::string, std::string>& UsageTexts() {
  static const auto* texts = new std::map<std::string, std::string>{
      {"", R"(usage: scepctl [global flags] COMMAND [flags]

Commands (each takes --help):
  challenge create   mint a one-time challenge (printed alone on stdout)
  requests list      requests held for manual approval
  requests approve   approve one: the device's next CertPoll gets its certificate
  requests reject    reject one: the device's next CertPoll gets FAILURE
  notices list       issuance notices given up (receiver refused them, too old)
  notices requeue    send given-up notices again, once the receiver is fixed
  certs list         issued certificates
  certs show         one certificate (PEM with --pem or --out)
  certs revoke       revoke a certificate (it appears on the next CRL)
  certs restore      record again certificates Redis lost, from the audit trail
  crl                the current CRL (DER; PEM with --pem)
  crl restore        record again the revocations of a CRL Redis lost
  enroll             issue a certificate for a CSR under a profile
  profiles list|show the configured profiles
  mobileconfig       an Apple .mobileconfig with a SCEP payload for a profile

Global flags:
  --server HOST:PORT    admin API (default 127.0.0.1:9443, env SCEP_ADMIN_SERVER)
  --token-file FILE     bearer token (else env SCEP_ADMIN_TOKEN)
  --tls-ca FILE         use TLS, trusting this CA for the server certificate
  --tls-cert FILE --tls-key FILE   client certificate (mutual TLS)
  --tls-server-name N   name to verify instead of the server's host
  --insecure            send the token in clear to a server that is not
                        127.0.0.1, ::1 or localhost (without --tls-ca such
                        a call is refused, exit status 2: use it only with a
                        TLS-terminating proxy or a tunnel on the path)
  --timeout 30s         per call
  --json                machine-readable output: one JSON object, the admin
                        API's answer in proto3's JSON mapping (field names
                        lowerCamelCase; every field present, 0, false, "" and
                        [] included; 64-bit integers such as the *Unix times
                        as strings, e.g. "expiresUnix":"1767225600"; enums
                        by name; bytes in base64)

Flag names are hyphenated (page-size, not page_size). A flag the command
does not take, or a word after it that no flag takes (quote values with
spaces), is refused (exit status 2), never ignored.
)"},
      {"challenge create", R"(usage: scepctl challenge create --profile P [--subject S] [--ttl 1h]
Mints a one-time challenge for profile P (which must use one-time
challenges), optionally bound to subject S (e.g. "CN=device-1", or
"CN=device-1, O=Example Fleet": attributes in any order, case and spacing
do not matter; the request's subject or the certificate's), valid for
--ttl (default 1h, at most 30d). Prints the challenge alone on stdout
(with --json: {"challenge":"...","expiresUnix":"1767225600"}, the expiry
a string of Unix seconds).
)"},
      {"requests list", R"(usage: scepctl requests list [--profile P] [--status REQUESTED|APPROVED|REJECTED|ISSUED]
                     [--page-size N] [--page-token T] [--all]
Lists requests held for manual approval, oldest first. --all follows every page.
TRANSACTION_ID is printed as the device sent it, or as hex:HEX when it has
unprintable bytes; with --json, transactionId is base64 (requests approve
and reject take it back as b64:BASE64).
)"},
      {"requests approve", R"(usage: scepctl requests approve --profile P --tid TRANSACTION_ID
Approves and issues. Run it again after an UNAVAILABLE answer to retry issuance.
TRANSACTION_ID as requests list prints it (the ID, or hex:HEX), or
b64:BASE64 with the transactionId of requests list --json.
)"},
      {"requests reject", R"(usage: scepctl requests reject --profile P --tid TRANSACTION_ID [--reason TEXT]
TRANSACTION_ID as for requests approve (the ID, hex:HEX or b64:BASE64).
)"},
      {"notices list", R"(usage: scepctl notices list [--profile P] [--limit N]
Issuance notices the gateways gave up on, newest first (default 100, at
most 10000): their receiver refused them (HTTP 4xx other than 408/429) or
they were not delivered within --notice_max_age_hours. RESULT is refused or
expired, REASON what the gateway saw. The newest 10000 or so are kept.
)"},
      {"notices requeue", R"(usage: scepctl notices requeue --profile P
       scepctl notices requeue --id ID [--id ID ...]
Queues given-up notices again once their receiver is fixed: every one of
profile P (oldest first), or those named by ID (from notices list). They
are delivered again with their notice_id (receivers deduplicate by it),
within the queue's bound; exit status 0 also when some stay listed (said
on standard error).
)"},
      {"certs list", R"(usage: scepctl certs list [--profile P] [--subject TEXT] [--status valid|revoked|expired]
                  [--page-size N] [--page-token T] [--all]
--subject keeps certificates whose subject contains TEXT, ASCII letters in
any case: as typed ("Jürgen", "CN=laptop-7, O=Example Fleet") or as the
table prints it ("CN=J\C3\BCrgen"). --all follows every page.
)"},
      {"certs show", R"(usage: scepctl certs show --serial HEX [--pem] [--out FILE]
--out writes the certificate (PEM) to FILE; --pem prints it. HEX as certs
list prints it, or as openssl or a certificate viewer shows it
("4A:BC:01", "4a bc 01").
)"},
      {"certs revoke", R"(usage: scepctl certs revoke --serial HEX [--reason N|NAME]
       scepctl certs revoke --cert FILE [--profile P] [--reason N|NAME]
Reasons (RFC 5280): unspecified(0) keyCompromise(1) cACompromise(2)
affiliationChanged(3) superseded(4) cessationOfOperation(5)
certificateHold(6) privilegeWithdrawn(9) aACompromise(10). Default 0.
HEX as for certs show ("4A:BC:01" too).
--cert gives the certificate itself (PEM or DER), for one the index no
longer has (Redis lost it): it must be signed by the CA of profile P
(default: the default profile's); it is recorded again and revoked.
A certificate revoked before is left as it was and said so, with exit
status 0: already revoked SERIAL at DATE (reason N). Its revocation time
and reason are kept, except that keyCompromise replaces another reason (a
compromise found out after revoking, e.g. as superseded; the next CRL and
OCSP answers carry it).
)"},
      {"certs restore", R"(usage: scepctl certs restore --audit FILE [--audit FILE ...] [--profile P]
Disaster recovery, when Redis lost the certificate index: FILE is a
signer's issuance audit trail (--audit_log, or its standard error) written
with --audit_certificates; one --audit per signer pod's trail or rotated
file, "-" reads standard input (kubectl logs scep-signer-0 | scepctl certs
restore --audit -). Each certificate_issued line's certificate is
recorded again under the profile the line names (P for lines naming none;
default: the default profile) once the signature of that profile's CA
checks out, so GetCert, certs list/show, revocation by serial and
RenewalReq know it again; one the revocation list has (restore revocations
first: crl restore) is recorded revoked. Certificates the index has and
long-expired ones are left out; running it twice is harmless. A refused certificate is reported by its line in FILE
and makes the exit status 1.
)"},
      {"crl", R"(usage: scepctl crl [--profile P] [--out FILE] [--pem]
Writes the current CRL (DER, or PEM with --pem) to FILE or stdout: that of
profile P's issuing CA (default: the default profile's).
)"},
      {"crl restore", R"(usage: scepctl crl restore --in FILE [--profile P]
Disaster recovery, when Redis lost revocations (no AOF persistence, a
restore from an older backup): FILE is a CRL the CA of profile P (default:
the default profile's) signed, DER or PEM, best the last one published
(relying parties, proxies and CDNs keep copies). Every entry the
revocation list lacks is recorded again and the cRLNumber moves past the
file's, so the next CRL lists them all. Revocations already recorded are
left as they are; running it twice is harmless.
)"},
      {"enroll", R"(usage: scepctl enroll --profile P --csr FILE [--request-id ID] [--out FILE]
Issues a certificate for the PKCS#10 request in FILE (PEM or DER) under
profile P's policy; prints (or writes) it as PEM. With --request-id (an
idempotency key, e.g. a UUID), running the same command again prints the
certificate the first run issued instead of issuing another. (--request_id,
its former spelling, is read too.)
)"},
      {"profiles list", R"(usage: scepctl profiles list
With --json, caCertificate and rootCertificate are left empty (mobileconfig
or GetCACert hand out the certificates).
)"},
      {"profiles show", R"(usage: scepctl profiles show --profile P
With --json, as profiles list.
)"},
      {"mobileconfig", R"(usage: scepctl mobileconfig --profile P --url URL [--challenge-file F]
                    [--var ATTR=VALUE ...] [--identifier com.example.scep] [--out FILE]
Prints an Apple configuration profile (.mobileconfig, XML plist) whose
com.apple.security.scep payload enrolls against URL under profile P:
subject from the profile's template ("{CN}" references take --var CN=...,
else the placeholder $CN), key size, key usage, and the CA's SHA-256
fingerprint. The challenge it carries comes from --challenge-file F
(- reads stdin), else $SCEP_CHALLENGE; --challenge C still works but
warns: other users see it in ps, and the shell keeps it in its history.
--out FILE is created readable by its owner only (0600).
)"},
  };
  return *texts;
}

}  // namespace

std::string Usage(const std::string& verb) {
  auto it = UsageTexts().find(verb);
  return it != UsageTexts().end() ? it->second : UsageTexts().at("");
}

bool HasUsage(const std::string& verb) { return !verb.empty() && UsageTexts().count(verb) > 0; }

}  // namespace scep::scepctl

#include "services/provision/provision_flags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/base/status_macros.h"
#include "common/pkcs11/cert_builder.h"

namespace scep::provision {
namespace {

constexpr char kDefaultModule[] = "/usr/lib/softhsm/libsofthsm2.so";

absl::StatusOr<int> ParseDays(absl::string_view flag, absl::string_view value) {
  int days = 0;
  if (!absl::SimpleAtoi(value, &days) || days < 1 || days > pkcs11::kMaxValidityDays) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " needs a number of days from 1 to ",
                                                   pkcs11::kMaxValidityDays, ", got '", value,
                                                   "'"));
  }
  return days;
}

}  // namespace

std::string UsageText() {
  return absl::StrCat(
      "Usage: SCEP_HSM_PIN=... SCEP_HSM_SO_PIN=... scep-provision [flags]\n"
      "\n"
      "Initialises a PKCS#11 token, generates the SCEP CA key (\"scep-ca\")\n"
      "and RA key (\"scep-ra\") inside it, and writes the self-signed CA\n"
      "certificate and the RA certificate it issues as <out-dir>/ca.pem and\n"
      "<out-dir>/ra.pem.\n"
      "\n"
      "Flags:\n"
      "  --module PATH        PKCS#11 module (default ", kDefaultModule, ")\n"
      "  --token-label LABEL  token to create (required, at most 32 bytes)\n"
      "  --ca-key TYPE        rsa:2048 (default), rsa:3072, rsa:4096,\n"
      "                       ec:p256, ec:p384\n"
      "  --ra-key TYPE        rsa:2048 (default), rsa:3072, rsa:4096\n"
      "  --ca-label LABEL     CA key label, default scep-ca; another label\n"
      "                       adds a further issuing CA to the token\n"
      "  --ra-label LABEL     RA key label, default scep-ra\n"
      "  --ra-key-file FILE   the RA key as a software key in FILE (PEM,\n"
      "                       mode 0600; kept when it exists) instead of in\n"
      "                       the token: for HSMs that refuse RSA PKCS#1 v1.5\n"
      "                       decryption (scep-signer --ra_key_file)\n"
      "  --ra-token-label L   the RA key pair in token L (of --module, or of\n"
      "                       --ra-module)\n"
      "                       (initialised with the SO PIN when missing; an\n"
      "                       existing one keeps its keys) instead of the CA's\n"
      "                       token (scep-signer --ra_token_label)\n"
      "  --ra-module PATH     PKCS#11 module of --ra-token-label when it is\n"
      "                       another HSM's (scep-signer --ra_pkcs11_module)\n"
      "  --ra-pin-file FILE   user PIN of --ra-token-label from FILE, else\n"
      "                       $SCEP_RA_HSM_PIN, else the CA token's user PIN\n"
      "  --ca-subject DN      default \"CN=SCEP Dev CA\"\n"
      "  --ra-subject DN      default \"CN=SCEP Dev RA\"\n"
      "  --ca-days N          CA validity, default 3650 (at most 36600)\n"
      "  --ra-days N          RA validity, default 730 (at most --ca-days)\n"
      "  --out-dir DIR        where to write ca.pem and ra.pem (required)\n"
      "  --pin-file FILE      user PIN from FILE instead of $SCEP_HSM_PIN\n"
      "  --so-pin-file FILE   SO PIN from FILE instead of $SCEP_HSM_SO_PIN\n"
      "  --renew-ra           only renew the RA certificate: a new <out-dir>/ra.pem\n"
      "                       for the same RA key (token, --ra-token-label or\n"
      "                       --ra-key-file), issued by <out-dir>/ca.pem with the\n"
      "                       token's CA key, --ra-days but never past the CA;\n"
      "                       ca.pem (and its fingerprint) stays. Restart the\n"
      "                       signer to serve it. The old certificate is kept as\n"
      "                       <out-dir>/ra-previous.pem: the signer still accepts\n"
      "                       requests encrypted to it\n"
      "  --rollover-ra        a new RA key (--ra-key) where the RA key is, its\n"
      "                       certificate in <out-dir>/ra.pem; the old key and\n"
      "                       certificate are kept as the previous RA (key label\n"
      "                       <ra-label>.previous or <ra-key-file>-previous.pem,\n"
      "                       <out-dir>/ra-previous.pem) so devices holding the old\n"
      "                       certificate still enroll. Re-run completes an\n"
      "                       interrupted rollover. Restart the signer\n"
      "  --drop-previous-ra   remove the previous RA certificate and key once\n"
      "                       devices no longer use them (the signer's\n"
      "                       scep_signer_previous_ra_decryptions_total{ca}\n"
      "                       stays flat)\n"
      "  --ca-csr FILE        a CA under your own root, step 1: the CA key (and\n"
      "                       the RA key) in the token as usual, and a PKCS#10\n"
      "                       request for the CA key in FILE (PEM; CA:TRUE,\n"
      "                       keyCertSign, cRLSign) for your root or policy CA\n"
      "                       to sign; no certificate is written yet\n"
      "  --import-ca FILE     step 2: FILE is the CA certificate issued for that\n"
      "                       request; with --ca-chain CHAIN (PEM, its issuer\n"
      "                       first, up to the self-signed root) it is checked,\n"
      "                       the RA certificate is issued, and ca.pem,\n"
      "                       ca-chain.pem and ra.pem are written to --out-dir;\n"
      "                       the key options of step 1 again (no key is\n"
      "                       generated: a label naming none is refused)\n"
      "  --if-missing         exit 0 without changes when the token and both\n"
      "                       PEM files (and --ra-key-file) exist; reuse an existing token (and\n"
      "                       its keys) when only the PEM files are missing\n"
      "  --help               this text\n"
      "\n"
      "PINs are never accepted on the command line.\n");
}

absl::StatusOr<CommandLine> ParseCommandLine(
    const std::vector<std::string>& args) {
  CommandLine command_line;
  command_line.options.module_path = kDefaultModule;
  command_line.options.token_label.clear();
  pkcs11::ProvisionOptions& options = command_line.options;

  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      command_line.help = true;
      continue;
    }
    if (arg == "--if-missing") {
      command_line.if_missing = true;
      continue;
    }
    if (arg == "--renew-ra") {
      command_line.renew_ra = true;
      continue;
    }
    if (arg == "--rollover-ra") {
      command_line.rollover_ra = true;
      continue;
    }
    if (arg == "--drop-previous-ra") {
      command_line.drop_previous_ra = true;
      continue;
    }
    if (arg.substr(0, 2) != "--") {
      // Not echoed: a stray positional argument may well be a PIN.
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected positional argument #", i + 1));
    }
    std::string flag(arg);
    std::string value;
    bool has_value = false;
    if (size_t equals = flag.find('='); equals != std::string::npos) {
      value = flag.substr(equals + 1);
      flag.resize(equals);
      has_value = true;
    }
    if (flag == "--pin" || flag == "--so-pin" || flag == "--user-pin" ||
        flag == "--ra-pin") {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, " is not accepted: PINs on the command line leak through ps "
                "and shell history; use $SCEP_HSM_PIN / $SCEP_HSM_SO_PIN or "
                "--pin-file / --so-pin-file"));
    }
    if (!has_value) {
      if (i + 1 == args.size()) {
        return absl::InvalidArgumentError(absl::StrCat(flag, " needs a value"));
      }
      value = args[++i];
    }
    if (flag == "--module") {
      options.module_path = value;
    } else if (flag == "--token-label") {
      options.token_label = value;
    } else if (flag == "--ca-key") {
      ASSIGN_OR_RETURN(options.ca_key, pkcs11::KeySpec::Parse(value));
    } else if (flag == "--ra-key") {
      ASSIGN_OR_RETURN(options.ra_key, pkcs11::KeySpec::Parse(value));
    } else if (flag == "--ca-label") {
      options.ca_key_label = value;
    } else if (flag == "--ra-label") {
      options.ra_key_label = value;
    } else if (flag == "--ra-key-file") {
      options.ra_key_file = value;
    } else if (flag == "--ra-token-label") {
      options.ra_token_label = value;
    } else if (flag == "--ra-module") {
      options.ra_module_path = value;
    } else if (flag == "--ra-pin-file") {
      command_line.ra_pin_file = value;
    } else if (flag == "--ca-subject") {
      options.ca_subject = value;
    } else if (flag == "--ra-subject") {
      options.ra_subject = value;
      command_line.ra_subject_given = true;
    } else if (flag == "--ca-days") {
      ASSIGN_OR_RETURN(options.ca_validity_days, ParseDays(flag, value));
    } else if (flag == "--ra-days") {
      ASSIGN_OR_RETURN(options.ra_validity_days, ParseDays(flag, value));
    } else if (flag == "--ca-csr") {
      command_line.ca_csr = value;
    } else if (flag == "--import-ca") {
      command_line.import_ca = value;
    } else if (flag == "--ca-chain") {
      command_line.ca_chain = value;
    } else if (flag == "--out-dir") {
      command_line.out_dir = value;
    } else if (flag == "--pin-file") {
      command_line.pin_file = value;
    } else if (flag == "--so-pin-file") {
      command_line.so_pin_file = value;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag '", flag, "' (see --help)"));
    }
  }
  if (command_line.help) return command_line;
  if (options.token_label.empty()) {
    return absl::InvalidArgumentError("--token-label is required");
  }
  if (command_line.out_dir.empty()) {
    return absl::InvalidArgumentError("--out-dir is required");
  }
  if (!options.ra_key.is_rsa()) {
    return absl::InvalidArgumentError(
        "--ra-key must be RSA: the RA decrypts request envelopes");
  }
  if (command_line.if_missing + command_line.renew_ra + command_line.rollover_ra +
          command_line.drop_previous_ra + !command_line.ca_csr.empty() +
          !command_line.import_ca.empty() > 1) {
    return absl::InvalidArgumentError(
        "--if-missing, --renew-ra, --rollover-ra, --drop-previous-ra, --ca-csr and "
        "--import-ca exclude each other");
  }
  if (command_line.import_ca.empty() != command_line.ca_chain.empty()) {
    return absl::InvalidArgumentError(
        "--import-ca needs --ca-chain (the certificates above the CA up to the root), "
        "and --ca-chain goes with --import-ca");
  }
  return command_line;
}

}  // namespace scep::provision

#ifndef SCEP_SERVICES_SCEPCTL_USAGE_H_
#define SCEP_SERVICES_SCEPCTL_USAGE_H_

#include <string>

namespace scep::scepctl {

// The usage text of `verb` ("challenge create", "crl", ...; "" or an
// unknown verb: the overview).
std::string Usage(const std::string& verb);

// True when `verb` is a command scepctl runs.
bool HasUsage(const std::string& verb);

}  // namespace scep::scepctl

#endif  // SCEP_SERVICES_SCEPCTL_USAGE_H_

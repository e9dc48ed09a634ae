#ifndef SCEP_SERVICES_GATEWAY_HTTP_QUERY_H_
#define SCEP_SERVICES_GATEWAY_HTTP_QUERY_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace scep::gateway {

// Decodes %XX escapes (either hex case). With `plus_is_space`, '+' becomes
// ' ' (form encoding, for query strings); without it '+' is kept (URL
// paths). A '%' not followed by two hex digits is InvalidArgument. The
// result may hold any byte, including NUL.
absl::StatusOr<std::string> PercentDecode(absl::string_view in,
                                          bool plus_is_space);

// Parses an application/x-www-form-urlencoded query string ("a=1&b=x+y")
// into (name, value) pairs in order of appearance, duplicates kept. Names
// and values are percent-decoded and '+' means ' '. "a" yields ("a", "");
// empty segments ("a=1&&b=2", a trailing '&') are skipped; only the first
// '=' separates name from value, so base64 padding survives in values.
// A malformed escape anywhere is InvalidArgument. SCEP's GET operations put
// "operation" and "message" here (RFC 8894 section 4.1).
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseQuery(
    absl::string_view raw_query);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_HTTP_QUERY_H_

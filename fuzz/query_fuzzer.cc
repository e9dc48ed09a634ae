// libFuzzer target: the GET query string and the base64 `message`
// parameter (RFC 8894 section 4.1), the first things the gateway does with
// a request's URL.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "services/gateway/http/query.h"
#include "services/gateway/scep_service.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scep::gateway;
  const absl::string_view raw(reinterpret_cast<const char*>(data), size);

  for (bool plus_is_space : {false, true}) {
    auto decoded = PercentDecode(raw, plus_is_space);
    // Decoding never grows the input.
    if (decoded.ok() && decoded->size() > raw.size()) std::abort();
  }
  auto pairs = ParseQuery(raw);
  if (pairs.ok()) {
    for (const auto& [name, value] : *pairs) {
      if (name.size() + value.size() > raw.size()) std::abort();
      if (name == "message") (void)DecodeMessageParam(value);
    }
  }
  auto message = DecodeMessageParam(raw);
  if (message.ok() && (message->empty() || message->size() > raw.size())) {
    std::abort();
  }
  return 0;
}

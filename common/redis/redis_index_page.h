#ifndef SCEP_COMMON_REDIS_REDIS_INDEX_PAGE_H_
#define SCEP_COMMON_REDIS_REDIS_INDEX_PAGE_H_

// Paged reads of a time-ordered index (a sorted set of members scored by
// creation time in ms) whose members name hashes, shared by the request
// store and the certificate index. One atomic round trip per page; members
// whose hash has expired are removed from the index on the way.
//
// The script reads hashes named by index members, keys it is not given in
// KEYS: fine for a single Redis (or Sentinel), not for Redis Cluster.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/redis/redis_connection_pool.h"

namespace scep::redis {

struct IndexPageQuery {
  std::string index_key;
  std::string key_prefix;    // hash key = key_prefix + member
  std::string filter_field;  // "" = no filter
  std::string filter_value;  // kept when the hash's field equals this
  std::string page_token;    // "" = from the oldest
  int page_size = 100;
  // Most members looked at per call, so a selective filter cannot make one
  // call walk the whole index; the page may then be short (even empty)
  // with a next_page_token.
  int scan_limit = 5000;
};

struct IndexPageEntry {
  std::string member;
  std::vector<std::pair<std::string, std::string>> fields;  // HGETALL
};

struct IndexPage {
  std::vector<IndexPageEntry> entries;
  std::string next_page_token;  // "" when the index is exhausted
};

// InvalidArgument for a malformed page token; Unavailable when Redis fails.
absl::StatusOr<IndexPage> ReadIndexPage(RedisConnectionPool& pool,
                                        absl::string_view operation,
                                        const IndexPageQuery& query);

// The value of `field` in `fields`, "" when absent.
absl::string_view FieldOf(const std::vector<std::pair<std::string, std::string>>& fields,
                          absl::string_view field);

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REDIS_INDEX_PAGE_H_

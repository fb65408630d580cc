// GET /v1/app-partition: what preparing the application partition did.
#include "partition/console_app_partition.hpp"

#include <nlohmann/json.hpp>

namespace myelin::actors {

void install_app_partition_routes(httplib::Server& srv, const console_options& opts) {
  auto partition = opts.app_partition;
  srv.Get("/v1/app-partition", [partition](const httplib::Request&, httplib::Response& res) {
    using json = nlohmann::json;
    if (!partition) {
      res.status = 404;
      res.set_content(json{{"error", "no application partition is configured"}}.dump(),
                      "application/json");
      return;
    }
    auto s = partition->status();
    json mount = nullptr;
    if (!s.mount.target.empty()) {
      mount = {{"source", s.mount.source},
               {"target", s.mount.target},
               {"fstype", s.mount.fstype},
               {"options", s.mount.vfs_options},
               {"read_only", s.mount.read_only}};
    }
    json body = {{"kind", s.kind},
                 {"device", s.device},
                 {"target", s.target},
                 {"fstype", s.fstype},
                 {"outcome", runtime::to_string(s.outcome)},
                 {"summary", s.summary()},
                 {"reason", s.reason},
                 {"fallback", s.fallback},
                 {"durable", s.durable},
                 {"erased", s.erased},
                 {"mount", mount}};
    res.set_content(body.dump(), "application/json");
  });
}

}  // namespace myelin::actors

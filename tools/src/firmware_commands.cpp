// `myelin fw create|info|push`: build and inspect signed `.fw` files, and stream
// one to a device with a progress bar.
#include "myelin/tools/firmware_commands.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>

#include <httplib.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/firmware/firmware_archive.hpp"
#include "myelin/runtime/platform/signing.hpp"
#include "myelin/tools/device_client.hpp"
#include "myelin/tools/file_upload.hpp"

namespace myelin::tools {

namespace {

using nlohmann::json;
using steady = std::chrono::steady_clock;

int fail(const std::string& why) {
  std::cerr << "myelin: " << why << "\n";
  return 1;
}

int fail(const caf::error& err) {
  return fail(runtime::describe(err));
}

/// A random RFC 4122 version 4 UUID.
std::string random_uuid() {
  std::random_device rd;
  std::array<uint8_t, 16> b{};
  for (auto& x : b) {
    x = static_cast<uint8_t>(rd());
  }
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out += '-';
    }
    out += hex[b[i] >> 4];
    out += hex[b[i] & 0xf];
  }
  return out;
}

/// A public key given as "ed25519:..." text or as a NAME.pub file.
caf::expected<runtime::public_key> public_key_arg(const std::string& arg) {
  if (arg.rfind("ed25519:", 0) == 0) {
    return runtime::parse_public_key(arg);
  }
  return runtime::read_public_key_file(arg);
}

std::string human_bytes(double bytes) {
  char buf[32];
  if (bytes >= 1024.0 * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
  } else if (bytes >= 1024.0 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024));
  } else if (bytes >= 1024.0) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f B", bytes);
  }
  return buf;
}

/// Progress of a push: a redrawn bar on a terminal, a line per 10 % otherwise.
class progress_printer {
 public:
  progress_printer(uint64_t total, bool tty) : total_(total), tty_(tty), start_(steady::now()) {}

  void update(uint64_t sent, bool final = false) {
    auto now = steady::now();
    auto secs = std::chrono::duration<double>(now - start_).count();
    double rate = secs > 0 ? static_cast<double>(sent) / secs : 0;
    int pct = total_ > 0 ? static_cast<int>(100 * sent / total_) : 0;
    if (tty_) {
      if (!final && now - last_draw_ < std::chrono::milliseconds{100}) {
        return;
      }
      last_draw_ = now;
      constexpr int width = 30;
      int fill = pct * width / 100;
      double eta = rate > 0 ? static_cast<double>(total_ - sent) / rate : 0;
      char line[200];
      std::snprintf(line, sizeof line, "\r[%s%s] %3d%% %s / %s  %s/s  ETA %3.0f s ",
                    std::string(static_cast<size_t>(fill), '#').c_str(),
                    std::string(static_cast<size_t>(width - fill), '.').c_str(), pct,
                    human_bytes(static_cast<double>(sent)).c_str(),
                    human_bytes(static_cast<double>(total_)).c_str(), human_bytes(rate).c_str(),
                    eta);
      std::cerr << line << (final ? "\n" : "") << std::flush;
      return;
    }
    if (pct / 10 > last_decile_ || final) {
      last_decile_ = pct / 10;
      std::cerr << "sent " << sent << " of " << total_ << " bytes (" << pct << "%, "
                << human_bytes(rate) << "/s)\n"
                << std::flush;
    }
  }

 private:
  uint64_t total_;
  bool tty_;
  steady::time_point start_;
  steady::time_point last_draw_{};
  int last_decile_ = -1;
};

struct create_args {
  std::string key;
  runtime::firmware_manifest meta;
  std::string rootfs;
  std::vector<std::string> resources;
  std::string out;
};

int run_create(const create_args& a) {
  auto keys = runtime::read_secret_key_file(a.key);
  if (!keys) {
    return fail(keys.error());
  }
  runtime::firmware_contents contents;
  contents.manifest = a.meta;
  if (contents.manifest.uuid.empty()) {
    contents.manifest.uuid = random_uuid();
  }
  contents.files.emplace_back(std::string{runtime::rootfs_resource}, a.rootfs);
  for (const auto& r : a.resources) {
    auto eq = r.find('=');
    if (eq == std::string::npos || eq == 0) {
      return fail("--resource '" + r + "' is not NAME=FILE");
    }
    contents.files.emplace_back(r.substr(0, eq), r.substr(eq + 1));
  }
  auto m = runtime::write_firmware_file(std::move(contents), keys->secret, a.out);
  if (!m) {
    return fail(m.error());
  }
  std::cout << a.out << ": " << m->product << " " << m->version << " for " << m->platform << "/"
            << m->architecture << ", uuid " << m->uuid << ", " << m->resources.size()
            << " resource(s), " << m->total_size() << " bytes\n";
  return 0;
}

int run_info(const std::string& file, const std::vector<std::string>& keys, bool as_json) {
  runtime::firmware_read_options opts;
  for (const auto& k : keys) {
    auto key = public_key_arg(k);
    if (!key) {
      return fail(key.error());
    }
    opts.trusted.push_back(*key);
  }
  opts.check_signature = !opts.trusted.empty();
  auto r = runtime::read_firmware_file(file, opts);
  if (!r) {
    return fail(r.error());
  }
  const auto& m = r->manifest;
  std::string signature =
      r->signature_checked
          ? "verified (" + runtime::format_public_key(opts.trusted[r->key_index]) + ")"
          : "not checked (give --key or --trusted)";
  if (as_json) {
    json res = json::array();
    for (const auto& x : m.resources) {
      res.push_back({{"name", x.name}, {"size", x.size}, {"sha256", x.sha256}});
    }
    std::cout << json{{"product", m.product},
                      {"version", m.version},
                      {"platform", m.platform},
                      {"architecture", m.architecture},
                      {"uuid", m.uuid},
                      {"author", m.author},
                      {"description", m.description},
                      {"vcs_identifier", m.vcs_identifier},
                      {"misc", m.misc},
                      {"resources", res},
                      {"signature_checked", r->signature_checked}}
                     .dump(2)
              << "\n";
    return 0;
  }
  std::cout << "product: " << m.product << "\n"
            << "version: " << m.version << "\n"
            << "platform: " << m.platform << "\n"
            << "architecture: " << m.architecture << "\n"
            << "uuid: " << m.uuid << "\n"
            << "author: " << m.author << "\n"
            << "description: " << m.description << "\n"
            << "vcs-identifier: " << m.vcs_identifier << "\n"
            << "misc: " << m.misc << "\n";
  for (const auto& x : m.resources) {
    std::cout << "resource: " << x.name << " " << x.size << " bytes sha256 " << x.sha256 << "\n";
  }
  std::cout << "hashes: verified\n"
            << "signature: " << signature << "\n";
  return 0;
}

struct push_args {
  std::string file;
  std::string device;
  std::string ca;
  std::string cert;
  std::string key;
  bool reboot = false;
  bool force = false;
  bool json = false;
};

std::unique_ptr<httplib::Client> client_for(const device_address& dev) {
  auto host = dev.host.find(':') != std::string::npos ? "[" + dev.host + "]" : dev.host;
  auto base = (dev.ca.empty() ? "http://" : "https://") + host + ":" + std::to_string(dev.port);
  auto cli = dev.ca.empty() ? std::make_unique<httplib::Client>(base)
                            : std::make_unique<httplib::Client>(base, dev.cert, dev.key);
  if (!dev.address.empty()) {
    cli->set_hostname_addr_map({{dev.host, dev.address}});
  }
  if (!dev.ca.empty()) {
    cli->set_ca_cert_path(dev.ca.c_str());
    cli->enable_server_certificate_verification(true);
  }
  cli->set_connection_timeout(std::chrono::seconds{3});
  // The device syncs the slot after the last byte: allow it time to answer.
  cli->set_read_timeout(std::chrono::seconds{300});
  cli->set_write_timeout(std::chrono::seconds{60});
  return cli;
}

std::string error_of(const std::string& body) {
  auto doc = json::parse(body, nullptr, false);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_string()) {
    return doc["error"].get<std::string>();
  }
  return body;
}

using push_answer = caf::expected<std::pair<int, std::string>>;

/// Plain HTTP: the file goes from the page cache to the socket with
/// sendfile(2), in 4 MiB chunks (decision 0063).
push_answer push_plain(const device_address& dev, const std::string& path, int fd, uint64_t total,
                       progress_printer& progress) {
  auto answer = post_file_chunked(dev, path, {{"X-Firmware-Size", std::to_string(total)}}, fd,
                                  total, [&progress](uint64_t sent) { progress.update(sent); });
  if (answer) {
    progress.update(total, true);
  }
  return answer;
}

/// HTTPS: cpp-httplib encrypts; the file is mapped, not read (decision 0062).
push_answer push_tls(const device_address& dev, const std::string& path, int fd, uint64_t total,
                     progress_printer& progress) {
  const char* mapped = nullptr;
  if (total > 0) {
    void* p = ::mmap(nullptr, total, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      return make_error(client_errc::unreachable,
                        std::string{"cannot map the file: "} + std::strerror(errno));
    }
    ::madvise(p, total, MADV_SEQUENTIAL);
    mapped = static_cast<const char*>(p);
  }
  constexpr uint64_t piece = 1 << 20;
  uint64_t sent = 0;
  auto cli = client_for(dev);
  httplib::Headers headers{{"X-Firmware-Size", std::to_string(total)}};
  auto res = cli->Post(
      path, headers,
      [&](size_t, httplib::DataSink& sink) {
        if (sent == total) {
          progress.update(sent, true);
          sink.done();
          return true;
        }
        auto n = std::min(piece, total - sent);
        if (!sink.write(mapped + sent, static_cast<size_t>(n))) {
          return false;
        }
        sent += n;
        progress.update(sent);
        return true;
      },
      "application/octet-stream");
  if (mapped != nullptr) {
    ::munmap(const_cast<char*>(mapped), total);
  }
  if (!res) {
    return make_error(client_errc::unreachable, httplib::to_string(res.error()));
  }
  return std::make_pair(res->status, res->body);
}

int run_push(const push_args& a) {
  auto dev = parse_device_address(a.device);
  if (!dev) {
    return fail(dev.error());
  }
  if (auto err = set_credentials(*dev, a.ca, a.cert, a.key)) {
    return fail(err);
  }
  int fd = ::open(a.file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail(a.file + ": " + std::strerror(errno));
  }
  struct stat st {};
  ::fstat(fd, &st);
  auto total = static_cast<uint64_t>(st.st_size);
  progress_printer progress{total, ::isatty(STDERR_FILENO) != 0};
  std::string query;
  for (auto [on, param] : {std::pair{a.reboot, "reboot=1"}, std::pair{a.force, "force=1"}}) {
    if (on) {
      query += (query.empty() ? "?" : "&") + std::string{param};
    }
  }
  auto path = "/v1/fw/upload" + query;
  // No Content-Length: chunked transfer, streamed from the file.
  auto answer = dev->ca.empty() ? push_plain(*dev, path, fd, total, progress)
                                : push_tls(*dev, path, fd, total, progress);
  ::close(fd);
  if (!answer) {
    std::string why = "the upload to " + dev->host + ":" + std::to_string(dev->port) +
                      " failed: " + runtime::describe(answer.error());
    // The device may know better why it stopped listening.
    if (auto status = tools::get(*dev, "/v1/fw/upload/status")) {
      auto doc = json::parse(*status, nullptr, false);
      if (doc.is_object() && doc.value("state", "") == "failed") {
        why += " (device: " + doc.value("error", "") + ")";
      }
    }
    return fail(why + ". Nothing was switched; run the push again.");
  }
  auto& [status, body] = *answer;
  if (status != 200) {
    return fail("the device refused the firmware: " + error_of(body));
  }
  auto doc = json::parse(body, nullptr, false);
  if (a.json) {
    std::cout << body << "\n";
    return 0;
  }
  std::cout << "installed " << doc.value("product", "?") << " " << doc.value("version", "?")
            << " in slot " << doc.value("slot", "?") << "; it is active and not yet validated"
            << (doc.value("rebooting", false) ? "; rebooting" : "") << "\n";
  return 0;
}

}  // namespace

std::function<std::optional<int>()> add_firmware_commands(CLI::App* fw) {
  auto c = std::make_shared<create_args>();
  auto* create = fw->add_subcommand("create", "Create a signed firmware file (.fw)");
  create->add_option("--key", c->key, "The signing key (NAME.key)")->required();
  create->add_option("--product", c->meta.product, "meta-product")->required();
  create->add_option("--version", c->meta.version, "meta-version")->required();
  create->add_option("--platform", c->meta.platform, "meta-platform")->required();
  create->add_option("--architecture", c->meta.architecture, "meta-architecture")->required();
  create->add_option("--author", c->meta.author, "meta-author");
  create->add_option("--description", c->meta.description, "meta-description");
  create->add_option("--vcs", c->meta.vcs_identifier, "meta-vcs-identifier");
  create->add_option("--misc", c->meta.misc, "meta-misc");
  create->add_option("--uuid", c->meta.uuid, "meta-uuid (default: a random UUID)");
  create->add_option("--rootfs", c->rootfs, "The root file system image")->required();
  create->add_option("--resource", c->resources, "More resources, NAME=FILE");
  create->add_option("-o,--output", c->out, "The .fw file to write")->required();

  auto info_file = std::make_shared<std::string>();
  auto info_keys = std::make_shared<std::vector<std::string>>();
  auto info_json = std::make_shared<bool>(false);
  auto* info = fw->add_subcommand(
      "info", "Print a firmware file's metadata and verify its hashes and signature");
  info->add_option("FILE", *info_file, "The .fw file")->required();
  info->add_option("--key,--trusted", *info_keys,
                   "Public keys (NAME.pub or ed25519:...) the signature must verify under");
  info->add_flag("--json", *info_json, "Print JSON");

  auto p = std::make_shared<push_args>();
  auto* push = fw->add_subcommand("push", "Stream a firmware file to the device's inactive slot");
  push->add_option("FILE", p->file, "The .fw file")->required();
  push->add_option("--device", p->device,
                   "HOST:PORT of the device's control channel "
                   "(default: $MYELIN_DEVICE, else 127.0.0.1:4848)");
  push->add_option("--ca", p->ca, "Talk HTTPS: the CA of the device's certificate (or $MYELIN_CA)");
  push->add_option("--cert", p->cert, "Client certificate for HTTPS (or $MYELIN_CERT)");
  push->add_option("--key", p->key, "Client private key for HTTPS (or $MYELIN_KEY)");
  push->add_flag("--reboot", p->reboot, "Reboot into the new firmware once it is installed");
  push->add_flag("--force", p->force,
                 "Install even though the running firmware is not validated yet: this "
                 "overwrites its fallback slot");
  push->add_flag("--json", p->json, "Print the device's JSON answer");

  return [=]() -> std::optional<int> {
    if (create->parsed()) {
      return run_create(*c);
    }
    if (info->parsed()) {
      return run_info(*info_file, *info_keys, *info_json);
    }
    if (push->parsed()) {
      return run_push(*p);
    }
    return std::nullopt;
  };
}

}  // namespace myelin::tools

// Strict parsing and writing of firmware manifests.
#include "myelin/runtime/firmware/firmware_manifest.hpp"

#include <charconv>
#include <set>

#include <caf/atom.hpp>
#include <caf/make_message.hpp>

namespace myelin::runtime {

namespace {

constexpr std::string_view format_line = "myelin-firmware=1";
constexpr size_t max_value_size = 1024;

/// The meta-* fields: their names and where they live in the manifest.
struct meta_field {
  std::string_view name;
  std::string firmware_manifest::*member;
  bool required;
  std::string_view kv_suffix;
};

const std::vector<meta_field>& meta_fields() {
  static const std::vector<meta_field> fields = {
      {"meta-product", &firmware_manifest::product, true, "nerves_fw_product"},
      {"meta-version", &firmware_manifest::version, true, "nerves_fw_version"},
      {"meta-platform", &firmware_manifest::platform, true, "nerves_fw_platform"},
      {"meta-architecture", &firmware_manifest::architecture, true, "nerves_fw_architecture"},
      {"meta-uuid", &firmware_manifest::uuid, false, "nerves_fw_uuid"},
      {"meta-author", &firmware_manifest::author, false, "nerves_fw_author"},
      {"meta-description", &firmware_manifest::description, false, "nerves_fw_description"},
      {"meta-vcs-identifier", &firmware_manifest::vcs_identifier, false,
       "nerves_fw_vcs_identifier"},
      {"meta-misc", &firmware_manifest::misc, false, "nerves_fw_misc"},
  };
  return fields;
}

caf::error bad(size_t line, const std::string& why) {
  return make_error(firmware_file_errc::bad_manifest,
                    "firmware manifest line " + std::to_string(line) + ": " + why);
}

bool valid_value(std::string_view v) {
  if (v.size() > max_value_size) {
    return false;
  }
  for (unsigned char c : v) {
    if (c < 0x20 || c == 0x7f) {
      return false;
    }
  }
  return true;
}

bool is_hex_digest(std::string_view s) {
  if (s.size() != 64) {
    return false;
  }
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string to_string(firmware_file_errc x) {
  switch (x) {
    case firmware_file_errc::bad_manifest:
      return "bad_manifest";
    case firmware_file_errc::bad_archive:
      return "bad_archive";
    case firmware_file_errc::truncated:
      return "truncated";
    case firmware_file_errc::bad_signature:
      return "bad_signature";
    case firmware_file_errc::hash_mismatch:
      return "hash_mismatch";
    case firmware_file_errc::wrong_target:
      return "wrong_target";
    case firmware_file_errc::rollback:
      return "rollback";
    case firmware_file_errc::too_large:
      return "too_large";
    case firmware_file_errc::io_error:
      return "io_error";
  }
  return "firmware_file_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(firmware_file_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("fwfile"),
                    caf::make_message(std::move(context))};
}

const firmware_resource* firmware_manifest::find(std::string_view name) const {
  for (const auto& r : resources) {
    if (r.name == name) {
      return &r;
    }
  }
  return nullptr;
}

uint64_t firmware_manifest::total_size() const {
  uint64_t total = 0;
  for (const auto& r : resources) {
    total += r.size;
  }
  return total;
}

bool valid_resource_name(std::string_view name) {
  if (name.empty() || name.size() > 100 || name.front() == '.' || name == "manifest" ||
      name == "manifest.sig") {
    return false;
  }
  for (unsigned char c : name) {
    if (!(std::isalnum(c) != 0 || c == '.' || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

caf::expected<firmware_manifest> parse_firmware_manifest(std::string_view text) {
  if (text.size() > max_manifest_size) {
    return make_error(
        firmware_file_errc::bad_manifest,
        "firmware manifest: larger than " + std::to_string(max_manifest_size) + " bytes");
  }
  if (text.empty() || text.back() != '\n') {
    return make_error(firmware_file_errc::bad_manifest,
                      "firmware manifest: empty or not ending with a newline (truncated?)");
  }
  firmware_manifest m;
  std::set<std::string, std::less<>> seen;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    auto line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line_no == 1) {
      if (line != format_line) {
        return bad(1, "expected '" + std::string{format_line} + "' (not a myelin manifest?)");
      }
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return bad(line_no, "not key=value");
    }
    auto key = line.substr(0, eq);
    auto value = line.substr(eq + 1);
    if (!valid_value(value)) {
      return bad(line_no, "the value of '" + std::string{key} +
                              "' has control characters or is longer than 1024 bytes");
    }
    if (key == "resource") {
      auto sp1 = value.find(' ');
      auto sp2 = sp1 == std::string_view::npos ? sp1 : value.find(' ', sp1 + 1);
      if (sp2 == std::string_view::npos || value.find(' ', sp2 + 1) != std::string_view::npos) {
        return bad(line_no, "a resource is 'NAME SIZE SHA256'");
      }
      firmware_resource r;
      r.name = std::string{value.substr(0, sp1)};
      auto size_text = value.substr(sp1 + 1, sp2 - sp1 - 1);
      r.sha256 = std::string{value.substr(sp2 + 1)};
      if (!valid_resource_name(r.name)) {
        return bad(line_no, "resource name '" + r.name +
                                "' is not a plain file name (letters, digits, '.', '_', '-'; "
                                "no '/', no leading '.', at most 100 characters)");
      }
      auto [ptr, ec] =
          std::from_chars(size_text.data(), size_text.data() + size_text.size(), r.size);
      if (size_text.empty() || ec != std::errc{} || ptr != size_text.data() + size_text.size() ||
          r.size > max_resource_size) {
        return bad(line_no, "resource '" + r.name + "': size '" + std::string{size_text} +
                                "' is not a decimal number up to 2^48");
      }
      if (!is_hex_digest(r.sha256)) {
        return bad(line_no, "resource '" + r.name + "': sha256 must be 64 lowercase hex digits");
      }
      if (m.find(r.name) != nullptr) {
        return bad(line_no, "resource '" + r.name + "' is listed twice");
      }
      m.resources.push_back(std::move(r));
      continue;
    }
    const meta_field* field = nullptr;
    for (const auto& f : meta_fields()) {
      if (f.name == key) {
        field = &f;
      }
    }
    if (field == nullptr) {
      return bad(line_no, "unknown field '" + std::string{key} + "'");
    }
    if (!seen.emplace(key).second) {
      return bad(line_no, "field '" + std::string{key} + "' appears twice");
    }
    m.*(field->member) = std::string{value};
  }
  for (const auto& f : meta_fields()) {
    if (f.required && (m.*(f.member)).empty()) {
      return make_error(firmware_file_errc::bad_manifest,
                        "firmware manifest: '" + std::string{f.name} + "' is missing or empty");
    }
  }
  if (m.find(rootfs_resource) == nullptr) {
    return make_error(firmware_file_errc::bad_manifest,
                      "firmware manifest: no '" + std::string{rootfs_resource} + "' resource");
  }
  return m;
}

caf::expected<std::string> format_firmware_manifest(const firmware_manifest& m) {
  std::string out{format_line};
  out += '\n';
  for (const auto& f : meta_fields()) {
    const auto& value = m.*(f.member);
    if (value.empty() && !f.required) {
      continue;
    }
    out += std::string{f.name} + "=" + value + "\n";
  }
  for (const auto& r : m.resources) {
    out += "resource=" + r.name + " " + std::to_string(r.size) + " " + r.sha256 + "\n";
  }
  // Whatever we write must read back; this catches bad values at creation.
  if (auto back = parse_firmware_manifest(out); !back) {
    return back.error();
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> slot_metadata(const firmware_manifest& m,
                                                               const std::string& slot) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : meta_fields()) {
    out.emplace_back(slot + "." + std::string{f.kv_suffix}, m.*(f.member));
  }
  return out;
}

}  // namespace myelin::runtime

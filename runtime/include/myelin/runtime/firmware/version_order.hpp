// Which firmware version is older (issue 18, anti-rollback): Semantic
// Versioning 2.0 precedence, the rule Nerves' firmware versions follow.
#pragma once

#include <optional>
#include <string_view>

namespace myelin::runtime {

/// Whether `v` is a semantic version: MAJOR.MINOR.PATCH, numbers without
/// leading zeros, optional -PRERELEASE and +BUILD.
bool is_semver(std::string_view v);

/// <0, 0 or >0 as `a` precedes, equals or follows `b` (build metadata is
/// ignored; a pre-release precedes its release); nothing when either is
/// not a semantic version.
std::optional<int> compare_versions(std::string_view a, std::string_view b);

}  // namespace myelin::runtime

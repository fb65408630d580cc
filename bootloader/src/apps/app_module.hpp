// Which module an app is started from: the overlay store's resolution.
#pragma once

#include <string>

#include "myelin/bootloader/apps.hpp"

namespace myelin::bootloader {

/// When `app` uses the default module (<base_dir>/<app>/lib<app>.so) and an
/// overlay store exists, sets `module` to the store's module path for the app
/// (a path unique to the resolved version) and `hash` to the app's hash.
/// Otherwise leaves `module` alone and clears `hash`.
void resolve_module(const apps_options& opts, const apps_options::app& app, std::string& module,
                    std::string& hash);

}  // namespace myelin::bootloader

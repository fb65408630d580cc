// What both kinds of app context share: the actor system, the app's name,
// module directory, target and data directory (the services differ: the
// app host reaches them over the link, inproc apps through the registry).
#pragma once

#include <string>
#include <utility>

#include "myelin/app.hpp"

namespace myelin::bootloader {

class context_base : public app::context {
 public:
  context_base(caf::actor_system& sys, std::string name, std::string dir, std::string target,
               std::string data_dir)
      : sys_(sys),
        name_(std::move(name)),
        dir_(std::move(dir)),
        target_(std::move(target)),
        data_dir_(std::move(data_dir)) {}

  caf::actor_system& system() override { return sys_; }
  const std::string& name() const override { return name_; }
  const std::string& module_dir() const override { return dir_; }
  const std::string& target() const override { return target_; }
  const std::string& data_dir() const override { return data_dir_; }

 private:
  caf::actor_system& sys_;
  std::string name_;
  std::string dir_;
  std::string target_;
  std::string data_dir_;
};

}  // namespace myelin::bootloader

// The uevent service: kernel device events (NETLINK_KOBJECT_UEVENT, group 1)
// turned into Nerves' device property table, subscriptions, modprobe of
// MODALIAS on add, and coldplug at boot.
//
// Protocol (docs/uevent.md; every request answers):
//   (uevent_get_atom, std::string prefix)   -> uevent_snapshot
//        the devices whose devpath starts with the segments of prefix ("" = all)
//        and the stats
//   (uevent_stats_atom)                     -> uevent_stats
//   (uevent_subscribe_atom, std::string prefix, std::string subsystem) -> uint64_t id
//        the sender receives a uevent_notice for every later event whose devpath
//        is under prefix ("" = any) and whose subsystem equals subsystem ("" =
//        any); the sender is monitored and its subscriptions end when it dies
//   (uevent_unsubscribe_atom, uint64_t id)  -> caf::unit (unknown ids are ignored)
//   (uevent_follow_atom, uint64_t after, std::string prefix, uint32_t wait_ms)
//        -> uevent_follow_batch: the kept events with id > after under prefix, at
//        once if there are some, else as soon as one arrives or after wait_ms
//        (then empty). after = UINT64_MAX means "from now". A long poll for
//        `myelin uevent --follow`.
// Sends on its own: uevent_notice to subscribers. Registered as `uevent`.
// Supervised by the core supervisor (after kv and firmware, before console).
//
// A reader thread owns the socket (decision 0031): it drains the socket without
// ever waiting for the actor, parses, and hands batches to the actor. When the
// socket cannot be opened (host mode without privileges, uevent.enabled =
// false) the service still starts and reports `unavailable: <reason>`.
// Malformed messages and ENOBUFS (the kernel dropped events because the
// receive buffer was full) are counted and logged, never fatal; after ENOBUFS
// the table is re-synchronised from sysfs (a re-scan).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/supervisors/supervisor.hpp"

namespace myelin::actors {

using uevent_get_atom = caf::atom_constant<caf::atom("uevget")>;
using uevent_stats_atom = caf::atom_constant<caf::atom("uevstats")>;
using uevent_subscribe_atom = caf::atom_constant<caf::atom("uevsub")>;
using uevent_unsubscribe_atom = caf::atom_constant<caf::atom("uevunsub")>;
using uevent_follow_atom = caf::atom_constant<caf::atom("uevfollow")>;

inline constexpr caf::atom_value uevent_registry_name = caf::atom("uevent");

/// One event as subscribers and followers see it.
struct uevent_notice {
  /// The service's own event number (1, 2, ...), the cursor of follow.
  uint64_t id = 0;
  /// add, remove, change, move, bind, unbind, online, offline.
  std::string action;
  std::string devpath;
  /// The previous devpath of a move, else empty.
  std::string devpath_old;
  std::string subsystem;
  /// The kernel's SEQNUM (0 for events made up by a re-scan).
  uint64_t seqnum = 0;
  /// As the table stores them: lowercase keys, without action, devpath, seqnum.
  std::map<std::string, std::string> properties;
  /// True for events made up by a re-scan of sysfs after lost events.
  bool rescan = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, uevent_notice& x) {
  return f(caf::meta::type_name("uevent_notice"), x.id, x.action, x.devpath, x.devpath_old,
           x.subsystem, x.seqnum, x.properties, x.rescan);
}

/// What the service counts.
struct uevent_stats {
  /// False when the socket could not be opened; `unavailable` says why.
  bool available = false;
  std::string unavailable;
  /// The socket's receive buffer as the kernel reports it (bytes).
  int64_t rcvbuf = 0;
  /// Messages read from the socket.
  uint64_t received = 0;
  /// Messages that parsed.
  uint64_t parsed = 0;
  /// Messages refused by the parser (by reason in malformed_by_reason).
  uint64_t malformed = 0;
  std::map<std::string, uint64_t> malformed_by_reason;
  /// The last refused message's reason and detail.
  std::string last_malformed;
  /// Parsed events not under /devices, and libudev-format or non-kernel
  /// messages, which the table ignores.
  uint64_t ignored = 0;
  /// Times the socket overflowed (ENOBUFS): events were lost, how many is
  /// unknown to the kernel interface.
  uint64_t enobufs = 0;
  /// Re-scans of sysfs done after an overflow.
  uint64_t rescans = 0;
  /// Reads that failed otherwise (logged; the reader retries after a second).
  uint64_t read_errors = 0;
  /// Devices in the table.
  uint64_t table_size = 0;
  /// Active subscriptions, and pending follow requests.
  uint64_t subscribers = 0;
  uint64_t followers = 0;
  /// modprobe runs, aliases passed to them, and runs that did not exit 0.
  uint64_t modprobe_runs = 0;
  uint64_t modprobe_aliases = 0;
  uint64_t modprobe_failures = 0;
  std::string modprobe_last;
  /// uevent.modules: "" before the run, "loaded" or what went wrong.
  std::string modules_result;
  /// uevent files written by coldplug (and failures).
  uint64_t coldplug_written = 0;
  uint64_t coldplug_failed = 0;
  /// The id of the last event (the follow cursor now).
  uint64_t cursor = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, uevent_stats& x) {
  return f(caf::meta::type_name("uevent_stats"), x.available, x.unavailable, x.rcvbuf, x.received,
           x.parsed, x.malformed, x.malformed_by_reason, x.last_malformed, x.ignored, x.enobufs,
           x.rescans, x.read_errors, x.table_size, x.subscribers, x.followers, x.modprobe_runs,
           x.modprobe_aliases, x.modprobe_failures, x.modprobe_last, x.modules_result,
           x.coldplug_written, x.coldplug_failed, x.cursor);
}

/// One device of the table.
struct uevent_device {
  std::string devpath;
  std::map<std::string, std::string> properties;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, uevent_device& x) {
  return f(caf::meta::type_name("uevent_device"), x.devpath, x.properties);
}

/// The answer to uevent_get_atom.
struct uevent_snapshot {
  std::vector<uevent_device> devices;
  uevent_stats stats;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, uevent_snapshot& x) {
  return f(caf::meta::type_name("uevent_snapshot"), x.devices, x.stats);
}

/// The answer to uevent_follow_atom.
struct uevent_follow_batch {
  std::vector<uevent_notice> events;
  /// Pass as `after` next time.
  uint64_t next = 0;
  /// Events after the given cursor that are no longer kept (the history holds
  /// the last uevent_options::history events): the follower missed them.
  uint64_t missed = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, uevent_follow_batch& x) {
  return f(caf::meta::type_name("uevent_follow_batch"), x.events, x.next, x.missed);
}

/// What the service does, from the [uevent] section.
struct uevent_options {
  /// Open the socket at all (uevent.enabled).
  bool enabled = true;
  /// Requested receive buffer in bytes (uevent.rcvbuf): SO_RCVBUFFORCE when
  /// allowed (root), else SO_RCVBUF (capped by net.core.rmem_max).
  int rcvbuf = 4 * 1024 * 1024;
  /// Write "add" into every <sysfs>/devices/**/uevent after the socket is up.
  bool coldplug = false;
  /// Run modprobe for the MODALIAS of add events.
  bool modprobe = false;
  std::string modprobe_path = "/sbin/modprobe";
  /// Modules loaded at start (uevent.modules).
  std::vector<std::string> modules;
  /// Where sysfs is mounted (coldplug and re-scan).
  std::string sysfs = "/sys";
  /// Events kept for follow requests.
  size_t history = 4096;
  /// Most aliases in one modprobe run.
  size_t modprobe_batch = 256;
  /// Tests only (no configuration key): also parse messages that a process,
  /// not the kernel, sent to the group, so tests can inject hostile input
  /// through the real socket. Off, such messages are counted as ignored.
  bool accept_foreign = false;
};

/// Reads the [uevent] section. `pid1`: myelin-boot runs as PID 1 (or with
/// --pid1), which turns `auto` coldplug and modprobe on.
uevent_options uevent_options_from(const runtime::config& cfg, bool pid1);

/// A start function for the uevent service.
supervisors::start_fn uevent_start(uevent_options opts);

}  // namespace myelin::actors

// The schema of myelin's configuration: every key, its type, default and meaning.
// docs/configuration.md documents the same keys (a test checks that it does).
#include "myelin/runtime/config/config.hpp"

namespace myelin::runtime {

namespace {

config_key str(std::string name, std::string def, std::string description,
               std::vector<std::string> choices = {}) {
  config_key k;
  k.name = std::move(name);
  k.kind = value_kind::string;
  k.default_value = std::move(def);
  k.description = std::move(description);
  k.choices = std::move(choices);
  return k;
}

config_key num(std::string name, int64_t def, int64_t min, int64_t max, std::string description) {
  config_key k;
  k.name = std::move(name);
  k.kind = value_kind::integer;
  k.default_value = def;
  k.description = std::move(description);
  k.min = min;
  k.max = max;
  return k;
}

config_key flag(std::string name, bool def, std::string description) {
  config_key k;
  k.name = std::move(name);
  k.kind = value_kind::boolean;
  k.default_value = def;
  k.description = std::move(description);
  return k;
}

config_key list(std::string name, std::vector<std::string> def, std::string description) {
  config_key k;
  k.name = std::move(name);
  k.kind = value_kind::string_list;
  k.default_value = std::move(def);
  k.description = std::move(description);
  return k;
}

}  // namespace

const std::vector<config_key>& config_schema() {
  static const std::vector<config_key> schema = {
      // [device]
      str("device.name", "myelin",
          "Name of the device; the node name is <name>@<primary address>."),
      str("device.target", "auto",
          "What this device is: \"host\" (a simulated device on a laptop: apps run their "
          "start_host, the base apps are snapshot at boot) or a target's name (e.g. "
          "\"qemu_x86_64\", \"rpi4\": apps run their start). auto: host unless myelin-boot "
          "is process 1, then \"device\"."),
      // [log]
      str("log.level", "info", "Lowest level that is logged.",
          {"trace", "debug", "info", "warn", "error", "critical", "off"}),
      str("log.console", "auto",
          "Where records are printed: stdout, kmsg (the kernel log, /dev/kmsg), none; auto: "
          "kmsg when PID 1 of a real device, else stdout.",
          {"auto", "stdout", "kmsg", "none"}),
      num("log.ring_size", 4096, 16, 1000000,
          "Records kept in memory for `myelin logs` (the oldest is overwritten first)."),
      num("log.max_message", 2048, 64, 65536,
          "Longest message kept, in bytes; longer ones are cut with a marker."),
      flag("log.kmsg", true, "Read the kernel log (/dev/kmsg) into the ring."),
      str("log.kmsg_path", "/dev/kmsg", "The kernel log device (reader and kmsg console)."),
      flag("log.kmsg_replay", true,
           "At start, read the records already in the kernel's buffer (the boot log)."),
      flag("log.syslog", true,
           "Serve the syslog socket (log.syslog_socket); app hosts log through it."),
      str("log.syslog_socket", "/dev/log",
          "The syslog unix datagram socket; relative paths are taken from state.dir."),
      str("log.file", "",
          "A rotating log file (e.g. on the app partition); relative paths are taken from "
          "state.dir. Empty: none."),
      num("log.file_size", 1048576, 4096, 1073741824,
          "Size at which log.file is rotated, in bytes."),
      num("log.file_count", 3, 1, 100, "Rotated files kept besides log.file."),
      // [control]
      str("control.address", "127.0.0.1",
          "Address the control channel listens on (host mode: keep it on loopback)."),
      num("control.port", 4848, 0, 65535,
          "TCP port of the control channel; 0 picks a free port (printed when ready)."),
      flag("control.tls", false,
           "Serve HTTPS and require a client certificate signed by control.client_ca."),
      str("control.cert", "", "Server certificate (PEM) for control.tls."),
      str("control.key", "", "Server private key (PEM) for control.tls."),
      str("control.client_ca", "",
          "CA certificate(s) (PEM) that client certificates must be signed by."),
      list("control.admin_clients", {"*"},
           "With control.tls: the client certificates that may do everything: \"*\" (every "
           "certificate control.client_ca signed), \"CN=<name>\", \"OU=<unit>\" or a bare "
           "common name."),
      list("control.reader_clients", {},
           "With control.tls: the client certificates that may only read (GET): the same "
           "forms. A certificate in neither list is refused."),
      flag("control.allow_unauthenticated", false,
           "Allow plain HTTP on an address other than loopback (anyone who can reach it "
           "controls the device). Off: such a configuration is refused."),
      // [state]
      str("state.dir", "/var/lib/myelin",
          "Directory for myelin's writable state (overlays, host-mode environment). "
          "Relative paths are taken from the working directory."),
      // [runtime]
      num("runtime.scheduler_threads", 2, 1, 64,
          "Worker threads of the actor system's scheduler (CAF scheduler.max-threads)."),
      str("runtime.scheduler_policy", "sharing",
          "CAF scheduler policy of myelin-boot: sharing (one queue, idle workers sleep "
          "until woken: low latency for a few threads) or stealing (per-worker queues, "
          "polling).",
          {"sharing", "stealing"}),
      num("runtime.shutdown_timeout_ms", 10000, 100, 600000,
          "How long an orderly stop may take before the rest is cut short."),
      // [core]
      num("core.intensity", 3, 0, 1000,
          "Restarts of core services allowed within core.period_ms before the core gives up."),
      num("core.period_ms", 5000, 1, 3600000, "Window of core.intensity, in milliseconds."),
      // [kv]
      str("kv.backend", "uboot",
          "Where the key-value store lives: the U-Boot environment (uboot), a U-Boot "
          "environment in <state.dir>/kv (file, host mode), or memory.",
          {"uboot", "file", "memory"}),
      str("kv.fw_env_config", "/etc/fw_env.config",
          "fw_env.config describing the U-Boot environment (kv.backend = uboot)."),
      num("kv.file_size", 131072, 4096, 16777216,
          "Size of each copy of the host-mode environment (kv.backend = file)."),
      list("kv.initial", {},
           "KEY=VALUE entries: the contents of the memory store, or of a new file store; "
           "also defaults for a rebuild (kv.defaults_file)."),
      str("kv.defaults_file", "/etc/u-boot-initial-env",
          "The environment U-Boot starts from when no copy is valid (U-Boot's "
          "u-boot-initial-env: KEY=VALUE lines). A write that finds no valid copy writes "
          "these plus the new keys, never the new keys alone; without any defaults it is "
          "refused."),
      // [serial]
      list("serial.strategies", {"env:nerves_serial_number", "device_tree", "cpuinfo", "dmi"},
           "Where the serial number comes from, first success wins: env:KEY, cpuinfo, "
           "device_tree, dmi, mac:IFNAME, file:PATH[@OFFSET[:LENGTH]], script:COMMAND."),
      str("serial.prefix", "", "Put in front of the serial number found."),
      num("serial.keep_rightmost", 0, 0, 32,
          "Keep only this many rightmost characters of the value found (0: all)."),
      str("serial.fallback", "00000000", "The serial number when every strategy fails."),
      // [firmware]
      flag("firmware.allow_downgrade", false,
           "Install a firmware older than the running one (semantic version order), or one "
           "whose version is not a semantic version. Off: refused before a byte is written."),
      flag("firmware.allow_other_products", false,
           "Install a firmware whose meta-product differs from the running one's. Off: refused."),
      str("firmware.app_data", "",
          "What factory_reset erases: a directory (its contents) or a block device "
          "(its first and last MiB, so it is reformatted on the next boot). Empty: nothing."),
      // [app_partition]
      flag("app_partition.enabled", false,
           "Mount the application partition (app_partition.device) at app_partition.target, "
           "reformatting it when it cannot be mounted read-write. Off: state.dir is a plain "
           "directory (host mode)."),
      str("app_partition.device", "",
          "Block device of the application partition, e.g. /dev/mmcblk0p4 or "
          "/dev/disk/by-label/APPDATA."),
      str("app_partition.target", "/root", "Where it is mounted; state.dir should be inside it."),
      str("app_partition.fstype", "ext4",
          "File system of the partition: ext4, vfat or f2fs (checked when mounting, so a "
          "typo does not discard the rest of the configuration)."),
      str("app_partition.options", "", "Extra mount options, comma-separated (rw is implied)."),
      str("app_partition.mkfs_options", "",
          "Extra arguments of mkfs.<fstype> when the partition is formatted, e.g. \"-L APPDATA\"."),
      str("firmware.platform", "host",
          "This device's platform; firmware for another platform is refused."),
      str("firmware.architecture", "",
          "This device's architecture; empty: the machine's (uname -m)."),
      list("firmware.trusted_keys", {},
           "Public keys (\"ed25519:<base64>\") a firmware's manifest must be signed by; "
           "none: every firmware upload is refused."),
      str("firmware.slots.a", "",
          "Block device (or file) of firmware slot a; empty: <state.dir>/firmware/slot-a.img."),
      str("firmware.slots.b", "",
          "Block device (or file) of firmware slot b; empty: <state.dir>/firmware/slot-b.img."),
      num("firmware.file_slot_size_mb", 1024, 1, 1 << 20,
          "Capacity of a slot that is a regular file (block devices: their size)."),
      num("firmware.upload_buffer_mb", 8, 2, 256,
          "Memory buffering a firmware upload between the network and the slot."),
      num("firmware.auto_validate_after_s", 0, 0, 86400,
          "Validate new firmware once every app has run this long without an unplanned "
          "exit (0: off; validate with `myelin fw validate` or from an app)."),
      flag("firmware.check_fallback_at_boot", true,
           "While the running firmware is unvalidated, hash the fallback slot in the "
           "background at boot; one that no longer holds its recorded image loses its "
           "metadata, so no boot or revert falls back to it."),
      // [apphost]
      str("apphost.path", "", "The myelin-apphost binary; empty: the one next to myelin-boot."),
      str("apphost.base_dir", "/usr/lib/myelin/apps",
          "Where app modules live: <base_dir>/<app>/lib<app>.so. Relative paths are taken "
          "from the working directory."),
      num("apphost.scheduler_threads", 2, 1, 64, "Scheduler threads of each app host."),
      str("apphost.scheduler_policy", "sharing",
          "CAF scheduler policy of each app host: sharing or stealing (see "
          "runtime.scheduler_policy).",
          {"sharing", "stealing"}),
      num("apphost.heartbeat_ms", 1000, 10, 600000,
          "How often myelin-boot checks that each app host still responds."),
      num("apphost.heartbeat_timeout_ms", 3000, 20, 600000,
          "An app host that has not answered for this long is killed and restarted."),
      flag("apphost.sandbox", true,
           "Confine app hosts (decision 0079): no_new_privs, a seccomp filter (no ptrace, "
           "mount, reboot, modules, namespaces, clock, signals to PID 1 or myelin-boot) and, "
           "when myelin-boot runs as root, a user of its own with no capabilities. Off: app "
           "hosts run as myelin-boot's user, unconfined."),
      num("apphost.uid_base", 70000, 1, 4000000000,
          "First uid (and gid) of the range app users are allocated from."),
      num("apphost.uid_count", 1000, 1, 1000000, "How many uids the range holds."),
      str("apphost.data_dir", "app-data",
          "Where each app's private data directory is made (<data_dir>/<app>, mode 0700, "
          "owned by the app's user); relative paths are taken from state.dir."),
      // [apps.<name>]
      flag("apps.*.enabled", true, "Start the app at boot."),
      str("apps.*.module", "", "The app's module; empty: <apphost.base_dir>/<name>/lib<name>.so."),
      str("apps.*.isolation", "process",
          "process: its own app host process (a crash cannot reach the core). "
          "inproc: inside myelin-boot (trusted, latency-critical code only).",
          {"process", "inproc"}),
      str("apps.*.restart", "permanent", "OTP restart type of the app.",
          {"permanent", "transient", "temporary"}),
      num("apps.*.intensity", 3, 0, 1000,
          "Restarts allowed within apps.<name>.period_ms; one more and the app is failed."),
      num("apps.*.period_ms", 5000, 1, 3600000, "Window of apps.<name>.intensity."),
      num("apps.*.backoff_min_ms", 0, 0, 3600000,
          "First restart delay of the exponential back-off; 0: restart at once (OTP)."),
      num("apps.*.backoff_max_ms", 10000, 1, 3600000, "Largest restart delay."),
      num("apps.*.memory_limit_mb", 512, 0, 1048576,
          "Address-space limit of the app host (RLIMIT_AS), in MiB; 0: none."),
      str("apps.*.on_failure", "continue",
          "What a failed app (restart intensity exceeded) does to the device.",
          {"continue", "halt", "reboot"}),
      list("apps.*.kv_read", {},
           "Key prefixes the app may read besides its own app.<name>. and the public Nerves "
           "keys (device config only)."),
      list("apps.*.kv_write", {},
           "Key prefixes the app may write besides its own app.<name>.; the bootloader's "
           "variables stay unwritable (device config only)."),
      str("apps.*.user", "",
          "The user (name or number) the app host runs as when myelin-boot is root; empty: "
          "one of its own from apphost.uid_base. Device config only."),
      str("apps.*.firmware", "status",
          "What the app may do to firmware: status, validate, or manage (validate, revert, "
          "prevent revert). Device config only.",
          {"status", "validate", "manage"}),
      // [overlays]
      list("overlays.trusted_keys", {},
           "Public keys (\"ed25519:<base64>\", from NAME.pub) whose signed overlays are accepted."),
      flag("overlays.allow_replay", false,
           "Accept signed overlays without the anti-rollback binding: one made for other "
           "firmware, or one whose sequence is not above the last applied. Off: refused (409)."),
      flag("overlays.allow_unsigned", false,
           "Accept unsigned overlays (host mode only: anyone who reaches the control channel "
           "can replace the apps)."),
      flag("overlays.allow_new_apps", true,
           "Accept pushes of apps the config does not list: they are installed and started "
           "with the defaults of their app.toml (on a device that accepts only signed "
           "overlays, only a signed push can add an app)."),
      num("overlays.max_bytes", 67108864, 1024, 4294967296,
          "The largest overlay a push may send, in bytes."),
      num("overlays.max_depth", 8, 1, 1000,
          "Compact the overlay stack when it grows past this many overlays."),
      num("overlays.probation_s", 10, 0, 86400,
          "After a push, an app that crashes within this many seconds rolls the stack back "
          "to last-good."),
      num("overlays.start_timeout_ms", 10000, 100, 600000,
          "How long a push waits for the restarted apps to come up."),
      str("overlays.volatile_dir", "/run/myelin/overlays",
          "Where volatile overlays (dev pushes without --persist) live; relative paths are "
          "taken from state.dir."),
      // [power]
      str("power.reboot_command", "",
          "Command that reboots when myelin-boot is not PID 1 (e.g. \"systemctl reboot\"); "
          "empty: myelin-boot only stops."),
      str("power.poweroff_command", "", "Likewise for poweroff."),
      str("power.halt_command", "", "Likewise for halt."),
      // [pid1]
      flag("pid1.mount", true,
           "In PID 1 mode: mount /proc, /sys, /dev, /dev/pts, /run and /tmp where nothing is "
           "mounted yet."),
      str("pid1.hostname_pattern", "myelin-%s",
          "In PID 1 mode: the hostname, each %s replaced by the serial number; empty: leave "
          "the hostname alone."),
      str("pid1.on_failure", "reboot",
          "In PID 1 mode, when the runtime itself fails (boot failure, the root supervisor "
          "gives up): reboot, or hang forever (debugging).",
          {"reboot", "hang"}),
      // [testing]
      list("testing.faults", {},
           "Test hooks (decision 0075): threads that throw when they start, to prove the "
           "recovery: THREAD (once) or THREAD*N, e.g. uevent.read, log.syslog, console.http, "
           "net.watch, fw.install. Refused, with an error, as a device's PID 1."),
      num("testing.overlay_crash_at", 0, 0, 100,
          "Test hook: kill -9 myelin-boot at this numbered point of an overlay apply "
          "(0: never). Refused as a device's PID 1."),
      // [uevent]
      flag("uevent.enabled", true,
           "Listen to the kernel's device events (NETLINK_KOBJECT_UEVENT). Off, or when the "
           "socket cannot be opened, the uevent service still runs and reports why it is "
           "unavailable."),
      num("uevent.rcvbuf", 4194304, 65536, 1073741824,
          "Receive buffer of the uevent socket, in bytes (SO_RCVBUFFORCE as root, else "
          "SO_RCVBUF, capped by net.core.rmem_max). Too small loses events in bursts."),
      str("uevent.coldplug", "auto",
          "Write \"add\" into every <uevent.sysfs>/devices/**/uevent at start, so devices "
          "present at boot are announced: on, off, or auto (on when myelin-boot is process 1).",
          {"auto", "on", "off"}),
      str("uevent.modprobe", "auto",
          "Run uevent.modprobe_path for the MODALIAS of add events (batched, one run at a "
          "time): on, off, or auto (on when myelin-boot is process 1).",
          {"auto", "on", "off"}),
      str("uevent.modprobe_path", "/sbin/modprobe",
          "The modprobe program, called as PROGRAM -a -q -b -- ALIAS...."),
      list("uevent.modules", {},
           "Kernel modules to load at start whatever the devices (e.g. softdog), as "
           "PROGRAM -a -- MODULE...; a module that is missing or fails to load is logged "
           "as an error and shown in the uevent status."),
      str("uevent.sysfs", "/sys", "Where sysfs is mounted (coldplug and re-scans read it)."),
      // [daemons.<name>]
      flag("daemons.*.enabled", true, "Run this program."),
      list("daemons.*.command", {},
           "The program and its arguments (argv); a bare name is "
           "looked up on PATH."),
      list("daemons.*.env", {},
           "KEY=VALUE entries added to (or replacing in) myelin-boot's "
           "environment."),
      str("daemons.*.work_dir", "", "Its working directory; empty: myelin-boot's."),
      str("daemons.*.user", "", "Run as this user (name or number); empty: as myelin-boot."),
      str("daemons.*.group", "", "Run as this group (name or number); empty: the user's."),
      num("daemons.*.memory_limit_mb", 0, 0, 1048576,
          "cgroup v2 memory.max of its cgroup, MiB; 0: none."),
      num("daemons.*.cpu_weight", 0, 0, 10000, "cgroup v2 cpu.weight (1-10000); 0: none."),
      str("daemons.*.restart", "permanent", "OTP restart type of the program.",
          {"permanent", "transient", "temporary"}),
      num("daemons.*.intensity", 3, 0, 1000,
          "At most this many restarts within period_ms; one more and the daemon is failed."),
      num("daemons.*.period_ms", 5000, 1, 3600000, "Window of daemons.<name>.intensity."),
      num("daemons.*.restart_delay_ms", 100, 0, 3600000,
          "Delay of the first restart (systemd's RestartSec); doubled while it keeps failing."),
      num("daemons.*.restart_delay_max_ms", 5000, 0, 3600000, "Longest restart delay."),
      num("daemons.*.stop_timeout_ms", 5000, 1, 3600000,
          "After SIGTERM to all its processes, SIGKILL after this long."),
      num("daemons.*.log_lines_per_s", 200, 1, 1000000,
          "Output lines a second into the log; the rest are dropped and counted."),
      // [time]
      str("time.set_clock", "auto",
          "Set a clock that is behind its floor (build time, saved time, RTC) forward: on, off, "
          "or auto (on only as a device's PID 1: never a laptop's clock).",
          {"auto", "on", "off"}),
      str("time.rtc", "/dev/rtc0", "The RTC read at start (RTC_RD_TIME); missing: none."),
      str("time.build_time_file", "/etc/myelin/build-time",
          "The firmware's build time (seconds since the epoch), written by make image; the "
          "floor's build time is the newer of it and myelin's own. Missing: myelin's only."),
      num("time.save_interval_s", 600, 10, 86400,
          "How often the time is saved to <state.dir>/time/saved (and at stop)."),
      list("time.ntp_servers", {"0.pool.ntp.org", "1.pool.ntp.org", "2.pool.ntp.org"},
           "NTP servers (host or host:port) asked by SNTP, in order, until one answers; "
           "empty: no NTP."),
      num("time.ntp_poll_s", 1024, 16, 86400, "How often the clock is checked once synchronized."),
      num("time.ntp_timeout_ms", 2000, 10, 60000, "How long one server has to answer."),
      // [mdns]
      str("mdns.enabled", "auto",
          "Announce the device by multicast DNS as <hostname>.local with a _myelin._tcp "
          "service: on, off, or auto (on only as a device's PID 1).",
          {"auto", "on", "off"}),
      str("mdns.hostname", "",
          "The name announced as <hostname>.local; empty: the system's host name (set by "
          "pid1.hostname_pattern on a device)."),
      str("mdns.instance", "", "The _myelin._tcp service instance's name; empty: the host name."),
      list("mdns.interfaces", {},
           "The interfaces to announce on; empty: every one that is up and multicast-capable "
           "but loopback."),
      num("mdns.ttl_s", 120, 1, 3600, "TTL of the address and SRV records."),
      num("mdns.rescan_s", 30, 1, 3600,
          "How often the interfaces and the group membership are checked besides the net "
          "service's changes."),
      // [watchdog]
      str("watchdog.device", "",
          "The hardware watchdog to own and pet while the core is healthy, e.g. "
          "/dev/watchdog; empty: none (host mode)."),
      num("watchdog.timeout_s", 60, 1, 3600,
          "The timeout asked of the driver (WDIOC_SETTIMEOUT): without a pet for this long "
          "the hardware resets the board."),
      num("watchdog.pet_interval_ms", 5000, 100, 600000,
          "How often the core's liveness round runs; the watchdog is petted when every core "
          "service answered. Interval + 3 x probe timeout must be at most half the timeout."),
      num("watchdog.probe_timeout_ms", 2000, 10, 600000,
          "How long the round waits for each supervisor and core service to answer."),
      flag("watchdog.pet", true,
           "False: open (arm) the watchdog but never pet it, to see the board reset."),
      flag("watchdog.disarm_on_stop", false,
           "Write the magic 'V' when the service stops (host tests). Off on a device: a "
           "stop that hangs is still reset."),
      // [net]
      str("net.node_name_prefix", "",
          "The part of the node name before '@'; empty: device.name. The node name is "
          "<prefix>@<primary IPv4 address>."),
      list("net.primary_interfaces", {},
           "Interfaces whose address is the primary one, in order; then any other (by name)."),
      list("net.internet_hosts", {"1.1.1.1:53", "8.8.8.8:53"},
           "HOST:PORT list of the internet check: a TCP connect to any of them through an "
           "interface makes its connection 'internet'. Empty: connections stop at 'lan'."),
      num("net.check_interval_ms", 30000, 100, 86400000,
          "How often the internet check runs (and at once after a link or address change)."),
      num("net.check_timeout_ms", 3000, 10, 600000, "Time limit of one TCP connect of the check."),
      str("net.udhcpc", "udhcpc", "The udhcpc binary (busybox) run for method = \"dhcp\"."),
      num("net.dhcp_restart_delay_ms", 1000, 10, 600000,
          "Delay before a udhcpc that died is started again."),
      // [net.interfaces.<name>]
      str("net.interfaces.*.method", "none",
          "How the interface gets its IPv4 address: static (address/prefix/gateway), dhcp "
          "(udhcpc), none (only brought up).",
          {"static", "dhcp", "none"}),
      flag("net.interfaces.*.up", true, "Set the link up (IFF_UP) when it appears."),
      str("net.interfaces.*.address", "", "method = static: the IPv4 address."),
      num("net.interfaces.*.prefix", 24, 0, 32, "method = static: the prefix length."),
      str("net.interfaces.*.gateway", "",
          "method = static: the default route's gateway; empty: no default route."),
  };
  return schema;
}

}  // namespace myelin::runtime

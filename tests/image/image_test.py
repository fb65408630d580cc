#!/usr/bin/env python3
"""Tests of the QEMU device image (docs/device-image.md, issue 17).

Each scenario boots the image of `scripts/make-image` under QEMU, as `make
qemu` does (scripts/qemu), on its own copy of the disk, and drives it with the
real `myelin` tool over the forwarded control port, as the docs tell a user
to. What U-Boot's boot.scr decides is read from the serial console.

Usage: image_test.py SCENARIO --build DIR --image DIR
Scenarios: boot, update, containment, powercut, overlays, watchdog, time (and bench). Exit 77: skipped (the reason
is printed), 0: passed, 1: failed.
"""

import argparse
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP = 77
# Under TCG on two shared cores a boot takes 15-40 s; these limits are for a
# loaded CI machine, not expectations.
BOOT_TIMEOUT = 240


class Failure(Exception):
    pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Guest:
    """One QEMU process: a device with its own disk. Killing it is a power cut."""

    def __init__(self, args, workdir, disk=None, rtc_base=None):
        self.args = args
        self.rtc_base = rtc_base
        self.image = args.image
        self.disk = disk or os.path.join(workdir, "disk.img")
        if disk is None:
            # A sparse copy: the scenario's own device.
            subprocess.run(["cp", "--sparse=always", os.path.join(self.image, "disk.img"), self.disk],
                           check=True)
        self.console_path = os.path.join(workdir, "console-%d.log" % time.monotonic_ns())
        self.proc = None
        self.port = None
        self.keys = os.path.join(self.image, "keys")

    def start(self):
        self.port = free_port()
        self.console = open(self.console_path, "wb")
        self.proc = subprocess.Popen(
            [os.path.join(ROOT, "scripts", "qemu"), "--image", self.image, "--disk", self.disk,
             "--port", str(self.port)] + (["--rtc-base", self.rtc_base] if self.rtc_base else []),
            stdin=subprocess.DEVNULL, stdout=self.console, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.started = time.monotonic()
        self.pos = 0
        return self

    def text(self):
        with open(self.console_path, "rb") as f:
            raw = f.read()
        t = raw.decode("utf-8", "replace").replace("\r", "")
        return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", t)

    def wait(self, pattern, timeout=BOOT_TIMEOUT, what=None):
        """Waits for `pattern` on the console after the last match; returns the match."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            t = self.text()
            m = rx.search(t, self.pos)
            if m:
                self.pos = m.end()
                return m
            if self.proc.poll() is not None:
                raise Failure("QEMU ended (%s) while waiting for %s\n%s" %
                              (self.proc.returncode, what or pattern, tail(t)))
            if time.monotonic() > deadline:
                raise Failure("no %s on the console within %d s\n%s" % (what or pattern, timeout, tail(t)))
            time.sleep(0.2)

    def tool_env(self):
        """The environment `make qemu` tells the user to export for the tool."""
        return dict(os.environ, MYELIN_CA=os.path.join(self.keys, "ca.pem"),
                    MYELIN_CERT=os.path.join(self.keys, "client.pem"),
                    MYELIN_KEY=os.path.join(self.keys, "client.key"))

    def myelin(self, *argv, check=True, timeout=120):
        env = self.tool_env()
        cmd = [os.path.join(self.args.build, "bin", "myelin")] + list(argv) + \
            ["--device", "127.0.0.1:%d" % self.port]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise Failure("%s: exit %d\n%s%s\nconsole:\n%s" % (" ".join(argv), r.returncode, r.stdout,
                                                             r.stderr, tail(self.text())))
        return r

    def until_answers(self, timeout=120):
        """The control channel answers (TLS through the port forward)."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.myelin("status", "--json", check=False, timeout=30)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise Failure("the control channel did not answer within %d s: %s\n%s" %
                              (timeout, r.stderr, tail(self.text())))
            time.sleep(1)

    def boot(self, slot=None):
        """Waits for one whole boot: U-Boot's choice, core ready, apps ready, the network."""
        m = self.wait(r"boot\.scr: booting slot (\w)", what="U-Boot running boot.scr")
        if slot is not None and m.group(1) != slot:
            raise Failure("U-Boot booted slot %s, expected %s\n%s" % (m.group(1), slot, tail(self.text())))
        self.wait(r"core ready after [0-9.]+ ms", what="core ready")
        self.wait(r"apps ready in [0-9.]+ ms", what="apps ready")
        self.until_answers()
        return m.group(1)

    def power_cut(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.console:
            self.console.close()
            self.console = None

    stop = power_cut


def tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


def expect(cond, message):
    if not cond:
        raise Failure(message)


def fw_status(g):
    out = g.myelin("fw", "status").stdout
    return dict(line.split(": ", 1) for line in out.strip().splitlines() if ": " in line)


def expect_firmware(g, active, validation, when):
    """`myelin fw status` says this slot is active with this validation."""
    st = fw_status(g)
    expect(st.get("active") == active and st.get("validation") == validation,
           "%s: myelin fw status says %s, expected active %s, %s" % (when, st, active, validation))


# --- scenarios ------------------------------------------------------------------

def scenario_boot(args, work):
    """Boot A: PID 1, the tree, the first-boot format, real devices, KV seen by U-Boot."""
    g = Guest(args, work).start()
    try:
        g.wait(r"boot\.scr: nerves_fw_active=a upgrade_available=0", what="boot.scr reading the environment")
        g.wait(r"\[boot\] PID 1 mode \(pid 1\)", what="myelin-boot as PID 1")
        g.pos = 0
        g.boot(slot="a")
        status = g.myelin("status").stdout
        for needle in ("core/", "kv", "firmware", "uevent", "net", "overlays", "console",
                       "apps/", "hello/", "ticker/", "fault/"):
            expect(needle in status, "myelin status lacks %r:\n%s" % (needle, status))
        expect(re.search(r"storage:\s+formatted because", status),
               "the blank app partition was not formatted on the first boot:\n" + status)
        expect("sandbox:  uid 700" in status, "apps do not run as their own users:\n" + status)
        # PID 1 mounted cgroup2: memory limits are cgroups, not RLIMIT_AS.
        expect("RLIMIT_AS" not in status and "memory limit 128 MiB" in status,
               "app memory limits are not cgroups:\n" + status)
        # Real devices from coldplug, and a module loaded by MODALIAS (virtio_net): eth0
        # has QEMU's DHCP address.
        uev = g.myelin("uevent").stdout
        for needle in ("nvme0n1", "virtio", "pci"):
            expect(needle in uev, "myelin uevent lacks %r:\n%s" % (needle, uev))
        # A module loaded by configuration (uevent.modules = ["softdog"]): its device.
        expect("watchdog" in uev, "softdog's watchdog is not in the device table:\n" + uev)
        net = g.myelin("net").stdout
        expect("eth0" in net and "10.0.2.15" in net, "eth0 has no DHCP address:\n" + net)

        # A key written through the tool survives a reboot and U-Boot sees it.
        g.myelin("kv", "put", "myelin_boot_note=written-by-the-test")
        g.myelin("reboot")
        g.wait(r"reboot: Restarting system", timeout=90, what="the orderly stop, then reboot(2)")
        g.wait(r"boot\.scr: nerves_fw_active=a .*myelin_boot_note=written-by-the-test",
               what="U-Boot printing the key written before the reboot")
        g.boot(slot="a")
        expect(g.myelin("kv", "get", "myelin_boot_note").stdout.strip() == "written-by-the-test",
               "the key did not survive the reboot")
        status = g.myelin("status").stdout
        expect(not re.search(r"storage:\s+formatted", status),
               "the app partition was formatted again on the second boot:\n" + status)
    finally:
        g.stop()


def push_and_reboot(g, fw):
    r = g.myelin("fw", "push", fw, "--reboot", timeout=600)
    expect("in slot b" in r.stdout or "in slot a" in r.stdout, "fw push said:\n" + r.stdout)


def scenario_update(args, work):
    """fw push --reboot → B unvalidated → reboot → U-Boot reverts to A; again, validated → B stays."""
    v2 = os.path.join(args.fw_dir, "myelin-0.2.0.fw")
    g = Guest(args, work).start()
    try:
        g.boot(slot="a")
        push_and_reboot(g, v2)
        g.boot(slot="b")
        expect_firmware(g, "b", "unvalidated", "after the update")
        expect(g.myelin("kv", "get", "--active", "nerves_fw_version").stdout.strip() == "0.2.0",
               "slot b does not run 0.2.0")

        # Not validated: the next boot is the bootloader's revert, nobody else's.
        g.myelin("reboot")
        g.wait(r"boot\.scr: slot b was not validated after 1 boot\(s\): reverting to slot a",
               what="U-Boot reverting")
        g.boot(slot="a")
        expect_firmware(g, "a", "validated", "after the revert")
        expect(g.myelin("kv", "get", "--active", "nerves_fw_version").stdout.strip() == "0.1.0",
               "slot a does not run 0.1.0 after the revert")

        # Again, validated this time: B stays, across reboots.
        push_and_reboot(g, v2)
        g.boot(slot="b")
        g.myelin("fw", "validate")
        for _ in range(2):
            g.myelin("reboot")
            g.wait(r"boot\.scr: nerves_fw_active=b upgrade_available=0", what="U-Boot keeping b")
            g.boot(slot="b")
        expect_firmware(g, "b", "validated", "after validating")
    finally:
        g.stop()


def scenario_containment(args, work):
    """Crashes of app hosts on the real PID 1; a firmware whose init cannot start."""
    g = Guest(args, work).start()
    try:
        g.boot(slot="a")
        for kind in ("segfault", "hang"):
            g.myelin("call", "fault", kind, check=False, timeout=60)
            # The core keeps answering while the app host dies or is killed.
            g.myelin("status", "--json")
            g.wait(r"app fault ready", timeout=120, what="fault restarting after %s" % kind)
        status = g.myelin("status").stdout
        expect(re.search(r"fault\s+running\s+restarts [1-9]", status), "fault did not come back:\n" + status)

        # A broken firmware: its /sbin/init cannot load a library, the kernel
        # panics (panic=3 reboots), U-Boot counts the boot and reverts to A.
        push_and_reboot(g, os.path.join(args.fw_dir, "myelin-0.3.0-broken.fw"))
        g.wait(r"boot\.scr: booting slot b", what="U-Boot booting the broken firmware")
        g.wait(r"Kernel panic - not syncing: (Attempted to kill init|No working init)",
               what="the broken init failing")
        g.wait(r"boot\.scr: slot b was not validated after 1 boot\(s\): reverting to slot a",
               what="U-Boot reverting the broken firmware")
        g.boot(slot="a")
        expect_firmware(g, "a", "validated", "after the revert")
    finally:
        g.stop()


def upload_status(g):
    """GET /v1/fw/upload/status over the forwarded TLS port, or None."""
    import http.client
    import json
    import ssl
    env = g.tool_env()
    ctx = ssl.create_default_context(cafile=env["MYELIN_CA"])
    ctx.load_cert_chain(env["MYELIN_CERT"], env["MYELIN_KEY"])
    try:
        c = http.client.HTTPSConnection("127.0.0.1", g.port, context=ctx, timeout=10)
        c.request("GET", "/v1/fw/upload/status")
        r = c.getresponse()
        body = r.read()
        c.close()
        return json.loads(body) if r.status == 200 else None
    except (OSError, ValueError, http.client.HTTPException):
        return None


def cut_when_written(g, fraction):
    """Waits until the upload received `fraction` of its bytes; False when it
    had already finished (switching, done) when seen."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        st = upload_status(g)
        if st:
            if st.get("state") in ("switching", "done"):
                return False
            total = st.get("total") or 0
            if st.get("state") == "receiving" and total > 0 and st.get("bytes", 0) >= fraction * total:
                return True
        time.sleep(0.02)
    raise Failure("the firmware upload did not progress:\n" + tail(g.text()))


def scenario_powercut(args, work):
    """Power cuts during firmware writes and KV writes: A boots intact, the KV is whole."""
    trials = int(os.environ.get("MYELIN_IMAGE_POWERCUT_TRIALS", "10"))
    v2 = os.path.join(args.fw_dir, "myelin-0.2.0.fw")
    disk = os.path.join(work, "disk.img")
    subprocess.run(["cp", "--sparse=always", os.path.join(args.image, "disk.img"), disk], check=True)
    rng = random.Random(int(os.environ.get("MYELIN_IMAGE_SEED", "17")))
    written = ""  # the last myelin_trial that a put returned for
    for trial in range(trials):
        g = Guest(args, work, disk=disk).start()
        try:
            g.boot(slot="a")
            expect_firmware(g, "a", "validated", "trial %d: after the power cut" % trial)
            got = g.myelin("kv", "get", "myelin_trial", check=False).stdout.strip()
            expect(got == written, "trial %d: myelin_trial is %r, expected %r" % (trial, got, written))
            env = g.tool_env()
            tool = os.path.join(args.build, "bin", "myelin")
            device = "127.0.0.1:%d" % g.port
            late = False
            if trial % 2 == 0:
                # Cut during the firmware write into slot b, at a random point
                # of it: the device's own upload status says how far it is.
                cutter = subprocess.Popen([tool, "fw", "push", v2, "--device", device], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                fraction = rng.uniform(0.05, 0.9)
                late = not cut_when_written(g, fraction)
                print("trial %d: power cut %s" % (trial, "after the install (late)" if late else
                                                 "at %d%% of the firmware upload" % (fraction * 100)),
                      flush=True)
            else:
                # Cut among KV writes: a stream of puts (each one environment write).
                g.myelin("kv", "put", "myelin_trial=%d" % trial)
                written = str(trial)
                cutter = subprocess.Popen(
                    ["sh", "-c", "i=0; while [ $i -lt 200 ]; do i=$((i+1)); "
                     "\"$0\" kv put --device \"$1\" myelin_filler=$i$i$i$i$i$i || exit; done", tool, device],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0.5, 4.0))
            g.power_cut()
            cutter.kill()
            cutter.wait()
        finally:
            g.stop()
        if late:
            # The install finished before the cut (polling is coarse): the
            # device boots b unvalidated once, and U-Boot reverts to a.
            g = Guest(args, work, disk=disk).start()
            try:
                slot = g.boot()
                if slot == "b":
                    expect_firmware(g, "b", "unvalidated", "trial %d: after a late cut" % trial)
                    g.myelin("reboot")
                    g.wait(r"reboot: Restarting system", timeout=90, what="reboot")
            finally:
                g.stop()
    # After the last cut: one more boot, whole.
    g = Guest(args, work, disk=disk).start()
    try:
        g.boot(slot="a")
        expect_firmware(g, "a", "validated", "at the end")
        kv = g.myelin("kv", "list").stdout
        expect("a.nerves_fw_uuid=" in kv and "nerves_serial_number=" in kv, "the KV lost keys:\n" + kv)
    finally:
        g.stop()
    # And U-Boot's own tool reads the same environment off the disk.
    config = os.path.join(work, "fw_env.config")
    with open(config, "w") as f:
        f.write("%s 0x80000 0x20000\n%s 0xA0000 0x20000\n" % (disk, disk))
    r = subprocess.run(["fw_printenv", "-c", config, "nerves_fw_active", "a.nerves_fw_version"],
                       capture_output=True, text=True)
    expect(r.returncode == 0 and "nerves_fw_active=a" in r.stdout,
           "fw_printenv on the disk: %s%s" % (r.stdout, r.stderr))


def scenario_bench(args, work):
    """The figures of myelin-bench image (issue 17), under TCG."""
    def result(name, value, unit):
        print("RESULT %s %s %s" % (name, ("%.3f" % value).rstrip("0").rstrip("."), unit), flush=True)

    def allocated_mb(path):
        return os.stat(path).st_blocks * 512 / 1048576

    rootfs = os.path.join(args.image, "rootfs.img")
    gz = subprocess.run(["sh", "-c", "gzip -9 -c '%s' | wc -c" % rootfs], capture_output=True, text=True)
    result("image_size_mb", allocated_mb(os.path.join(args.image, "disk.img")) +
           allocated_mb(os.path.join(args.image, "boot.img")), "MB")
    result("image_rootfs_mb", os.path.getsize(rootfs) / 1048576, "MB")
    result("image_rootfs_gzip_mb", int(gz.stdout.strip()) / 1048576, "MB")

    g = Guest(args, work).start()
    try:
        g.boot(slot="a")  # the first boot formats the app partition
        g.myelin("reboot")
        g.wait(r"reboot: Restarting system", timeout=90, what="reboot")
        # A second boot (the app partition already formatted): the steady figure.
        g.wait(r"U-Boot 20[0-9][0-9]", what="U-Boot starting again")
        reset_at = time.monotonic()
        m = g.wait(r"core ready after ([0-9.]+) ms", what="core ready")
        core_ready_at = time.monotonic()
        result("image_boot_to_core_ready_s", core_ready_at - reset_at, "s")
        result("image_core_ready_after_init_ms", float(m.group(1)), "ms")
        g.wait(r"apps ready in [0-9.]+ ms", what="apps ready")
        g.until_answers()
        time.sleep(5)
        import json
        doc = json.loads(g.myelin("status", "--json").stdout)
        mem = doc.get("memory", {})
        # myelin-boot and its children: the three app hosts and udhcpc.
        result("image_runtime_pss_kb", (mem.get("pss_kb") or 0) + (mem.get("children_pss_kb") or 0), "kB")
        result("image_core_pss_kb", mem.get("pss_kb") or 0, "kB")

        started = time.monotonic()
        push_and_reboot(g, os.path.join(args.fw_dir, "myelin-0.2.0.fw"))
        g.boot(slot="b")
        result("image_update_cycle_s", time.monotonic() - started, "s")
        # Petting stopped -> softdog resets the board (timeout 20 s, the anchor).
        result("watchdog_wedge_to_reset_s", watchdog_reset(g), "s")
        result("watchdog_timeout_s", 20, "s")
    finally:
        g.stop()


def watchdog_reset(g):
    """Stops the petting of softdog; returns the seconds until U-Boot starts again."""
    g.myelin("watchdog", "stop-petting")
    stopped = time.monotonic()
    g.wait(r"softdog: Initiating system reboot", timeout=120, what="softdog resetting the board")
    g.wait(r"U-Boot 20[0-9][0-9]", timeout=60, what="U-Boot after the watchdog reset")
    return time.monotonic() - stopped


def scenario_watchdog(args, work):
    """softdog petted while the core answers; not petted, the board resets and boots again."""
    g = Guest(args, work).start()
    try:
        g.boot(slot="a")
        out = g.myelin("watchdog").stdout
        expect("state:      petting" in out and "(Software Watchdog)" in out and "timeout:    20 s" in out,
               "myelin watchdog:\n" + out)
        import json
        before = json.loads(g.myelin("watchdog", "--json").stdout)["pets"]
        time.sleep(6)
        after = json.loads(g.myelin("watchdog", "--json").stdout)["pets"]
        expect(after > before, "not petted: %d then %d pets" % (before, after))
        g.pos = len(g.text())
        took = watchdog_reset(g)
        print("RESULT watchdog_wedge_to_reset_s %.1f s" % took)
        print("RESULT watchdog_timeout_s 20 s")
        g.boot(slot="a")
        expect_firmware(g, "a", "validated", "after the watchdog reset")
        out = g.myelin("watchdog").stdout
        expect("state:      petting" in out, "after the reset, myelin watchdog:\n" + out)
    finally:
        g.stop()


def scenario_time(args, work):
    """A board without a clock (RTC at 1971): set forward to the build time, then to the saved time."""
    import json
    g = Guest(args, work, rtc_base="1971-01-01T00:00:00").start()
    try:
        g.boot(slot="a")
        t = json.loads(g.myelin("time", "--json").stdout)
        expect(t["adjustment"].startswith("set the clock from 1971-01-01") and
               t["adjustment"].endswith("(build time)"), "first boot: %s" % t)
        expect(t["now"] >= t["build_time"], "the clock is before the build time: %s" % t)
        # Control channel TLS works with the corrected clock (certificates
        # made today): this very request went over it.
        g.myelin("reboot")
        g.wait(r"reboot: Restarting system", timeout=90, what="reboot")
        g.boot(slot="a")
        t = json.loads(g.myelin("time", "--json").stdout)
        expect(t["floor_source"] == "saved time" and t["floor"] > t["build_time"] and
               t["adjustment"].startswith("set the clock from 1971-01-01"),
               "second boot: the saved time is not the floor: %s" % t)
    finally:
        g.stop()


def scenario_overlays(args, work):
    """myelin push over the forwarded port: volatile is gone after a reboot, --persist stays."""
    pushed = os.path.join(args.build, "test-apps", "hello_v2", "libhello_v2.so")
    if not os.path.exists(pushed):
        raise Failure("%s is missing (built with the tests)" % pushed)
    # A build directory as `myelin push --build-dir` reads it: apps/hello/libhello.so,
    # here another greeting.
    build = os.path.join(work, "pushbuild")
    os.makedirs(os.path.join(build, "apps", "hello"))
    shutil.copy(pushed, os.path.join(build, "apps", "hello", "libhello.so"))
    key = os.path.join(args.image, "keys", "dev.key")
    g = Guest(args, work).start()
    try:
        g.boot(slot="a")
        original = g.myelin("call", "hello", "hello", "device").stdout.strip()
        expect("pushed" not in original, "hello already answers %r" % original)
        # Unsigned: refused by the device (it trusts only the image's key).
        r = g.myelin("push", "--build-dir", build, "hello", check=False)
        expect(r.returncode != 0 and "signed" in (r.stdout + r.stderr),
               "an unsigned push was not refused:\n%s%s" % (r.stdout, r.stderr))
        g.myelin("push", "--build-dir", build, "--key", key, "hello")
        got = g.myelin("call", "hello", "hello", "device").stdout.strip()
        expect(got.startswith("Hello from pushed myelin"), "after the push hello says %r" % got)
        g.myelin("reboot")
        g.boot(slot="a")
        got = g.myelin("call", "hello", "hello", "device").stdout.strip()
        expect(got == original, "a volatile overlay survived the reboot: %r" % got)
        g.myelin("push", "--build-dir", build, "--key", key, "--persist", "hello")
        g.myelin("reboot")
        g.boot(slot="a")
        got = g.myelin("call", "hello", "hello", "device").stdout.strip()
        expect(got.startswith("Hello from pushed myelin"), "a persistent overlay was lost: %r" % got)
    finally:
        g.stop()


SCENARIOS = {
    "overlays": scenario_overlays,
    "bench": scenario_bench,
    "boot": scenario_boot,
    "update": scenario_update,
    "containment": scenario_containment,
    "powercut": scenario_powercut,
    "watchdog": scenario_watchdog,
    "time": scenario_time,
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--build", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--fw-dir", required=True)
    args = p.parse_args()
    if shutil.which("qemu-system-x86_64") is None:
        print("SKIP: qemu-system-x86_64 is not installed (scripts/install-deps installs it)")
        return SKIP
    if not os.path.exists(os.path.join(args.image, "disk.img")):
        print("FAIL: no image in %s (the image.build fixture makes it)" % args.image)
        return 1
    work = tempfile.mkdtemp(prefix="myelin-image-%s-" % args.scenario)
    started = time.monotonic()
    try:
        SCENARIOS[args.scenario](args, work)
    except Failure as e:
        print("FAIL: %s" % e)
        print("(console logs kept in %s)" % work)
        return 1
    print("PASS: %s in %.0f s" % (args.scenario, time.monotonic() - started))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

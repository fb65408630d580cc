# myelin's boot script for U-Boot (hush shell): the Nerves A/B rules.
# Built into boot.scr by scripts/make-image (mkimage -T script); read
# docs/device-image.md, "How it works", before changing it.
#
# This U-Boot (u-boot-qemu, qemu-x86_64) has no persistent environment and no
# setexpr, so the script reads the two redundant copies of the environment
# (/etc/fw_env.config: /dev/nvme0n1 at 0x80000 and 0xA0000, 0x20000 bytes each)
# itself, picks the one libubootenv would pick, and writes changes back to both.
# Counting is done by comparing with `test` and setting the next literal value.
#
# Memory map: 0x4000000 copy 0, 0x4100000 copy 1, 0x4200000 the export,
# 0x4300000.. scratch bytes: +0 flag of copy 0, +1 flag of copy 1,
# +2 copy 0 valid, +3 copy 1 valid, +4 the chosen copy (9: none),
# +5 the flag to write, +0x10 a CRC in transit. 0x3000000 the kernel.

echo "boot.scr: myelin A/B boot"
nvme scan
nvme read 0x4000000 0x400 0x100
nvme read 0x4100000 0x500 0x100

# A redundant copy is CRC(4) flag(1) data; `env import -c` wants CRC then data:
# move each CRC one byte to the right, over the flag (saved first).
cp.b 0x4000004 0x4300000 1
cp.b 0x4100004 0x4300001 1
cp.b 0x4000000 0x4300010 4
cp.b 0x4300010 0x4000001 4
cp.b 0x4100000 0x4300010 4
cp.b 0x4300010 0x4100001 4

# Which copies are whole: an import of one absent name checks the CRC and
# changes nothing.
mw.b 0x4300002 0
mw.b 0x4300003 0
if env import -c 0x4000001 0x1ffff myelin_crc_probe; then mw.b 0x4300002 1; fi
if env import -c 0x4100001 0x1ffff myelin_crc_probe; then mw.b 0x4300003 1; fi

# libubootenv's rule (FLAGS_INCREMENTAL): the higher flag is current, 0 after
# 255 wraps, equal flags choose copy 0.
mw.b 0x4300004 9
if itest.b *0x4300002 == 1; then mw.b 0x4300004 0; fi
if itest.b *0x4300003 == 1; then
  if itest.b *0x4300004 == 9; then
    mw.b 0x4300004 1
  else
    if itest.b *0x4300001 -gt *0x4300000; then mw.b 0x4300004 1; fi
    if itest.b *0x4300000 == 0xff; then
      if itest.b *0x4300001 == 0; then mw.b 0x4300004 1; fi
    fi
    if itest.b *0x4300001 == 0xff; then
      if itest.b *0x4300000 == 0; then mw.b 0x4300004 0; fi
    fi
  fi
fi

if itest.b *0x4300004 == 0; then
  env import -c 0x4000001 0x1ffff
  cp.b 0x4300000 0x4300005 1
  echo "boot.scr: environment copy 0"
fi
if itest.b *0x4300004 == 1; then
  env import -c 0x4100001 0x1ffff
  cp.b 0x4300001 0x4300005 1
  echo "boot.scr: environment copy 1"
fi
if itest.b *0x4300004 == 9; then
  echo "boot.scr: no valid copy of the environment: booting slot a"
  setenv nerves_fw_active a
  setenv upgrade_available 0
fi

# The Nerves rules: new firmware (upgrade_available=1) gets bootlimit boots
# (default 1) to be validated; the next boot goes back to the other slot, if
# that slot holds firmware (its metadata is the switch, decision 0074).
if test "${bootlimit}" = ""; then setenv bootlimit 1; fi
if test "${upgrade_available}" = "1"; then
  if test "${bootcount}" = "0"; then setenv bootcount 1
  elif test "${bootcount}" = "1"; then setenv bootcount 2
  elif test "${bootcount}" = "2"; then setenv bootcount 3
  elif test "${bootcount}" = "3"; then setenv bootcount 4
  elif test "${bootcount}" = "4"; then setenv bootcount 5
  elif test "${bootcount}" = "5"; then setenv bootcount 6
  elif test "${bootcount}" = "6"; then setenv bootcount 7
  elif test "${bootcount}" = "7"; then setenv bootcount 8
  elif test "${bootcount}" = "8"; then setenv bootcount 9
  elif test "${bootcount}" = "9"; then setenv bootcount 9
  else setenv bootcount 1
  fi
  if itest ${bootcount} -gt ${bootlimit}; then
    if test "${nerves_fw_active}" = "b"; then
      if env exists a.nerves_fw_uuid; then
        echo "boot.scr: slot b was not validated after ${bootlimit} boot(s): reverting to slot a"
        setenv nerves_fw_active a
        setenv upgrade_available 0
        setenv bootcount 0
      else
        echo "boot.scr: slot b was not validated, but slot a holds no firmware: booting b again"
      fi
    else
      if env exists b.nerves_fw_uuid; then
        echo "boot.scr: slot a was not validated after ${bootlimit} boot(s): reverting to slot b"
        setenv nerves_fw_active b
        setenv upgrade_available 0
        setenv bootcount 0
      else
        echo "boot.scr: slot a was not validated, but slot b holds no firmware: booting a again"
      fi
    fi
  fi

  # Write both copies with the flag of the one read: the other first, then
  # the current one. A power cut leaves one whole copy, old or new.
  env export -c -s 0x1ffff 0x4200001
  cp.b 0x4200001 0x4300010 4
  cp.b 0x4300010 0x4200000 4
  cp.b 0x4300005 0x4200004 1
  if itest.b *0x4300004 == 1; then
    nvme write 0x4200000 0x400 0x100
    nvme write 0x4200000 0x500 0x100
  else
    nvme write 0x4200000 0x500 0x100
    nvme write 0x4200000 0x400 0x100
  fi
fi

echo "boot.scr: nerves_fw_active=${nerves_fw_active} upgrade_available=${upgrade_available} bootcount=${bootcount} bootlimit=${bootlimit} myelin_boot_note=${myelin_boot_note}"

if test "${nerves_fw_active}" = "b"; then setenv myelin_part 2; else setenv myelin_part 1; fi
echo "boot.scr: booting slot ${nerves_fw_active} (/dev/nvme0n1p${myelin_part})"
setenv bootargs "console=ttyS0,115200 root=/dev/nvme0n1p${myelin_part} rootfstype=ext4 ro rootwait panic=3 loglevel=4"
if ext4load nvme 0:${myelin_part} 0x3000000 /boot/vmlinuz; then
  zboot 0x3000000 ${filesize}
fi
echo "boot.scr: slot ${nerves_fw_active} has no bootable kernel"
reset

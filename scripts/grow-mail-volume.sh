#!/usr/bin/env bash
# Grow the mail volume's filesystem to the size of its device, online.
#
# Hetzner resizes the volume (mailstack:mailVolumeSizeGb) but not the ext4 inside it. ext4
# grows while mounted and written; nothing stops. A filesystem already as large as its
# device is left alone. Volumes never shrink (Hetzner refuses).
set -euo pipefail

unit=/etc/systemd/system/srv-mail.mount
device=$(sed -n 's/^What=//p' "$unit")
[ -b "$device" ] || { echo "grow-mail-volume: $device (from $unit) is not a block device" >&2; exit 1; }
mountpoint -q /srv/mail || { echo "grow-mail-volume: /srv/mail is not mounted" >&2; exit 1; }

block_size=$(dumpe2fs -h "$device" 2>/dev/null | sed -n 's/^Block size: *//p')
block_count=$(dumpe2fs -h "$device" 2>/dev/null | sed -n 's/^Block count: *//p')
fs_bytes=$((block_size * block_count))
device_bytes=$(blockdev --getsize64 "$device")
# Less than one 1 MiB short: nothing to grow (ext4 rounds to its block groups).
if [ $((device_bytes - fs_bytes)) -lt 1048576 ]; then
    echo "grow-mail-volume: $((fs_bytes / 1048576)) MiB, the whole device"
    exit 0
fi
resize2fs "$device" >/dev/null 2>&1 || { resize2fs "$device"; exit 1; }
echo "grow-mail-volume: grew from $((fs_bytes / 1048576)) MiB to $(( $(blockdev --getsize64 "$device") / 1048576 )) MiB"

# Helpers for the Debian root file systems the host builds (sourced, not run):
# provision/host/build-box.sh's boxes and tests/deploy/server.sh's server.

# host_key_at_first_boot ROOT: no SSH host key in the image; each machine made
# from it makes its own at first boot, so that no two share one. ed25519 only:
# an RSA key takes about 20 s under software emulation.
host_key_at_first_boot() {
  local root=$1
  rm -f "$root"/etc/ssh/ssh_host_*
  echo "HostKey /etc/ssh/ssh_host_ed25519_key" > "$root/etc/ssh/sshd_config.d/host-key.conf"
  cat > "$root/etc/systemd/system/ssh-host-keys.service" <<'UNIT'
[Unit]
Description=Generate the SSH host key on first boot
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key

[Install]
RequiredBy=ssh.service
UNIT
  chroot "$root" systemctl enable ssh-host-keys.service ssh.service >/dev/null 2>&1
}

# shift_ids ROOT BASE: the files' owners shifted as an unprivileged container
# maps its ids (0 -> BASE): extracted by host root, they keep these numbers.
# chown drops setuid and setgid bits, so they are put back.
shift_ids() {
  python3 - "$1" "$2" <<'PY'
import os, stat, sys
base = int(sys.argv[2])
for folder, dirs, files in os.walk(sys.argv[1]):
    for path in [folder, *(os.path.join(folder, n) for n in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))])]:
        st = os.lstat(path)
        if st.st_uid < 65536:
            os.lchown(path, st.st_uid + base, st.st_gid + base)
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                os.chmod(path, stat.S_IMODE(st.st_mode))
PY
}

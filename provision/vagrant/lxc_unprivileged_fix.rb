# vagrant-lxc 1.4.3 treats every container as privileged. devbox's box is not:
# its lxc-config maps the guest's root to an unprivileged host uid (100000 or above)
# and its rootfs is shifted to match. Two things follow here.
# - The container's folder (/var/lib/lxc/NAME, 0770 root) becomes 0711: the
#   guest's root must be able to pass through it, and must own its rootfs.
# - The synced folder is read-only for the guest; a folder shared with "rw"
#   (app.writable) is handed to the guest's root, whom the host sees as
#   that unprivileged uid, so the guest can write there and nowhere else.
#   (Every start, except for the app guests' shared DATA_DIR: see share_folder.)
begin
  require "vagrant-lxc/driver"
rescue LoadError
  return # the lxc provider is not installed: nothing to fix
end

Vagrant::LXC::Driver.class_eval do
  alias_method :devbox_privileged_create, :create
  alias_method :devbox_privileged_share_folder, :share_folder

  # (Driver#rootfs_path misreads the lxc.rootfs.path of lxc 3 and later.)
  def devbox_rootfs
    base_path.join("rootfs").to_s
  end

  def create(*args)
    devbox_privileged_create(*args)
    @sudo_wrapper.run("chmod", "0711", base_path.to_s)
    @sudo_wrapper.run("chown", "--reference=#{devbox_rootfs}/etc", devbox_rootfs)
  end

  def share_folder(host_path, guest_path, mount_options = nil)
    # The app guests' shared DATA_DIR (nodes) is handed over once, when it is
    # new: each guest's start would otherwise take it from the app in the others.
    shared_data = File.expand_path(host_path.to_s) == DevboxSettings::NODE_DATA &&
                  File.stat(host_path.to_s).uid != 0
    if Array(mount_options).include?("rw") && !shared_data
      @sudo_wrapper.run("chown", "-R", "--reference=#{devbox_rootfs}", host_path.to_s)
    end
    devbox_privileged_share_folder(host_path, guest_path, mount_options)
  end
end

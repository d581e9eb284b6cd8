# vagrant-lxc 1.4.3 rewrites a container's config at every start (its
# customizations between VAGRANT-BEGIN and VAGRANT-END) without truncating the
# file: whenever the new text is shorter, the old tail stays behind, and lxc
# then refuses the container for a key set twice ("Failed to setup ipv4
# address"). Here the file is truncated first.
begin
  require "vagrant-lxc/version"
  require "vagrant-lxc/driver"
rescue LoadError
  return # the lxc provider is not installed: nothing to fix
end

if Gem::Version.new(Vagrant::LXC::VERSION) <= Gem::Version.new("1.4.3")
  Vagrant::LXC::Driver.class_eval do
    alias_method :devbox_untruncated_write_config, :write_config

    def write_config(contents)
      File.open(base_path.join("config").to_s, File::WRONLY | File::TRUNC) { |file| file.write(contents) }
    rescue SystemCallError
      devbox_untruncated_write_config(contents) # not ours to write: vagrant-lxc's sudo copy
    end
  end
end

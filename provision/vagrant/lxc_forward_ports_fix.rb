# Two fixes to port forwarding in Debian's vagrant-lxc 1.4.3; newer releases
# are left alone.
# - It passes a positional Hash to I18n.t, which Ruby 3 rejects ("wrong number
#   of arguments (given 2, expected 0..1)") right after "Forwarding ports...".
# - redir inherits Vagrant's stdout, so a pipe reading Vagrant's output
#   (`./setup.sh | tee log`) never ends while the guest runs. Here it gets
#   /dev/null. It stays the child of a shell: `vagrant halt` stops it with
#   `pkill -P <recorded pid>`, so the recorded pid must be its parent's.
begin
  require "vagrant-lxc/version"
  require "vagrant-lxc/action/forward_ports"
rescue LoadError
  return # the lxc provider is not installed: nothing to fix
end

if Gem::Version.new(Vagrant::LXC::VERSION) <= Gem::Version.new("1.4.3")
  Vagrant::LXC::Action::ForwardPorts.class_eval do
    def forward_ports
      @env[:forwarded_ports].each do |fp|
        @env[:ui].info(I18n.t("vagrant.actions.vm.forward_ports.forwarding_entry",
                              adapter: "eth0", guest_port: fp[:guest], host_port: fp[:host]))
        redir_pid = redirect_port(fp[:host_ip], fp[:host],
                                  fp[:guest_ip] || @env[:machine].provider.ssh_info[:host], fp[:guest])
        store_redir_pid(fp[:host], redir_pid)
      end
    end

    def redirect_port(host_ip, host_port, guest_ip, guest_port)
      # The "; exit" keeps the shell from exec'ing redir, so redir is its child.
      spawn("sh", "-c", 'redir "$@"; exit $?', "redir", "-n", "#{host_ip}:#{host_port}", "#{guest_ip}:#{guest_port}",
            in: File::NULL, out: File::NULL, err: File::NULL)
    end
  end
end

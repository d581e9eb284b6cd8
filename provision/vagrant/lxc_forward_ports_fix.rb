# Debian's vagrant-lxc 1.4.3 passes a positional Hash to I18n.t while forwarding
# ports, which Ruby 3 rejects ("wrong number of arguments (given 2, expected
# 0..1)") right after "Forwarding ports...". Redefine that one method with
# keyword arguments; newer vagrant-lxc releases are left alone.
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
  end
end

# Port forwarding for Debian's vagrant-lxc 1.4.3; newer releases are left alone.
# - Run as root (as ./setup.sh does) with a loopback host_ip, the kernel
#   forwards the port (provision/host/forward.sh: DNAT, no process in the
#   path). vagrant-lxc's redir copies every byte through a process per
#   connection, which halved the forwarded port's throughput.
# - Otherwise redir stays, with two faults fixed: vagrant-lxc passes a
#   positional Hash to I18n.t, which Ruby 3 rejects ("wrong number of arguments
#   (given 2, expected 0..1)") right after "Forwarding ports...", and redir
#   inherited Vagrant's stdout, so a pipe reading Vagrant's output never ended
#   while the guest ran. Here redir gets /dev/null and stays the child of a
#   shell: `vagrant halt` stops it with `pkill -P <recorded pid>`.
require_relative "kernel_forward"

begin
  require "vagrant-lxc/version"
  require "vagrant-lxc/action/forward_ports"
  require "vagrant-lxc/action/clear_forwarded_ports"
rescue LoadError
  return # the lxc provider is not installed: nothing to fix
end

if Gem::Version.new(Vagrant::LXC::VERSION) <= Gem::Version.new("1.4.3")
  Vagrant::LXC::Action::ForwardPorts.class_eval do
    def forward_ports
      @env[:forwarded_ports].each do |fp|
        @env[:ui].info(I18n.t("vagrant.actions.vm.forward_ports.forwarding_entry",
                              adapter: "eth0", guest_port: fp[:guest], host_port: fp[:host]))
        guest_ip = fp[:guest_ip] || @env[:machine].provider.ssh_info[:host]
        if DevboxKernelForward.usable?(fp[:host_ip])
          DevboxKernelForward.run("add", @env[:machine].provider.driver.container_name, fp[:host_ip], fp[:host],
                                  guest_ip, fp[:guest])
        else
          store_redir_pid(fp[:host], redirect_port(fp[:host_ip], fp[:host], guest_ip, fp[:guest]))
        end
      end
    end

    def redirect_port(host_ip, host_port, guest_ip, guest_port)
      # The "; exit" keeps the shell from exec'ing redir, so redir is its child.
      spawn("sh", "-c", 'redir "$@"; exit $?', "redir", "-n", "#{host_ip}:#{host_port}", "#{guest_ip}:#{guest_port}",
            in: File::NULL, out: File::NULL, err: File::NULL)
    end
  end

  Vagrant::LXC::Action::ClearForwardedPorts.class_eval do
    alias_method :devbox_redir_call, :call

    def call(env)
      # Every port added for this container, also one a changed host_port gave up.
      container = env[:machine].provider.driver.container_name
      DevboxKernelForward.run("remove", container) if Process.euid.zero? && container
      devbox_redir_call(env)
    end
  end
end

# vagrant-libvirt forwards a port through `ssh -L`: every byte is encrypted
# and copied by an ssh process on the host and an sshd in the guest. As root,
# for a loopback host_ip, the kernel forwards it instead (kernel_forward.rb);
# otherwise vagrant-libvirt's own way stays.
require_relative "kernel_forward"

begin
  require "vagrant-libvirt/action/forward_ports"
rescue LoadError
  return # the libvirt provider is not installed: nothing to change
end

VagrantPlugins::ProviderLibvirt::Action::ForwardPorts.class_eval do
  alias_method :devbox_ssh_forward_ports, :forward_ports

  def forward_ports(env)
    kernel, ssh = env[:forwarded_ports].partition { |fp| DevboxKernelForward.usable?(fp[:host_ip]) }
    kernel.each do |fp|
      @ui.info(I18n.t("vagrant.actions.vm.forward_ports.forwarding_entry",
                      adapter: "eth0", guest_port: fp[:guest], host_port: fp[:host]))
      DevboxKernelForward.run("add", DevboxKernelForward.libvirt_container(env[:machine]), fp[:host_ip], fp[:host],
                              fp[:guest_ip] || env[:machine].provider.ssh_info[:host], fp[:guest])
    end
    env[:forwarded_ports] = ssh
    devbox_ssh_forward_ports(env)
  end
end

VagrantPlugins::ProviderLibvirt::Action::ClearForwardedPorts.class_eval do
  alias_method :devbox_ssh_call, :call

  def call(env)
    # Every port added for this domain, also one a changed host_port gave up.
    DevboxKernelForward.run("remove", DevboxKernelForward.libvirt_container(env[:machine])) if Process.euid.zero? && env[:machine].id
    devbox_ssh_call(env)
  end
end

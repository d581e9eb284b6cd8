# The forwarded port, forwarded by the kernel (provision/host/forward.sh: DNAT,
# no process in the path) in place of a provider's copying process: vagrant-lxc's
# redir, vagrant-libvirt's `ssh -L` (provision/vagrant/*_forward_ports_fix.rb).
# Only as root, for a loopback host_ip.
require "ipaddr"

module DevboxKernelForward
  SCRIPT = File.expand_path("../host/forward.sh", __dir__)

  def self.usable?(host_ip)
    Process.euid.zero? && IPAddr.new(host_ip.to_s).loopback? && system("command -v iptables >/dev/null")
  rescue IPAddr::Error
    false
  end

  def self.run(*args)
    system(SCRIPT, *args.map(&:to_s)) or raise "devbox: #{File.basename(SCRIPT)} #{args.first} failed (message above)"
  end
end

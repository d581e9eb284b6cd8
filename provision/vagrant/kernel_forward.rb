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

  # forward.sh's name for a libvirt guest (a domain has no name of devbox's own).
  def self.libvirt_container(machine)
    "libvirt-#{machine.id}"
  end

  # The guest a host port is forwarded to by forward.sh now, or nil: a port
  # held so has no listener for a bind to find.
  def self.holder(port)
    return nil unless Process.euid.zero?
    holder = IO.popen([SCRIPT, "holder", port.to_s], err: File::NULL, &:read).strip
    holder.empty? ? nil : holder
  rescue SystemCallError
    nil
  end

  def self.run(*args)
    system(SCRIPT, *args.map(&:to_s)) or raise "devbox: #{File.basename(SCRIPT)} #{args.first} failed (message above)"
  end
end

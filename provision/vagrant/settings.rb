# devbox.yaml for the Vagrantfile, already checked: the Python loader
# (devbox/settings.py) reads and validates it, as it does for every other
# part, and hands it over as JSON. A bad value stops Vagrant with its one line.
require "digest"
require "fileutils"
require "json"
require "open3"
require "securerandom"

module DevboxSettings
  ROOT = File.expand_path("../..", __dir__)
  # The app's DATA_DIR with app guests (nodes): one host folder, shared by all.
  NODE_DATA = File.join(ROOT, ".vagrant", "devbox-data")

  # The host's Python with PyYAML: the repository's .venv when it is there
  # (./setup.sh makes it), else python3. $DEVBOX_PYTHON overrides both.
  def self.python
    venv = File.join(ROOT, ".venv", "bin", "python")
    ENV["DEVBOX_PYTHON"] || (File.executable?(venv) ? venv : "python3")
  end

  # The libvirt driver ./setup.sh found to work on this host (kvm, or qemu:
  # software emulation), written by provision/host/libvirt.sh into devbox's
  # cache folder ($DEVBOX_CACHE, as there); kvm otherwise.
  def self.libvirt_driver
    path = File.join(ENV["DEVBOX_CACHE"] || "/var/cache/devbox", "libvirt-driver")
    File.exist?(path) ? File.read(path).strip : "kvm"
  end

  # Short and stable for this Vagrant folder (VAGRANT_DOTFILE_PATH, else .vagrant).
  def self.dotfile_id
    path = File.expand_path(ENV["VAGRANT_DOTFILE_PATH"] || ".vagrant", ROOT)
    Digest::SHA256.hexdigest(path)[0, 8]
  end

  # What `python -m MODULE ARGS...` prints; on a failure Vagrant stops with the
  # module's own one line, or with "devbox: FAILED (exit N)" if it said nothing.
  def self.run_python(failed, *args)
    out, err, status = Open3.capture3(python, "-m", *args, chdir: ROOT)
    abort(err.strip.empty? ? "devbox: #{failed} (exit #{status.exitstatus})" : err.strip) unless status.success?
    out
  end

  # Where lxc keeps its containers on this host.
  def self.lxcpath
    path = IO.popen(["lxc-config", "lxc.lxcpath"], err: File::NULL, &:read).strip
    path.empty? ? "/var/lib/lxc" : path
  rescue SystemCallError
    "/var/lib/lxc"
  end

  # Where devboxes on this host claim their blocks of fixed addresses.
  ADDRESS_BLOCKS = "/var/lib/devbox/address-blocks"

  # This Vagrant folder's block of fixed addresses for its guests
  # (devbox/settings.py address_block), so that two devboxes on one host never
  # share an address or a MAC: claimed once, host-wide, by the first vagrant up,
  # as the first block that no other Vagrant folder holds (ADDRESS_BLOCKS/K
  # names the folder holding block K; one whose folder no longer says so is
  # free again). Guests made before blocks existed keep theirs, the first.
  def self.claim_address_block
    return unless ARGV.first == "up" && Process.euid.zero? # lxc, the only user of the addresses, needs root
    folder = File.expand_path(ENV["VAGRANT_DOTFILE_PATH"] || ".vagrant", ROOT)
    count, name = run_python("#{python} could not read devbox's settings", "devbox.settings", "--address-blocks").split
    mine = File.join(folder, name)
    return if File.exist?(mine)
    FileUtils.mkdir_p([folder, ADDRESS_BLOCKS])
    made = !Dir.glob(File.join(folder, "machines", "*", "lxc", "id")).empty?
    block = made ? 0 : (0...count.to_i).find do |k|
      holder = File.read(File.join(ADDRESS_BLOCKS, k.to_s)).strip rescue nil
      holder.nil? || holder == folder || (File.read(File.join(holder, name)).strip rescue nil) != k.to_s
    end
    abort "devbox: every block of fixed addresses (#{count}) is another devbox's on this host (#{ADDRESS_BLOCKS}); " \
          "vagrant destroy one of them and delete its entry there" unless block
    File.write(File.join(ADDRESS_BLOCKS, block.to_s), folder)
    File.write(mine, block.to_s)
  end

  def self.load
    claim_address_block
    JSON.parse(run_python("#{python} could not read devbox.yaml", "devbox.settings", "--json"))
  rescue Errno::ENOENT
    abort "devbox: reading devbox.yaml needs Python 3 with PyYAML; run ./setup.sh, or " \
          "python3 -m venv .venv && .venv/bin/pip install -r requirements/host.txt"
  end

  # Secrets every guest of a multi-guest devbox must share (the app's
  # SECRET_KEY signs sessions that any app guest may be handed; Redis's
  # password), made once on the host, readable by its owner alone, and handed
  # to each guest's provisioner as a file (never on a command line, which
  # anyone in the guest may read, or in Vagrant's log). With one guest, the
  # guest makes its own. Returns the file's path.
  def self.node_secrets
    path = File.join(ROOT, ".vagrant", "devbox-secrets.json")
    unless File.exist?(path)
      Dir.mkdir(File.dirname(path)) unless Dir.exist?(File.dirname(path))
      secrets = { "DEVBOX_SECRET_KEY" => SecureRandom.hex(32), "DEVBOX_REDIS_PASSWORD" => SecureRandom.hex(32) }
      # Whole or not at all, and the first of two Vagrants at once wins.
      draft = "#{path}.#{Process.pid}"
      File.open(draft, File::WRONLY | File::CREAT | File::EXCL, 0o600) { |f| f.write(JSON.generate(secrets)) }
      begin
        File.link(draft, path)
      rescue Errno::EEXIST
        # another Vagrant made them first: theirs stand
      ensure
        File.unlink(draft)
      end
    end
    JSON.parse(File.read(path)) && path
  rescue JSON::ParserError, SystemCallError => e
    abort "devbox: #{path} cannot be read (#{e.message}); delete it and run vagrant up again"
  end
end

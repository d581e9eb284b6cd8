# devbox.yaml for the Vagrantfile, already checked: the Python loader
# (devbox/settings.py) reads and validates it, as it does for every other
# part, and hands it over as JSON. A bad value stops Vagrant with its one line.
require "digest"
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

  def self.load
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

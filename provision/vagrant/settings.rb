# devbox.yaml for the Vagrantfile, already checked: the Python loader
# (devbox/settings.py) reads and validates it, as it does for every other
# part, and hands it over as JSON. A bad value stops Vagrant with its one line.
require "json"
require "open3"

module DevboxSettings
  ROOT = File.expand_path("../..", __dir__)

  # The host's Python with PyYAML: the repository's .venv when it is there
  # (./setup.sh makes it), else python3. $DEVBOX_PYTHON overrides both.
  def self.python
    venv = File.join(ROOT, ".venv", "bin", "python")
    ENV["DEVBOX_PYTHON"] || (File.executable?(venv) ? venv : "python3")
  end

  def self.load
    out, err, status = Open3.capture3(python, "-m", "devbox.settings", "--json", chdir: ROOT)
    abort(err.strip.empty? ? "devbox: #{python} could not read devbox.yaml (exit #{status.exitstatus})" : err.strip) unless status.success?
    JSON.parse(out)
  rescue Errno::ENOENT
    abort "devbox: reading devbox.yaml needs Python 3 with PyYAML; run ./setup.sh, or " \
          "python3 -m venv .venv && .venv/bin/pip install -r requirements/host.txt"
  end
end

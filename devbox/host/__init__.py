"""devbox's code that runs on the host: the guest reached through Vagrant and
SSH, `fab watch`'s decisions, Chromium for the tests and benchmarks.
"""

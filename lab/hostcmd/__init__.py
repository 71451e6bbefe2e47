"""The commands a lab host's SSH sessions run: systemctl, journalctl, df, docker, curl, sudo, ...

Each acts on the host's simulated state (lab.host) and prints what the real Debian 12
program prints, with the same exit codes; `python -m lab.hostcmd NAME ARGS` runs one.
"""

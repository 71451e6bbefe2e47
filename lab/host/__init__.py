"""A simulated runner host of the lab: its files, its state, its systemd and its runner service.

`RunnerHost` (state.py) is the host's folder and locked state; units.py is its systemd;
runner_service.py is the runner service the supervisor ticks; resources.py computes disk,
memory and CPU; files.py writes the runner install; provision.py builds a new host.
"""

from lab.host.state import HostError, RunnerHost

__all__ = ["HostError", "RunnerHost"]

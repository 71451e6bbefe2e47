"""The lab: a local staging fleet (simulated runner hosts, a GitHub REST API simulator and the
real monitoring stack) that the demo, the end-to-end tests and the failure scenarios run against.
"""

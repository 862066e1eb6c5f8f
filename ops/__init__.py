"""Operations: set up, start and stop the platform's processes and services on one machine.

Used by `bin/setup`, `bin/run`, `bin/stop` and `bin/test`; not imported by the app. Every process
it starts gets a pidfile under `.run/pids/`, and stopping kills exactly those process groups.
"""

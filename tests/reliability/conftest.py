"""The reliability suite's shared pieces.

- The network guard (`helpers.NetworkGuard`) is installed around every test of the whole suite
  by the top-level `tests/conftest.py`: a connection to anything but loopback fails the test.
  `test_socket_guard.py` proves the guard works and that trailhound's commands stay on
  loopback.
- `helpers.time_limit`: a SIGALRM wall-clock limit for code that could loop forever on hostile
  input. Hypothesis deadlines only judge an example after it returns; an infinite loop never
  returns, so the alarm is what turns a hang into a failure.
"""

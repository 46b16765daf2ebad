"""The fault-injection suite (issue 17): what GridScout does when the disk fills, a secret is in a URI, the pull
cursor is abused, an image is a decompression bomb, a recording is torn or damaged, or a process is killed -9.

Each fault is a real test (a real tmpfs, a real loopback camera and API, real kill -9), here or where its
subject is tested; each records one figure. `python -m sim_tests.faults` runs them all and prints the table;
the default test run has the quick ones (the rest are marked slow).
"""

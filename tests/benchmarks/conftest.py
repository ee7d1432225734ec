# The load test is a script run by hand (it starts a server and runs for tens of seconds),
# not a pytest module.
collect_ignore = ["load_test.py", "hostile_load.py"]

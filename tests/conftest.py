pytest_plugins = ["cwmetrics_transports.testing.pytest_plugin"]

"""The meta-LOOCV protocol: its rules and settings, the method API, the sandbox that runs a method
without letting it see what it must predict, scoring, and the runner that puts them together."""

"""The built-in sandbox: a deterministic synthetic world served by an emulator of six APIs."""

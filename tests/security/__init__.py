"""The adversarial suite: one test per attack case."""

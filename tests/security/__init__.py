"""The adversarial suite: one test per attack case (issue 5, "Hostile input")."""

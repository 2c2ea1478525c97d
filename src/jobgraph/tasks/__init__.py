"""Execution: the Dramatiq broker, the wake-up actor, the executor and the plugin runners."""

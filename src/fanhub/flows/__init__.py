"""Automations: flows (a trigger, steps, an exit goal), their enrollments and the engine that advances them."""

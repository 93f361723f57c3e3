"""What every generator shares with the planner: the failure that skips a slot with its reason."""


class GenerationFailed(RuntimeError):
    """No usable draft for the slot; the message is the skip reason stored with the decision."""

"""The lab's panels, one widget each: loss, attention, gradient norms, inspector, status."""

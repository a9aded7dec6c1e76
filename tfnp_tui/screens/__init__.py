"""The lab's modal screens: help, the gradient check, and the reset question."""

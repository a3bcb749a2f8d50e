"""aihubd: a local daemon for Qualcomm AI Hub link jobs."""

__version__ = "0.1.0"

"""secinfo: security info, verification codes, step-up and recovery as a service."""

__version__ = "0.1.0"
